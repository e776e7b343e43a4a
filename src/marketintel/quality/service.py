"""The quality monitor: runs the checks on every committed batch and on the sources the store holds,
records each result in `quality_checks`, sets the Prometheus gauges and alerts on failed gates.

It is a `BatchListener`: the facts are committed before it runs, so it must never fail ingestion — it
logs its own errors and returns. Alerts are structured log records ("quality gate failed", ERROR); a
later issue routes them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from marketintel.catalog.markets import market as market_named
from marketintel.ingest.models import CommittedBatch
from marketintel.metadata import service as metadata
from marketintel.metadata.models import QualityCheck
from marketintel.quality import checks
from marketintel.quality.metrics import METRICS, QualityMetrics
from marketintel.quality.models import FILE_COVERAGE, CheckResult, Expect, Gates, file_coverage
from marketintel.store.models import PRICES
from marketintel.store.service import TimeSeriesStore

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]
SOURCE_SCOPE = "source"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class RecordedCheck:
    id: int
    source: str
    market: str
    run: str | None
    check: str
    scope: str
    value: float
    threshold: float | None
    passed: bool
    details: dict[str, Any] | None
    checked_at: dt.datetime


RECORDED = tuple(f.name for f in dataclasses.fields(RecordedCheck))


@dataclass(frozen=True)
class Newest:
    """A source's newest stored interval: where it ends, and when we first learned of it."""

    end: dt.datetime | None
    learned: dt.datetime | None
    minutes: int | None


# --- what the store says ------------------------------------------------------------------------------


def _scope(store: TimeSeriesStore, source: str | None, market: str, run: str) -> list[str]:
    d = store.dialect
    where = [f"market = {d.string(market)}", f"run = {d.string(run)}"]
    return where if source is None else [f"source = {d.string(source)}", *where]


def history_stats(
    store: TimeSeriesStore, market: str, run: str, start: dt.datetime, end: dt.datetime
) -> pl.DataFrame:
    """Per location: median, MAD and count of its stored LMPs in [start, end), computed by the engine, so a
    week of 5-minute prices at thousands of nodes never leaves it. Every stored revision counts: a few
    superseded values cannot move a median, and resolving revisions would triple the cost."""
    d = store.dialect
    where = [
        *_scope(store, None, market, run),
        f"interval_start >= {d.timestamp(start)}",
        f"interval_start < {d.timestamp(end)}",
    ]
    sql = (
        f"WITH h AS (SELECT location, lmp FROM {PRICES.name} WHERE {' AND '.join(where)}), "
        "c AS (SELECT location, median(lmp) AS centre, count(*) AS n FROM h GROUP BY location) "
        "SELECT c.location AS location, c.centre AS median, median(abs(h.lmp - c.centre)) AS mad, c.n AS n "
        "FROM h JOIN c ON h.location = c.location GROUP BY c.location, c.centre, c.n"
    )
    stats = pl.from_arrow(store.query(sql))
    assert isinstance(stats, pl.DataFrame)
    return stats.with_columns(pl.lit(run).alias("run"), pl.col("n").cast(pl.Int64))


def newest_interval(store: TimeSeriesStore, source: str, market: str, run: str) -> Newest:
    where = " AND ".join(_scope(store, source, market, run))
    top = store.query(f"SELECT count(*) AS n, max(interval_start) AS newest FROM {PRICES.name} WHERE {where}")
    row = top.to_pylist()[0]
    if not row["n"]:  # ClickHouse answers max() of nothing with 1970, not NULL
        return Newest(None, None, None)
    newest: dt.datetime = row["newest"]
    first = store.query(
        f"SELECT max(interval_minutes) AS minutes, min(knowledge_time) AS learned FROM {PRICES.name} "
        f"WHERE {where} AND interval_start = {store.dialect.timestamp(newest)}"
    ).to_pylist()[0]
    minutes = int(first["minutes"])
    return Newest(newest + dt.timedelta(minutes=minutes), first["learned"], minutes)


def price_sources(store: TimeSeriesStore, source: str | None = None) -> list[tuple[str, str, str]]:
    """Every (source, market, run) the store holds prices of."""
    where = f" WHERE source = {store.dialect.string(source)}" if source else ""
    rows = store.query(
        f"SELECT DISTINCT source, market, run FROM {PRICES.name}{where} ORDER BY source, market, run"
    )
    return [(r["source"], r["market"], r["run"]) for r in rows.to_pylist()]


# --- what was recorded --------------------------------------------------------------------------------


def report(
    sessions: sessionmaker[Session],
    since: dt.datetime | None = None,
    *,
    source: str | None = None,
    failed_only: bool = False,
    limit: int = 500,
) -> list[RecordedCheck]:
    """Recorded checks, newest first."""
    stmt = select(QualityCheck).order_by(QualityCheck.checked_at.desc(), QualityCheck.id.desc()).limit(limit)
    if since is not None:
        stmt = stmt.where(QualityCheck.checked_at >= since)
    if source is not None:
        stmt = stmt.where(QualityCheck.source == source)
    if failed_only:
        stmt = stmt.where(QualityCheck.passed.is_(False))
    with sessions() as session:
        return [RecordedCheck(**{f: getattr(q, f) for f in RECORDED}) for q in session.scalars(stmt)]


