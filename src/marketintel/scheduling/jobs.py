"""The job functions: plain Python, the same for the embedded scheduler and for Airflow's tasks.

Each returns a JSON-able summary and raises `JobFailed` when its work failed, so whichever scheduler runs
it retries it; a failure a retry cannot fix (a file the parser rejects) says so with retryable=False.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from marketintel.bus.service import BusPublisher, open_bus
from marketintel.config import Settings, load_settings
from marketintel.connectors.fetch import Fetcher
from marketintel.connectors.registry import connector
from marketintel.ingest.models import IngestReport, Status
from marketintel.ingest.service import Ingestor
from marketintel.metadata import service as metadata
from marketintel.objects.service import ObjectStore
from marketintel.quality.service import QualityMonitor, price_sources
from marketintel.store.service import TimeSeriesStore, open_timeseries

log = logging.getLogger(__name__)

CurveBuilder = Callable[[Settings, dt.date], int]  # builds the curves as of a day; returns rows written
_CURVE_BUILDERS: list[CurveBuilder] = []
# modules imported before a curve build so that their register_curve_builder(...) calls have run: the
# curves work adds its module here (one line), and nothing else in scheduling has to know about curves
CURVE_MODULES: tuple[str, ...] = ()


class JobFailed(RuntimeError):
    """A job whose work failed; `summary` is what it did get done, `retryable` whether trying again can help."""

    def __init__(self, message: str, summary: dict[str, Any], *, retryable: bool = True) -> None:
        super().__init__(message)
        self.summary = summary
        self.retryable = retryable


# --- shared resources -------------------------------------------------------------------------------


class _Stores:
    """Time-series stores by URL, shared by the jobs running at the same time in this process and closed
    when the last of them ends. The embedded DuckDB engine takes one writer per file (the store's write
    lock serialises the jobs' writes), and an idle scheduler holds no store open, so other commands can use
    the file between runs. An Airflow task is a process of its own: it opens and closes its store."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, tuple[TimeSeriesStore, int]] = {}

    @contextmanager
    def open(self, url: str) -> Iterator[TimeSeriesStore]:
        with self._lock:
            store, users = self._open.get(url) or (open_timeseries(url), 0)
            self._open[url] = (store, users + 1)
        try:
            yield store
        finally:
            with self._lock:
                store, users = self._open[url]
                if users > 1:
                    self._open[url] = (store, users - 1)
                else:
                    del self._open[url]
                    store.close()


stores = _Stores()
_migrated: set[str] = set()
_migrate_lock = threading.Lock()


def prepare_metadata(url: str) -> None:
    """Migrate the metadata store, once per process (an Airflow task may be the first to touch it)."""
    with _migrate_lock:
        if url not in _migrated:
            metadata.upgrade(url)
            _migrated.add(url)


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


# --- ingestion --------------------------------------------------------------------------------------


def ingest_source(
    name: str,
    days_back: int = 1,
    settings: Settings | None = None,
    *,
    days_ahead: int = 1,
    day: str | None = None,
    base_url: str | None = None,
    requests_per_second: float | None = None,
) -> dict[str, Any]:
    """Ingest connector `name`'s market days today−days_back … today+days_ahead (UTC today), or just `day`
    (YYYY-MM-DD) when given. `Ingestor.ingest_window` resumes after the checkpoint and stops at the first
    day the source has not published, so a run that finds nothing new is cheap and writes nothing.

    `base_url` points the connector at another root (a mirror, the offline fixture server);
    `requests_per_second` overrides the source's own rate limit (0: none, for a local server)."""
    settings = settings or load_settings()
    if day is not None:
        start = dt.date.fromisoformat(day)
        end = start + dt.timedelta(days=1)
    else:
        today = _today()
        start, end = today - dt.timedelta(days=days_back), today + dt.timedelta(days=days_ahead + 1)
    source = connector(name, base_url)
    prepare_metadata(settings.metadata_url)
    rate = source.requests_per_second if requests_per_second is None else requests_per_second
    fetcher = Fetcher(requests_per_second=rate)
    # an in-process bus has no subscriber in a scheduler: as `marketintel ingest`, publish only to a real one
    bus = None if settings.bus_url.startswith("memory:") else open_bus(settings.bus_url)
    try:
        with stores.open(settings.timeseries_url) as store:
            # batch checks on each file; freshness is checked below, for live windows only
            monitor = QualityMonitor(store, settings.metadata_url, source_checks=False)
            publishers = [BusPublisher(bus, settings.metadata_url)] if bus is not None else []
            objects = ObjectStore(settings.objects_url)
            ingestor = Ingestor(source, store, objects, settings.metadata_url, [*publishers, monitor])
            try:
                report = ingestor.ingest_window(start, end, fetcher)
                # a feed that stopped sends no batch to be checked: the scheduler's regular runs notice
                stale = _check_sources(monitor, store, name) if day is None else []
            finally:
                for publisher in publishers:
                    publisher.close()
                for sessions in (ingestor.sessions, monitor.sessions):
                    sessions.kw["bind"].dispose()  # engines made for this run: let go of their connections
    finally:
        fetcher.close()
        if bus is not None:
            bus.close()
    summary = {**_summary(report, start, end), "quality_failed": stale}
    if not report.ok:
        failed = [f"{f.name}: {f.error}" for f in report.files if f.status in ("failed", "quarantined")]
        # a fetch that failed may work next time; a file the parser quarantined will not
        retryable = report.count("failed") > 0
        raise JobFailed(
            f"{name}: {len(failed)} file(s) failed: " + "; ".join(failed)[:2000], summary, retryable=retryable
        )
    return summary


def _check_sources(monitor: QualityMonitor, store: TimeSeriesStore, source: str) -> list[str]:
    """Record the freshness and staleness of every run of `source` the store holds; the failed ones."""
    failed = []
    for name, market, run in price_sources(store, source):
        results = monitor.check_source(name, market, run)
        failed += [f"{run} {r.check}" for r in results if not r.passed]
    return failed


def _summary(report: IngestReport, start: dt.date, end: dt.date) -> dict[str, Any]:
    statuses: tuple[Status, ...] = ("written", "unchanged", "quarantined", "failed", "not_published")
    return {
        "source": report.source,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "files": len(report.files),
        **{status: report.count(status) for status in statuses},
        "rows_written": report.rows_written,
        "checkpoint": report.checkpoint,
    }


# --- the daily curve build (a hook) -----------------------------------------------------------------


def register_curve_builder(builder: CurveBuilder) -> CurveBuilder:
    """Plug a curve builder into the daily `curves` job (usable as a decorator); registering twice is a no-op."""
    if builder not in _CURVE_BUILDERS:
        _CURVE_BUILDERS.append(builder)
    return builder


def unregister_curve_builder(builder: CurveBuilder) -> None:
    if builder in _CURVE_BUILDERS:
        _CURVE_BUILDERS.remove(builder)


def curve_builders() -> list[CurveBuilder]:
    """The registered builders, after importing the CURVE_MODULES that register them."""
    for module in CURVE_MODULES:
        importlib.import_module(module)
    return list(_CURVE_BUILDERS)


def build_curves(settings: Settings | None = None, *, day: str | None = None) -> dict[str, Any]:
    """Run every registered curve builder as of `day` (default: UTC today), recorded as a 'curve-build'
    run. With none registered the run records that and succeeds: the schedule is in place before the
    curves are."""
    settings = settings or load_settings()
    as_of = dt.date.fromisoformat(day) if day else _today()
    builders = curve_builders()
    names = [getattr(b, "__qualname__", repr(b)) for b in builders]
    prepare_metadata(settings.metadata_url)
    sessions = metadata.session_factory(metadata.engine_for(settings.metadata_url))
    try:
        with sessions() as session:
            run_id = metadata.start_run(
                session, "curve-build", params={"as_of": as_of.isoformat(), "builders": names}
            )
            session.commit()
        rows, status, message = 0, "succeeded", None
        try:
            for builder in builders:
                rows += builder(settings, as_of)
        except Exception as exc:
            status, message = "failed", f"{type(exc).__name__}: {exc}"
            raise JobFailed(
                message, {"as_of": as_of.isoformat(), "builders": names, "rows_written": rows}
            ) from exc
        finally:
            if not builders:
                message = (
                    "no curve builder registered; the curves work plugs in with register_curve_builder()"
                )
            with sessions() as session:
                metadata.finish_run(session, run_id, status, rows, message=message)
                session.commit()
    finally:
        sessions.kw["bind"].dispose()
    return {"as_of": as_of.isoformat(), "builders": names, "rows_written": rows, "message": message}


# --- by name (Airflow) ------------------------------------------------------------------------------


def run_job(job_name: str, **overrides: Any) -> dict[str, Any]:
    """Run seed job `job_name` with its scheduled arguments (and any `overrides`): what an Airflow task calls,
    so a DAG carries nothing but the job's name."""
    from marketintel.scheduling.schedule import seed_jobs

    (job,) = seed_jobs([job_name])
    result = job.resolve()(**{**job.kwargs, **overrides})
    return result if isinstance(result, dict) else {"result": result}
