"""The quality monitor on real DuckDB and SQLite: as an ingest listener on the MISO connector, on
committed CAISO batches, and behind `marketintel quality report`."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal
from prometheus_client import CollectorRegistry
from rich.console import Console
from typer.testing import CliRunner

from marketintel.cli import quality_cmd
from marketintel.connectors.registry import connector
from marketintel.ingest.models import CommittedBatch
from marketintel.ingest.service import Ingestor
from marketintel.metadata import service as metadata
from marketintel.objects.service import ObjectStore
from marketintel.quality import checks
from marketintel.quality.metrics import QualityMetrics
from marketintel.quality.service import QualityMonitor, RecordedCheck, history_stats
from marketintel.store.models import INSTRUMENTS_SCHEMA
from marketintel.store.service import TimeSeriesStore, open_timeseries
from tests.connectors.fixtures.miso.make_fixtures import report
from tests.quality.test_checks import day_prices, without

UTC = dt.UTC
DAY = dt.date(2024, 11, 3)
NODES = 5  # in the MISO fixture generator
# 10:00 EST on DAY: MISO's DA for DAY (ending Nov 4 05:00Z) is due, the next day's not yet
NOW = dt.datetime(2024, 11, 3, 15, 0, tzinfo=UTC)
SP15 = "TH_SP15_GEN-APND"
# the CAISO fall-back day (300 five-minute intervals) ends at Nov 4 08:00Z
CAISO_END = dt.datetime(2024, 11, 4, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class Platform:
    store: TimeSeriesStore
    objects: ObjectStore
    metadata_url: str
    data_dir: Path
    metrics: QualityMetrics
    clock: Clock

    def monitor(self, **options: object) -> QualityMonitor:
        return QualityMonitor(
            self.store,
            self.metadata_url,
            now=self.clock,
            metrics=self.metrics,
            **options,  # type: ignore[arg-type]
        )

    def ingestor(self, monitor: QualityMonitor) -> Ingestor:
        return Ingestor(
            connector("miso-da"), self.store, self.objects, self.metadata_url, listeners=[monitor]
        )

    def gauge(self, name: str, **labels: str) -> float | None:
        return self.metrics.registry.get_sample_value(f"marketintel_quality_{name}", labels)


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    # the file names `marketintel` derives from MARKETINTEL_DATA_DIR, so the CLI test finds them
    url = f"sqlite:///{tmp_path / 'metadata.sqlite'}"
    metadata.upgrade(url)
    store = open_timeseries(f"duckdb:///{tmp_path / 'timeseries.duckdb'}")
    metrics = QualityMetrics(CollectorRegistry())
    yield Platform(store, ObjectStore(f"file:///{tmp_path / 'objects'}"), url, tmp_path, metrics, Clock(NOW))
    store.close()


def miso_file(
    directory: Path, day: dt.date, seed: int, lmp: Mapping[tuple[str, int], float] | None = None
) -> Path:
    """A MISO day-ahead file, with some (node, hour ending) LMPs replaced (energy is their residual)."""
    lines = report(day, "da_expost_lmp", seed).split("\n")
    for (node, hour_ending), value in (lmp or {}).items():
        row = next(i for i, line in enumerate(lines) if line.startswith(f"{node},Hub,LMP,"))
        cells = lines[row].split(",")
        cells[2 + hour_ending] = f"{value:.2f}"
        lines[row] = ",".join(cells)
    path = directory / f"{day:%Y%m%d}_da_expost_lmp.csv"
    path.write_text("\n".join(lines))
    return path


def by_check(rows: list[RecordedCheck], scope: str | None = None) -> dict[str, RecordedCheck]:
    return {r.check: r for r in rows if scope is None or r.scope == scope}


def caiso_day(learned: dt.datetime, missing: int = 3) -> pa.Table:
    """SP15's five-minute prices of the fall-back day, less `missing` intervals from the repeated hour."""
    full = day_prices("CAISO", "RT5", DAY, 5, [SP15], learned=learned, source="caiso-oasis")
    lost = [dt.datetime(2024, 11, 3, 9, 0, tzinfo=UTC) + dt.timedelta(minutes=5 * i) for i in range(missing)]
    return without(full, SP15, lost)


