"""Price events (encoding, subjects, message ids) and the ingest glue: committed batch → outbox → bus,
with the bus up, down and back; end to end through the real Ingestor."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from marketintel.bus.memory import MemoryBus
from marketintel.bus.models import (
    ARROW,
    JSON,
    MSG_ID_HEADER,
    SCHEMA_HEADER,
    Event,
    decode_prices,
    encode_prices,
)
from marketintel.bus.nats import NatsBus
from marketintel.bus.service import BusPublisher, drain_outbox, open_bus, outbox_event
from marketintel.cli import bus_cmd
from marketintel.config import ConfigError
from marketintel.connectors.registry import connector
from marketintel.ingest.models import CommittedBatch
from marketintel.ingest.service import Ingestor
from marketintel.metadata import service as metadata
from marketintel.metadata.models import OutboxEvent
from marketintel.objects.service import ObjectStore
from marketintel.store.models import PRICES
from marketintel.store.service import open_timeseries
from tests.bus import (
    SilentServer,
    nats_bus,
    nats_reachable_or_skip,
    price_rows,
    unique_nats_url,
    unreachable,
)
from tests.connectors.fixtures.miso.make_fixtures import report


def by_key(table: pa.Table) -> pa.Table:
    return table.sort_by(
        [
            ("market", "ascending"),
            ("run", "ascending"),
            ("location", "ascending"),
            ("interval_start", "ascending"),
        ]
    )


def batch(rows: pa.Table, file: str = "f.csv") -> CommittedBatch:
    sha = rows.column("source_file_sha256")[0].as_py() if rows.num_rows else "00" * 32
    return CommittedBatch("miso-da", "MISO", file, sha, rows, rows, dt.datetime.now(dt.UTC))


@pytest.fixture
def metadata_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'metadata.sqlite'}"
    metadata.upgrade(url)
    return url


def outbox(url: str) -> list[OutboxEvent]:
    with metadata.session_factory(metadata.engine_for(url))() as session:
        return list(session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)))


# --- encoding -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("format", "content_type"), [("arrow", ARROW), ("json", JSON)])
def test_events_round_trip_the_written_rows_one_per_market_and_run(format: str, content_type: str) -> None:
    written = pa.concat_tables(
        [
            price_rows("MISO", "RT5", seed=1),
            price_rows("ERCOT", "RT5", seed=2),
            price_rows("MISO", "DA", seed=3),
        ]
    )
    events = encode_prices(written, format)  # type: ignore[arg-type]
    assert [e.subject for e in events] == ["prices.ERCOT.RT5", "prices.MISO.DA", "prices.MISO.RT5"]
    assert {(e.content_type, e.schema_version, e.headers[SCHEMA_HEADER]) for e in events} == {
        (content_type, 1, "1")
    }
    decoded = pa.concat_tables([decode_prices(e) for e in events])
    assert decoded.schema.equals(PRICES.schema)
    assert by_key(decoded).equals(by_key(written))
    for e in events:  # each event holds its group's rows, in their written order
        _, market, run = e.subject.split(".")
        mask = pc.and_(pc.equal(written.column("market"), market), pc.equal(written.column("run"), run))
        assert decode_prices(e).equals(written.filter(mask))


def test_json_events_are_compact_columns_with_utc_iso_timestamps() -> None:
    [event] = encode_prices(price_rows(locations=1, hours=2), "json")
    doc = orjson.loads(event.payload)
    assert event.payload == orjson.dumps(doc)  # no whitespace
    assert doc["schema_version"] == 1
    assert doc["rows"] == 2
    assert doc["columns"]["interval_start"] == ["2024-11-03T05:00:00Z", "2024-11-03T06:00:00Z"]
    assert doc["columns"]["knowledge_time"] == ["2024-11-02T17:30:00.123456Z"] * 2
    assert doc["columns"]["location"] == ["MISO.NODE000"] * 2
    assert list(doc["columns"]) == PRICES.columns


def test_a_group_too_large_for_one_message_is_split_in_order() -> None:
    rows = price_rows(locations=40, hours=24)
    for format in ("arrow", "json"):
        events = encode_prices(rows, format, max_payload=20_000)  # type: ignore[arg-type]
        assert len(events) > 1
        assert all(len(e.payload) <= 20_000 for e in events)
        assert {e.subject for e in events} == {"prices.MISO.DA"}
        assert len({e.message_id for e in events}) == len(events)
        assert pa.concat_tables([decode_prices(e) for e in events]).equals(rows)


def test_message_ids_are_a_digest_of_file_subject_and_rows() -> None:
    rows = price_rows()
    [arrow] = encode_prices(rows)
    [again] = encode_prices(price_rows())
    [json] = encode_prices(rows, "json")
    assert arrow.headers[MSG_ID_HEADER] == again.message_id == json.message_id  # the rows, not their encoding
    assert len(arrow.message_id or "") == 64
    [other_file] = encode_prices(price_rows(file_sha="cd" * 32))
    [later] = encode_prices(price_rows(knowledge_time=dt.datetime(2024, 11, 4, tzinfo=dt.UTC)))
    [revised] = encode_prices(rows.set_column(5, "lmp", pc.add(rows.column("lmp"), 0.01)))
    assert len({arrow.message_id, other_file.message_id, later.message_id, revised.message_id}) == 4
    # what an outbox drain re-publishes carries the very same id
    row = OutboxEvent(
        subject=arrow.subject, payload=arrow.payload, content_type=arrow.content_type, schema_version=1
    )
    assert outbox_event(row).headers == arrow.headers


def test_events_of_another_version_or_type_are_refused() -> None:
    [event] = encode_prices(price_rows())
    with pytest.raises(ValueError, match="schema version 2"):
        decode_prices(Event(event.subject, event.payload, event.content_type, schema_version=2))
    with pytest.raises(ValueError, match="unknown content type"):
        decode_prices(Event(event.subject, event.payload, "text/csv"))
    with pytest.raises(ValueError, match="not an Arrow IPC stream"):
        decode_prices(Event(event.subject, b"garbage", ARROW))
    with pytest.raises(ValueError, match="unknown event format"):
        encode_prices(price_rows(), "csv")  # type: ignore[arg-type]
    assert encode_prices(PRICES.schema.empty_table()) == []


def test_open_bus_by_scheme() -> None:
    assert isinstance(open_bus("memory://"), MemoryBus)
    assert open_bus("memory://") is open_bus("memory://")  # ingestion and an in-process gateway meet on it
    bus = open_bus("nats://127.0.0.1:4222?stream=S1&prefix=p1")  # connects on first use, not here
    try:
        assert isinstance(bus, NatsBus)
        assert (bus.stream, bus.prefix, bus.servers) == ("S1", "p1", "nats://127.0.0.1:4222")
    finally:
        bus.close()
    with pytest.raises(ConfigError, match="MARKETINTEL_BUS_URL='kafka://x:9092': scheme must be"):
        open_bus("kafka://x:9092")
    with pytest.raises(ConfigError, match=r"MARKETINTEL_BUS_URL=.*unknown option"):
        open_bus("nats://127.0.0.1:4222?streem=X")


# --- the publisher and its outbox ------------------------------------------------------------------------


def test_with_the_bus_up_a_batch_is_published_at_once_and_marked(metadata_url: str) -> None:
    bus = MemoryBus()
    subscription = bus.subscribe("prices.>")
    publisher = BusPublisher(bus, metadata_url)
    rows = pa.concat_tables([price_rows("MISO", "DA"), price_rows("MISO", "RT5")])
    publisher(batch(rows))
    got = [subscription.get(timeout=0) for _ in range(2)]
    assert [r.event.subject for r in got if r] == ["prices.MISO.DA", "prices.MISO.RT5"]
    assert subscription.get(timeout=0) is None
    kept = outbox(metadata_url)
    assert [(e.subject, e.attempts, e.last_error) for e in kept] == [
        ("prices.MISO.DA", 1, None),
        ("prices.MISO.RT5", 1, None),
    ]
    assert all(e.published_at is not None for e in kept)
    publisher(batch(PRICES.schema.empty_table()))  # nothing written: nothing published
    assert subscription.get(timeout=0) is None
    assert len(outbox(metadata_url)) == 2
    publisher.close()


def test_with_the_bus_down_events_wait_in_the_outbox_and_a_drain_publishes_them_once_in_order(
    metadata_url: str,
) -> None:
    nats_reachable_or_skip()
    url = unique_nats_url()
    batches = [
        batch(price_rows("MISO", "DA", seed=1, file_sha="01" * 32), "a.csv"),
        batch(price_rows("MISO", "RT5", seed=2, file_sha="02" * 32), "b.csv"),
        batch(price_rows("ERCOT", "RT5", seed=3, file_sha="03" * 32), "c.csv"),
    ]
    with NatsBus.from_url(unreachable(url)) as down:
        publisher = BusPublisher(down, metadata_url)
        for committed in batches:  # as the Ingestor calls it, after each store commit
            started = time.perf_counter()
            publisher(committed)  # does not raise
            assert time.perf_counter() - started < 1.5
        publisher.close()
    pending = outbox(metadata_url)
    assert [e.subject for e in pending] == ["prices.MISO.DA", "prices.MISO.RT5", "prices.ERCOT.RT5"]
    assert all(e.published_at is None and e.attempts >= 1 for e in pending)
    assert all("unreachable" in (e.last_error or "") for e in pending)
    assert pending[0].attempts == 3  # tried again at each of the three batches
    expected_ids = [outbox_event(e).message_id for e in pending]

    with nats_bus(url) as up:
        report = drain_outbox(up, metadata_url)
        assert (report.published, report.duplicates, report.rejected, report.pending, report.error) == (
            3,
            0,
            0,
            0,
            None,
        )
        assert all(e.published_at is not None for e in outbox(metadata_url))
        assert drain_outbox(up, metadata_url).published == 0  # nothing left to publish

        # a publish whose mark was lost (a crash before the commit) goes again, and JetStream drops it
        with metadata.session_factory(metadata.engine_for(metadata_url))() as session:
            session.execute(
                update(OutboxEvent).where(OutboxEvent.id == pending[1].id).values(published_at=None)
            )
            session.commit()
        again = drain_outbox(up, metadata_url)
        assert (again.published, again.duplicates, again.pending) == (1, 1, 0)

        with up.subscribe("prices.>") as subscription:
            received = list(iter(lambda: subscription.get(timeout=1.0), None))
        assert [r.event.message_id for r in received] == expected_ids  # in outbox order, each once
        assert [r.event.subject for r in received] == [e.subject for e in pending]
        for r, committed in zip(received, batches, strict=True):
            assert decode_prices(r.event).equals(committed.written)


def test_a_hung_bus_holds_ingestion_no_longer_than_the_publisher_budget(metadata_url: str) -> None:
    server = SilentServer()  # accepts connections, never acks
    try:
        with NatsBus(server.url) as hung:
            publisher = BusPublisher(hung, metadata_url, budget=1.0)
            started = time.perf_counter()
            publisher(batch(price_rows()))
            elapsed = time.perf_counter() - started
            publisher.close()
    finally:
        server.close()
    assert elapsed < 1.6
    [pending] = outbox(metadata_url)
    assert (pending.published_at, pending.attempts) == (None, 1)
    assert "no answer within" in (pending.last_error or "")


def test_the_drain_command_publishes_the_backlog_and_tail_prints_it(
    metadata_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    nats_reachable_or_skip()
    url = unique_nats_url()
    with NatsBus.from_url(unreachable(url)) as down:
        publisher = BusPublisher(down, metadata_url)
        publisher(batch(price_rows("MISO", "DA")))
        publisher(batch(price_rows("PJM", "RT5", locations=2)))
        publisher.close()
    monkeypatch.setenv("MARKETINTEL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MARKETINTEL_METADATA_URL", metadata_url)
    monkeypatch.setenv("MARKETINTEL_BUS_URL", url)
    runner = CliRunner()
    with nats_bus(url):  # deletes the stream at the end
        drained = runner.invoke(bus_cmd.app, ["drain"])
        assert drained.exit_code == 0, drained.output
        assert "2 published (0 already on the bus), 0 rejected, 0 pending" in drained.output
        tailed = runner.invoke(bus_cmd.app, ["tail", "prices.>", "--all", "--count", "2", "--timeout", "10"])
        assert tailed.exit_code == 0, tailed.output
        lines = tailed.output.strip().splitlines()
        assert [line.split()[0] for line in lines] == ["prices.MISO.DA", "prices.PJM.RT5"]
        assert "72 rows  3 location(s)  2024-11-03T05:00Z … 2024-11-04T04:00Z" in lines[0]
        # published events are history: --prune-hours deletes those older than that
        with metadata.session_factory(metadata.engine_for(metadata_url))() as session:
            two_days_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
            session.execute(update(OutboxEvent).where(OutboxEvent.id == 1).values(published_at=two_days_ago))
            session.commit()
        pruned = runner.invoke(bus_cmd.app, ["drain", "--prune-hours", "24"])
        assert pruned.exit_code == 0, pruned.output
        assert "0 pending; 1 published event(s) pruned" in pruned.output
        assert [e.subject for e in outbox(metadata_url)] == ["prices.PJM.RT5"]
    monkeypatch.setenv("MARKETINTEL_BUS_URL", "memory://")
    refused = runner.invoke(bus_cmd.app, ["drain"])
    assert refused.exit_code == 2
    assert "in-process" in refused.output


# --- end to end: the real Ingestor ----------------------------------------------------------------------


@pytest.fixture
def ingestor(tmp_path: Path, metadata_url: str) -> Iterator[tuple[Ingestor, MemoryBus, list[CommittedBatch]]]:
    store = open_timeseries(f"duckdb:///{tmp_path / 'timeseries.duckdb'}")
    bus = MemoryBus()
    committed: list[CommittedBatch] = []
    publisher = BusPublisher(bus, metadata_url)
    listeners = [publisher, committed.append]
    yield (
        Ingestor(
            connector("miso-da"),
            store,
            ObjectStore(f"file:///{tmp_path / 'objects'}"),
            metadata_url,
            listeners,
        ),
        bus,
        committed,
    )
    publisher.close()
    store.close()


def test_an_ingested_file_is_one_event_and_a_reingest_none(
    ingestor: tuple[Ingestor, MemoryBus, list[CommittedBatch]], tmp_path: Path, metadata_url: str
) -> None:
    ingest, bus, committed = ingestor
    subscription = bus.subscribe("prices.MISO.>")
    day = dt.date(2024, 11, 3)
    path = tmp_path / f"{day:%Y%m%d}_da_expost_lmp.csv"
    path.write_text(report(day, "da_expost_lmp", 1))
    assert ingest.ingest_files([path]).files[0].status == "written"
    received = subscription.get(timeout=0)
    assert received is not None
    assert subscription.get(timeout=0) is None
    assert received.event.subject == "prices.MISO.DA"
    rows = decode_prices(received.event)
    assert rows.num_rows == 5 * 24
    assert by_key(rows).equals(by_key(committed[0].facts))  # the file's rows, every one
    assert set(rows.column("source_file_sha256").to_pylist()) == {committed[0].sha256}

    assert ingest.ingest_files([path]).files[0].status == "unchanged"
    assert subscription.get(timeout=0.2) is None  # nothing written, nothing published
    assert len(outbox(metadata_url)) == 1
