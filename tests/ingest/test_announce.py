"""Listeners hear of every committed batch, even when the run dies between the store commit and them.

A run killed right after a batch committed (tests/ingest/die_after_commit.py) has written the rows but put
no event in the bus outbox. The next run of that source announces them: a re-ingest of the same file writes
0 rows, so without this the bus would never carry them.
"""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy import select

from marketintel.bus.memory import MemoryBus
from marketintel.bus.models import decode_prices
from marketintel.bus.service import BusPublisher
from marketintel.connectors.registry import connector
from marketintel.ingest.models import CommittedBatch
from marketintel.ingest.service import Ingestor
from marketintel.metadata import service as metadata
from marketintel.metadata.models import BatchInFlight, OutboxEvent
from marketintel.objects.service import ObjectStore
from marketintel.store.models import PRICES
from marketintel.store.service import TimeSeriesStore, open_timeseries
from tests.connectors.fixtures.miso.make_fixtures import report

DAY = dt.date(2024, 11, 3)  # the fall-back day: MISO's EST hours still make 24 of them
NODES = 5
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Resumed:
    ingestor: Ingestor
    store: TimeSeriesStore
    bus: MemoryBus
    heard: list[CommittedBatch]
    metadata_url: str


def miso_day(directory: Path, day: dt.date, seed: int) -> Path:
    path = directory / f"{day:%Y%m%d}_da_expost_lmp.csv"
    path.write_text(report(day, "da_expost_lmp", seed))
    return path


def die_after_commit(data: Path, *files: Path) -> None:
    killed = subprocess.run(
        [sys.executable, "-m", "tests.ingest.die_after_commit", str(data), "miso-da", *map(str, files)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr


def in_flight(metadata_url: str) -> list[tuple[str, str]]:
    with metadata.session_factory(metadata.engine_for(metadata_url))() as session:
        return [(b.source, b.file) for b in session.scalars(select(BatchInFlight))]


def outbox_subjects(metadata_url: str) -> list[str]:
    with metadata.session_factory(metadata.engine_for(metadata_url))() as session:
        return list(session.scalars(select(OutboxEvent.subject).order_by(OutboxEvent.id)))


@pytest.fixture
def resumed(tmp_path: Path) -> Iterator[Resumed]:
    """What the next run opens on the killed run's data directory: the store, the outbox, a bus."""
    metadata_url = f"sqlite:///{tmp_path / 'metadata.sqlite'}"
    metadata.upgrade(metadata_url)
    store = open_timeseries(f"duckdb:///{tmp_path / 'timeseries.duckdb'}")
    bus, heard = MemoryBus(), []
    publisher = BusPublisher(bus, metadata_url)
    objects = ObjectStore(f"file:///{tmp_path / 'objects'}")
    ingestor = Ingestor(connector("miso-da"), store, objects, metadata_url, [publisher, heard.append])
    yield Resumed(ingestor, store, bus, heard, metadata_url)
    publisher.close()
    store.close()


def by_key(table: pa.Table) -> pa.Table:
    return table.sort_by([("location", "ascending"), ("run", "ascending"), ("interval_start", "ascending")])


def test_a_batch_committed_by_a_killed_run_is_announced_by_the_next(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    first = miso_day(inbox, DAY, seed=1)
    die_after_commit(tmp_path, first)

    # opened only now: the killed run had to have the DuckDB file to itself
    resume: Resumed = request.getfixturevalue("resumed")
    # the killed run committed the day and left it in flight; no event reached the outbox
    stored = resume.store.query(f"SELECT * FROM {PRICES.name}")
    assert stored.num_rows == NODES * 24
    assert in_flight(resume.metadata_url) == [("miso-da", first.name)]
    assert outbox_subjects(resume.metadata_url) == []

    subscription = resume.bus.subscribe("prices.MISO.>")
    second = miso_day(inbox, DAY + dt.timedelta(days=1), seed=2)
    result = resume.ingestor.ingest_files([first, second])
    assert [(f.name, f.status, f.written) for f in result.files] == [
        (first.name, "unchanged", 0),  # already in the store: the re-ingest writes nothing…
        (second.name, "written", NODES * 24),
    ]
    # …yet the killed run's rows are announced first, then the new file's
    assert [(b.file, b.written.num_rows, b.facts.num_rows) for b in resume.heard] == [
        (first.name, NODES * 24, NODES * 24),
        (first.name, 0, NODES * 24),
        (second.name, NODES * 24, NODES * 24),
    ]
    recovered = resume.heard[0]
    assert by_key(recovered.written).equals(by_key(stored.select(PRICES.columns).cast(PRICES.schema)))
    assert by_key(recovered.facts).equals(by_key(recovered.written))
    events = [subscription.get(timeout=1) for _ in range(2)]
    assert [e.event.subject for e in events if e is not None] == ["prices.MISO.DA", "prices.MISO.DA"]
    assert events[0] is not None
    assert by_key(decode_prices(events[0].event)).equals(by_key(recovered.written))
    assert outbox_subjects(resume.metadata_url) == ["prices.MISO.DA", "prices.MISO.DA"]
    assert in_flight(resume.metadata_url) == []

    # announced once: a further run has nothing left to tell
    again = resume.ingestor.ingest_files([first])
    assert again.files[0].status == "unchanged"
    assert subscription.get(timeout=0.2) is None
    assert len(outbox_subjects(resume.metadata_url)) == 2


def test_a_batch_that_never_reached_the_store_is_forgotten_not_announced(resumed: Resumed) -> None:
    # what a run killed inside the store write leaves: the batch in flight, none of its rows committed
    with metadata.session_factory(metadata.engine_for(resumed.metadata_url))() as session:
        metadata.begin_batch(
            session, "miso-da", "20241103_da_expost_lmp.csv", "f" * 64, dt.datetime.now(dt.UTC), "raw/gone"
        )
        session.commit()
    assert resumed.ingestor.announce_unfinished() == 0
    assert resumed.heard == []
    assert in_flight(resumed.metadata_url) == []
    assert outbox_subjects(resumed.metadata_url) == []


def test_written_and_refused_batches_leave_nothing_in_flight(resumed: Resumed, tmp_path: Path) -> None:
    good = miso_day(tmp_path, DAY, seed=1)
    restated = tmp_path / "restated" / good.name
    restated.parent.mkdir()
    # the same hours with other prices under the same knowledge time: the store refuses the batch whole
    restated.write_text(report(DAY, "da_expost_lmp", 7))
    when = dt.datetime(2024, 11, 5, tzinfo=dt.UTC)
    assert resumed.ingestor.ingest_files([good], knowledge_time=when).files[0].status == "written"
    refused = resumed.ingestor.ingest_files([restated], knowledge_time=when).files[0]
    assert refused.status == "quarantined"
    assert "different value" in (refused.error or "")
    assert in_flight(resumed.metadata_url) == []
    assert [b.written.num_rows for b in resumed.heard] == [NODES * 24]