def commit(platform: Platform, table: pa.Table, name: str = "PRC_INTVL_LMP_20241103.csv") -> CommittedBatch:
    """Write a batch as ingestion would, and the event it would send its listeners."""
    locations = sorted(set(table.column("location").to_pylist()))
    platform.store.register_instruments(
        pa.Table.from_pylist(
            [
                {
                    "market": "CAISO",
                    "location": loc,
                    "location_type": "hub",
                    "timezone": "America/Los_Angeles",
                    "currency": "USD",
                    "unit": "USD/MWh",
                    "name": None,
                }
                for loc in locations
            ],
            schema=INSTRUMENTS_SCHEMA,
        )
    )
    written = platform.store.write_prices(table)
    assert written.rows is not None
    source = table.column("source")[0].as_py()
    return CommittedBatch(source, "CAISO", name, "0" * 64, table, written.rows, platform.clock())


def alerts(caplog: pytest.LogCaptureFixture, message: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == message]


# --- as an ingest listener --------------------------------------------------------------------------


def test_an_ingested_file_is_checked_recorded_and_exported(platform: Platform, tmp_path: Path) -> None:
    monitor = platform.monitor()
    path = miso_file(tmp_path, DAY, seed=1)
    result = platform.ingestor(monitor).ingest_files([path], knowledge_time=NOW - dt.timedelta(hours=1))
    assert result.ok

    rows = monitor.report()
    batch = by_check(rows, f"file:{path.name}")
    assert sorted(batch) == ["completeness", "duplicates", "gaps", "out_of_range", "spikes"]
    source = by_check(rows, "source")
    assert sorted(source) == ["freshness", "stale"]
    assert all(r.passed for r in rows), [r for r in rows if not r.passed]
    assert {(r.source, r.market, r.run, r.checked_at) for r in rows} == {("miso-da", "MISO", "DA", NOW)}
    assert batch["completeness"].value == 1.0
    assert batch["completeness"].details == {"expect": "day", "expected": NODES * 24, "present": NODES * 24}
    assert batch["spikes"].details["unjudged_locations"] == NODES  # no history yet
    # the file's last hour ends Nov 4 05:00Z, 14 h after NOW; before 15:00 EST that is all that is due
    assert source["freshness"].value == -14 * 3600
    assert source["stale"].value == 3600

    labels = {"source": "miso-da", "market": "MISO", "run": "DA"}
    assert platform.gauge("completeness_ratio", **labels) == 1.0
    assert platform.gauge("gaps", **labels) == 0.0
    assert platform.gauge("spikes", **labels) == 0.0
    assert platform.gauge("freshness_seconds", **labels) == -14 * 3600
    assert platform.gauge("seconds_since_new_interval", **labels) == 3600
    assert platform.gauge("gate_failed", **labels, check="completeness") == 0.0
    assert platform.gauge("gate_failed", **labels, check="freshness") == 0.0
    assert platform.gauge("last_checked_timestamp_seconds", **labels) == NOW.timestamp()