# --- the monitor ------------------------------------------------------------------------------------


class QualityMonitor:
    """Checks each committed batch (a `BatchListener`) and the sources behind it.

    `source_checks=False` leaves freshness and staleness to `check_source` (a scheduler, the CLI): for a
    backfill of old days, "the newest data is a year old" is true but not news.
    """

    def __init__(
        self,
        store: TimeSeriesStore,
        metadata_url: str,
        gates: Gates | None = None,
        *,
        now: Clock = utcnow,
        metrics: QualityMetrics = METRICS,
        coverage: Mapping[str, Expect] = FILE_COVERAGE,
        source_checks: bool = True,
    ) -> None:
        self.store = store
        self.gates = gates or Gates()
        self.now = now
        self.metrics = metrics
        self.coverage = coverage
        self.source_checks = source_checks
        self.sessions: sessionmaker[Session] = metadata.session_factory(metadata.engine_for(metadata_url))

    def __call__(self, batch: CommittedBatch) -> None:
        # the batch is committed whatever happens here: never raise into ingestion
        try:
            self.check_batch(batch)
        except Exception:
            log.exception("quality monitor failed", extra={"source": batch.source, "file": batch.file})

    # --- batches --------------------------------------------------------------------------------

    def batch_results(self, batch: CommittedBatch) -> list[CheckResult]:
        """Every batch check of a committed batch's facts (all rows of the file, not only the new ones)."""
        facts = checks.prepare(batch.facts)
        if facts.data.height == 0:
            return []
        gates = self.gates
        timezone = market_named(batch.market).timezone
        results: list[CheckResult] = []
        for run in facts.runs:
            rows = facts.only(run)
            covered = checks.coverage(rows, timezone, file_coverage(batch.source, run, self.coverage))
            results += checks.gaps(rows, timezone, covered=covered)
            results += checks.completeness(rows, timezone, gates.completeness_min, covered=covered)
            first = rows.data.get_column("interval_start").min()
            assert isinstance(first, dt.datetime)
            stats = history_stats(self.store, batch.market, run, first - gates.spike_history, first)
            results += checks.spikes(rows, stats, gates.spike_z, gates.spike_min_history)
        results += checks.duplicates(facts)
        results += checks.out_of_range(facts, gates.bounds)
        return self._gated(results)

    def check_batch(self, batch: CommittedBatch) -> list[CheckResult]:
        """Check, record, publish and alert; then the sources' freshness, unless told not to."""
        now = self.now()
        results = self.batch_results(batch)
        self._conclude(batch.source, batch.market, f"file:{batch.file}"[:300], results, now)
        if self.source_checks:
            for run in sorted({r.run for r in results if r.run is not None}):
                results += self.check_source(batch.source, batch.market, run)
        return results

    # --- sources --------------------------------------------------------------------------------

    def source_report(self, source: str, market: str, run: str) -> list[CheckResult]:
        """Freshness and staleness of (source, market, run) as the store holds it now (nothing recorded)."""
        now = self.now()
        newest = newest_interval(self.store, source, market, run)
        timezone = market_named(market).timezone
        limit = self.gates.freshness_limit(source, run, now, timezone)
        results = [checks.freshness(run, newest.end, now, limit)]
        stale_limit = self.gates.stale_limit(source, run, newest.minutes or 0)
        results.append(checks.stale(run, newest.learned, now, stale_limit))
        return self._gated(results)

    def check_source(self, source: str, market: str, run: str) -> list[CheckResult]:
        """`source_report`, recorded, published and alerted: what a scheduler calls between batches, since
        a feed that stopped sends no batch to be checked on."""
        results = self.source_report(source, market, run)
        self._conclude(source, market, SOURCE_SCOPE, results, self.now())
        return results

    def report(
        self, since: dt.datetime | None = None, *, source: str | None = None, failed_only: bool = False
    ) -> list[RecordedCheck]:
        return report(self.sessions, since, source=source, failed_only=failed_only)

    # --- recording, gauges, alerts -----------------------------------------------------------------

    def _gated(self, results: list[CheckResult]) -> list[CheckResult]:
        return [dataclasses.replace(r, gate=self.gates.is_gate(r.check)) for r in results]

    def _conclude(
        self, source: str, market: str, scope: str, results: list[CheckResult], now: dt.datetime
    ) -> None:
        # gauges and alerts first: a metadata store that is down must not also silence them
        self.metrics.publish(source, market, results, now)
        for result in results:
            if not result.passed:
                self._alert(source, market, scope, result)
        with self.sessions() as session:
            session.add_all(
                QualityCheck(
                    source=source,
                    market=market,
                    run=result.run,
                    check=result.check,
                    scope=scope,
                    value=result.value,
                    threshold=result.threshold,
                    passed=result.passed,
                    details=result.details,
                    checked_at=now,
                )
                for result in results
            )
            session.commit()

    @staticmethod
    def _alert(source: str, market: str, scope: str, result: CheckResult) -> None:
        fields = {
            "source": source,
            "market": market,
            "run": result.run,
            "check": result.check,
            "scope": scope,
            "value": result.value,
            "threshold": result.threshold,
            "details": result.details,
        }
        if result.gate:
            log.error("quality gate failed", extra=fields)
        else:
            log.warning("quality check failed", extra=fields)
