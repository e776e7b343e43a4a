"""The ingest pipeline on a real connector (MISO day-ahead), real DuckDB, SQLite and object store."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from marketintel.connectors.fetch import Fetcher
from marketintel.connectors.registry import connector
from marketintel.ingest.models import CommittedBatch
from marketintel.ingest.service import Ingestor
from marketintel.metadata import service as metadata
from marketintel.objects.service import ObjectStore
from marketintel.store.models import PRICES
from marketintel.store.service import TimeSeriesStore, open_timeseries
from tests.connectors.fixtures.miso.make_fixtures import report
from tests.connectors.localsource import Reply, local_source
from tests.helpers import run_cli

DAY = dt.date(2024, 11, 3)
NODES = 5  # in the MISO fixture generator


@dataclass
class Platform:
    store: TimeSeriesStore
    objects: ObjectStore
    metadata_url: str
    data_dir: Path

    def ingestor(self, base_url: str | None = None) -> Ingestor:
        return Ingestor(connector("miso-da", base_url), self.store, self.objects, self.metadata_url)

    def price_rows(self) -> int:
        return int(self.store.query(f"SELECT count(*) AS n FROM {PRICES.name}").column("n")[0].as_py())


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    url = f"sqlite:///{tmp_path / 'metadata.sqlite'}"
    metadata.upgrade(url)
    store = open_timeseries(f"duckdb:///{tmp_path / 'timeseries.duckdb'}")
    yield Platform(store, ObjectStore(f"file:///{tmp_path / 'objects'}"), url, tmp_path)
    store.close()


def miso_file(directory: Path, day: dt.date, seed: int = 1, edit: str | None = None) -> Path:
    text = report(day, "da_expost_lmp", seed)
    if edit is not None:
        text = edit
    path = directory / f"{day:%Y%m%d}_da_expost_lmp.csv"
    path.write_text(text)
    return path


def fast_fetcher() -> Fetcher:
    return Fetcher(requests_per_second=1000, attempts=2, backoff_initial=0.01, backoff_max=0.02, timeout=5)


def test_a_file_is_archived_written_and_its_locations_registered(platform: Platform, tmp_path: Path) -> None:
    path = miso_file(tmp_path, DAY)
    result = platform.ingestor().ingest_files([path])
    outcome = result.files[0]
    assert (outcome.status, outcome.rows, outcome.written) == ("written", NODES * 24, NODES * 24)
    assert outcome.archived_as is not None
    assert outcome.archived_as.startswith("raw/miso-da/")
    assert outcome.archived_as.endswith(path.name)
    assert platform.objects.get(outcome.archived_as) == path.read_bytes()
    read = platform.store.prices(
        market="MISO",
        run="DA",
        start=dt.datetime(2024, 11, 3, tzinfo=dt.UTC),
        end=dt.datetime(2024, 11, 5, tzinfo=dt.UTC),
    )
    assert set(read.column("source_file_sha256").to_pylist()) == {outcome.sha256}
    assert set(read.column("source").to_pylist()) == {"miso-da"}
    hubs = platform.store.instruments("MISO").to_pylist()
    assert {(i["location"], i["location_type"]) for i in hubs} >= {
        ("INDIANA.HUB", "hub"),
        ("AMIL.BGS6", "zone"),
    }
    with metadata.session_factory(metadata.engine_for(platform.metadata_url))() as session:
        assert len(metadata.list_instruments(session, "MISO")) == NODES


def test_reingesting_a_file_writes_nothing(platform: Platform, tmp_path: Path) -> None:
    path = miso_file(tmp_path, DAY)
    platform.ingestor().ingest_files([path])
    again = platform.ingestor().ingest_files([path])
    assert (again.files[0].status, again.files[0].written) == ("unchanged", 0)
    assert platform.price_rows() == NODES * 24


def test_a_corrected_file_is_a_revision_and_both_raw_files_are_kept(
    platform: Platform, tmp_path: Path
) -> None:
    original = miso_file(tmp_path, DAY)
    first = platform.ingestor().ingest_files([original]).files[0]
    lines = original.read_text().split("\n")
    # INDIANA.HUB's LMP row: raise HE 1 by $10 and its MCC by the same, so the file stays consistent
    lmp_row = next(i for i, line in enumerate(lines) if line.startswith("INDIANA.HUB,Hub,LMP,"))
    cells = lines[lmp_row].split(",")
    old_lmp = float(cells[3])
    cells[3] = f"{old_lmp + 10:.2f}"
    lines[lmp_row] = ",".join(cells)
    mcc_row = next(i for i, line in enumerate(lines) if line.startswith("INDIANA.HUB,Hub,MCC,"))
    cells = lines[mcc_row].split(",")
    cells[3] = f"{float(cells[3]) + 10:.2f}"
    lines[mcc_row] = ",".join(cells)
    corrected = miso_file(tmp_path, DAY, edit="\n".join(lines))
    second = platform.ingestor().ingest_files([corrected]).files[0]
    assert second.written == 1
    assert second.archived_as != first.archived_as
    assert platform.objects.get(first.archived_as or "") != platform.objects.get(second.archived_as or "")

    window = {
        "market": "MISO",
        "run": "DA",
        "locations": ["INDIANA.HUB"],
        "start": dt.datetime(2024, 11, 3, 5, tzinfo=dt.UTC),
        "end": dt.datetime(2024, 11, 3, 6, tzinfo=dt.UTC),
    }
    assert platform.store.prices(**window).column("lmp").to_pylist() == [pytest.approx(old_lmp + 10)]
    learned_first = (
        platform.store.query(f"SELECT min(knowledge_time) AS t FROM {PRICES.name}").column("t")[0].as_py()
    )
    assert platform.store.prices(**window, as_of=learned_first).column("lmp").to_pylist() == [old_lmp]


def test_a_malformed_file_is_quarantined_and_the_others_go_in(platform: Platform, tmp_path: Path) -> None:
    good = miso_file(tmp_path, DAY)
    broken_text = report(dt.date(2024, 11, 4), "da_expost_lmp", 2).replace(",LMP,", ",LMP,abc", 1)
    broken = tmp_path / "20241104_da_expost_lmp.csv"
    broken.write_text(broken_text)
    later = miso_file(tmp_path, dt.date(2024, 11, 5))

    platform.store.close()  # DuckDB: one process writes at a time
    result = run_cli(
        platform.data_dir,
        "ingest",
        "miso-da",
        "--file",
        str(good),
        "--file",
        str(broken),
        "--file",
        str(later),
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "2 written, 1 quarantined" in result.stdout

    platform.store = open_timeseries(f"duckdb:///{platform.data_dir / 'timeseries.duckdb'}")
    assert platform.price_rows() == 2 * NODES * 24
    objects = ObjectStore(f"file:///{platform.data_dir / 'objects'}")
    quarantined = [k for k in objects.keys("raw/quarantine") if k.endswith(".csv")]
    assert quarantined == [k for k in quarantined if k.endswith("20241104_da_expost_lmp.csv")]
    assert len(quarantined) == 1
    reason = json.loads(objects.get(quarantined[0] + ".reason.json"))
    assert reason["file"] == "20241104_da_expost_lmp.csv"
    assert "line 6" in reason["reason"] or ":6" in reason["reason"]
    assert objects.get(quarantined[0]) == broken.read_bytes()


def test_files_parsed_ahead_keep_their_order_and_each_its_own_outcome(
    platform: Platform, tmp_path: Path
) -> None:
    # each file is parsed while the one before it is written: outcomes, rows and quarantine stay per file
    days = [DAY + dt.timedelta(days=i) for i in range(4)]
    paths = [miso_file(tmp_path, day, seed=i + 1) for i, day in enumerate(days)]
    paths[2].write_text(paths[2].read_text().replace(",LMP,", ",LMP,abc", 1))
    missing = tmp_path / "20241110_da_expost_lmp.csv"
    result = platform.ingestor().ingest_files([paths[0], missing, paths[1], paths[2], paths[3]])
    assert [(f.name, f.status) for f in result.files] == [
        (paths[0].name, "written"),
        (missing.name, "failed"),
        (paths[1].name, "written"),
        (paths[2].name, "quarantined"),
        (paths[3].name, "written"),
    ]
    assert [f.written for f in result.files] == [NODES * 24, 0, NODES * 24, 0, NODES * 24]
    assert platform.price_rows() == 3 * NODES * 24
    assert ":6" in (result.files[3].error or "")


def serve_days(source, days: list[dt.date]) -> None:  # type: ignore[no-untyped-def]
    for i, day in enumerate(days):
        source.serve(f"/{day:%Y%m%d}_da_expost_lmp.csv", report(day, "da_expost_lmp", i).encode())


def test_a_window_moves_the_checkpoint_and_resumes_from_it(platform: Platform) -> None:
    days = [DAY + dt.timedelta(days=i) for i in range(3)]
    with local_source() as source:
        serve_days(source, days)
        ingestor = platform.ingestor(source.base_url)
        first = ingestor.ingest_window(days[0], days[0] + dt.timedelta(days=5), fast_fetcher())
        assert first.ok
        assert first.checkpoint == days[2].isoformat()  # day 4 is not published: the run stops there
        assert ingestor.checkpoint() == days[2]
        assert platform.price_rows() == 3 * NODES * 24

        source.requests.clear()
        fourth = days[2] + dt.timedelta(days=1)
        serve_days(source, [*days, fourth])
        second = ingestor.ingest_window(days[0], days[0] + dt.timedelta(days=5), fast_fetcher())
        assert source.requests[0] == f"/{fourth:%Y%m%d}_da_expost_lmp.csv"  # resumed, not restarted
        assert second.checkpoint == fourth.isoformat()
        assert platform.price_rows() == 4 * NODES * 24


def test_a_failed_day_holds_the_checkpoint_until_it_succeeds(platform: Platform) -> None:
    days = [DAY + dt.timedelta(days=i) for i in range(3)]
    with local_source() as source:
        serve_days(source, days)
        source.serve(f"/{days[1]:%Y%m%d}_da_expost_lmp.csv", Reply(503))
        ingestor = platform.ingestor(source.base_url)
        report_ = ingestor.ingest_window(days[0], days[2] + dt.timedelta(days=1), fast_fetcher())
        assert not report_.ok
        assert [f.status for f in report_.files] == ["written", "failed", "written"]
        assert ingestor.checkpoint() == days[0]

        serve_days(source, days)
        retry = ingestor.ingest_window(days[0], days[2] + dt.timedelta(days=1), fast_fetcher())
        assert retry.ok
        assert [f.status for f in retry.files] == ["written", "unchanged"]
        assert ingestor.checkpoint() == days[2]
        assert platform.price_rows() == 3 * NODES * 24


def test_listeners_hear_each_committed_batch_and_cannot_break_ingestion(
    platform: Platform, tmp_path: Path
) -> None:
    heard: list[CommittedBatch] = []

    def broken(batch: CommittedBatch) -> None:
        raise RuntimeError("subscriber down")

    ingestor = Ingestor(
        connector("miso-da"),
        platform.store,
        platform.objects,
        platform.metadata_url,
        listeners=[broken, heard.append],
    )
    path = miso_file(tmp_path, DAY)
    first = ingestor.ingest_files([path])
    again = ingestor.ingest_files([path])
    assert first.ok
    assert again.ok
    assert [(b.file, b.written.num_rows, b.facts.num_rows) for b in heard] == [
        (path.name, NODES * 24, NODES * 24),
        (path.name, 0, NODES * 24),
    ]
    assert heard[0].market == "MISO"
    assert heard[0].sha256 == first.files[0].sha256
    assert platform.price_rows() == NODES * 24