def test_a_spike_is_found_against_a_week_in_the_store_despite_an_earlier_outlier(
    platform: Platform, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monitor = platform.monitor(source_checks=False)
    ingestor = platform.ingestor(monitor)
    week = [DAY - dt.timedelta(days=7 - i) for i in range(7)]
    for i, day in enumerate(week):
        outlier = {("INDIANA.HUB", 10): 3_000.0} if i == 2 else {}
        assert ingestor.ingest_files([miso_file(tmp_path, day, seed=i + 1, lmp=outlier)]).ok
    caplog.clear()
    caplog.set_level(logging.WARNING)
    path = miso_file(tmp_path, DAY, seed=9, lmp={("INDIANA.HUB", 6): 900.0})
    assert ingestor.ingest_files([path]).ok

    spikes = by_check(monitor.report(), f"file:{path.name}")["spikes"]
    assert (spikes.value, spikes.passed) == (1.0, False)  # the other 119 prices of the day are ordinary
    (spike,) = spikes.details["spikes"]  # type: ignore[index]
    # HE 6 EST starts at 10:00Z
    assert (spike["location"], spike["interval_start"], spike["lmp"]) == (
        "INDIANA.HUB",
        "2024-11-03T10:00:00Z",
        900.0,
    )
    assert spikes.details["unjudged_locations"] == 0  # type: ignore[index]
    (warning,) = alerts(caplog, "quality check failed")  # a spike is a finding, not an incident
    assert (warning.levelno, warning.check) == (logging.WARNING, "spikes")  # type: ignore[attr-defined]
    assert alerts(caplog, "quality gate failed") == []

    # the store's SQL statistics are the polars ones
    start = dt.datetime(2024, 10, 27, 5, tzinfo=UTC)
    end = dt.datetime(2024, 11, 3, 5, tzinfo=UTC)
    in_sql = history_stats(platform.store, "MISO", "DA", start, end).sort("location")
    in_polars = checks.robust_stats(platform.store.prices(market="MISO", run="DA", start=start, end=end))
    assert in_sql.height == NODES
    columns = ["location", "median", "mad", "n"]
    assert_frame_equal(in_sql.select(columns), in_polars.sort("location").select(columns), check_dtypes=False)


def test_the_monitor_never_raises_into_ingestion(
    platform: Platform, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    unmigrated = f"sqlite:///{tmp_path / 'no-tables.sqlite'}"  # recording will fail
    monitor = QualityMonitor(platform.store, unmigrated, now=platform.clock, metrics=platform.metrics)
    result = platform.ingestor(monitor).ingest_files([miso_file(tmp_path, DAY, seed=1)])
    assert result.ok
    assert result.rows_written == NODES * 24
    (failure,) = alerts(caplog, "quality monitor failed")
    assert failure.exc_info is not None
    assert "quality_checks" in str(failure.exc_info[1])
    assert alerts(caplog, "batch listener failed") == []  # it never reached the ingestor
    # the gauges were set before the metadata store was needed
    assert platform.gauge("completeness_ratio", source="miso-da", market="MISO", run="DA") == 1.0


# --- gates on committed batches ------------------------------------------------------------------------


def test_a_failed_completeness_gate_is_recorded_and_alerted(
    platform: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    platform.clock.now = CAISO_END + dt.timedelta(minutes=2)
    monitor = platform.monitor()
    monitor(commit(platform, caiso_day(learned=platform.clock.now - dt.timedelta(minutes=1))))

    rows = by_check(monitor.report())
    completeness, gaps = rows["completeness"], rows["gaps"]
    assert (completeness.value, completeness.threshold, completeness.passed) == (
        pytest.approx(1 - 3 / 300),
        0.995,
        False,
    )
    assert gaps.details is not None
    assert (gaps.value, gaps.details["expected"], gaps.details["expect"]) == (3.0, 300, "span")
    assert [m["interval_start"] for m in gaps.details["missing"]] == [
        "2024-11-03T09:00:00Z",
        "2024-11-03T09:05:00Z",
        "2024-11-03T09:10:00Z",
    ]
    assert rows["freshness"].passed
    (alert,) = alerts(caplog, "quality gate failed")
    assert alert.levelno == logging.ERROR
    fields = {k: getattr(alert, k) for k in ("source", "market", "run", "check", "scope", "threshold")}
    assert fields == {
        "source": "caiso-oasis",
        "market": "CAISO",
        "run": "RT5",
        "check": "completeness",
        "scope": "file:PRC_INTVL_LMP_20241103.csv",
        "threshold": 0.995,
    }
    assert [r.check for r in alerts(caplog, "quality check failed")] == ["gaps"]  # type: ignore[attr-defined]
    labels = {"source": "caiso-oasis", "market": "CAISO", "run": "RT5"}
    assert platform.gauge("gate_failed", **labels, check="completeness") == 1.0
    assert platform.gauge("completeness_ratio", **labels) == pytest.approx(0.99)
    assert platform.gauge("gaps", **labels) == 3.0


def test_the_5_minute_freshness_gate_on_an_injected_clock(
    platform: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    monitor = platform.monitor(source_checks=False)
    commit(platform, caiso_day(learned=CAISO_END + dt.timedelta(minutes=1)))
    labels = {"source": "caiso-oasis", "market": "CAISO", "run": "RT5"}

    platform.clock.now = CAISO_END + dt.timedelta(minutes=4)
    fresh = by_check(monitor.check_source("caiso-oasis", "CAISO", "RT5"))["freshness"]
    assert (fresh.value, fresh.threshold, fresh.passed) == (240.0, 300.0, True)
    assert platform.gauge("freshness_seconds", **labels) == 240.0
    assert alerts(caplog, "quality gate failed") == []

    platform.clock.now = CAISO_END + dt.timedelta(minutes=6)
    late = by_check(monitor.check_source("caiso-oasis", "CAISO", "RT5"))["freshness"]
    assert (late.value, late.passed) == (360.0, False)
    assert platform.gauge("gate_failed", **labels, check="freshness") == 1.0
    (alert,) = alerts(caplog, "quality gate failed")
    assert (alert.check, alert.value) == ("freshness", 360.0)  # type: ignore[attr-defined]
    recorded = by_check(monitor.report(failed_only=True))
    assert (recorded["freshness"].scope, recorded["freshness"].passed) == ("source", False)

    # the next interval lands: the gauge clears
    commit(
        platform,
        day_prices("CAISO", "RT5", dt.date(2024, 11, 4), 5, [SP15], source="caiso-oasis").slice(0, 1),
    )
    assert by_check(monitor.check_source("caiso-oasis", "CAISO", "RT5"))["freshness"].passed
    assert platform.gauge("gate_failed", **labels, check="freshness") == 0.0


def test_a_feed_with_no_new_interval_for_three_cadences_is_stale(platform: Platform) -> None:
    learned = CAISO_END + dt.timedelta(minutes=1)
    commit(platform, caiso_day(learned=learned))
    monitor = platform.monitor()
    platform.clock.now = learned + dt.timedelta(minutes=14)
    assert by_check(monitor.source_report("caiso-oasis", "CAISO", "RT5"))["stale"].passed
    platform.clock.now = learned + dt.timedelta(minutes=20)
    stale = by_check(monitor.check_source("caiso-oasis", "CAISO", "RT5"))["stale"]
    assert (stale.value, stale.threshold, stale.passed, stale.gate) == (1200.0, 900.0, False, True)
    labels = {"source": "caiso-oasis", "market": "CAISO", "run": "RT5"}
    assert platform.gauge("seconds_since_new_interval", **labels) == 1200.0
    assert platform.gauge("gate_failed", **labels, check="stale") == 1.0
    # a source the store has nothing of is neither fresh nor live
    nothing = by_check(monitor.source_report("caiso-oasis", "CAISO", "DA"))
    assert not nothing["freshness"].passed
    assert not nothing["stale"].passed


def test_the_report_filters_by_time_source_and_outcome(platform: Platform, tmp_path: Path) -> None:
    monitor = platform.monitor(source_checks=False)
    platform.ingestor(monitor).ingest_files([miso_file(tmp_path, DAY, seed=1)], knowledge_time=NOW)
    platform.clock.now = NOW + dt.timedelta(hours=1)
    monitor(commit(platform, caiso_day(learned=NOW)))
    assert {r.source for r in monitor.report()} == {"miso-da", "caiso-oasis"}
    assert {r.source for r in monitor.report(since=NOW + dt.timedelta(minutes=30))} == {"caiso-oasis"}
    assert {r.source for r in monitor.report(source="miso-da")} == {"miso-da"}
    assert sorted(r.check for r in monitor.report(failed_only=True)) == ["completeness", "gaps"]


# --- the CLI ------------------------------------------------------------------------------------------


def test_quality_report_prints_recorded_checks_and_sources(
    platform: Platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monitor = platform.monitor(source_checks=False)
    platform.ingestor(monitor).ingest_files([miso_file(tmp_path, DAY, seed=1)], knowledge_time=NOW)
    monitor(commit(platform, caiso_day(learned=NOW)))
    platform.store.close()  # DuckDB: the command opens the file itself

    for name in [k for k in os.environ if k.startswith("MARKETINTEL_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MARKETINTEL_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(quality_cmd, "console", Console(width=250, color_system=None))
    runner = CliRunner()

    everything = runner.invoke(quality_cmd.app, ["report"])
    assert everything.exit_code == 0, everything.output
    out = everything.output
    assert "10 recorded check(s)" in out
    assert "file:20241103_da_expost_lmp.csv" in out
    assert "99.000%" in out  # caiso's completeness
    assert f"{SP15} 2024-11-03T09:00:00Z" in out  # the first missing interval
    for word in ("FAILED", "flagged", "sources now", "miso-da", "caiso-oasis"):
        assert word in out

    failed = runner.invoke(quality_cmd.app, ["report", "--failed-only", "--source", "caiso-oasis"])
    assert failed.exit_code == 0, failed.output
    assert "2 recorded check(s)" in failed.output
    assert "out_of_range" not in failed.output
    assert "miso-da" not in failed.output

    later = runner.invoke(quality_cmd.app, ["report", "--since", "2030-01-01"])
    assert "0 recorded check(s)" in later.output
    bad = runner.invoke(quality_cmd.app, ["report", "--since", "yesterday"])
    assert bad.exit_code == 2
