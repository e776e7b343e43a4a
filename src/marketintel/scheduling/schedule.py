"""The seed schedule: the one place both the embedded scheduler and the Airflow DAGs read. Standard library
only, so `deploy/airflow/dags` can import it without the platform's dependencies."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from marketintel.scheduling.models import Job

INGEST = "marketintel.scheduling.jobs:ingest_source"
CURVES = "marketintel.scheduling.jobs:build_curves"


def _ingest(
    source: str,
    cadence: str,
    description: str,
    *,
    retries: int,
    retry_backoff: dt.timedelta,
    max_retry_backoff: dt.timedelta,
    jitter: dt.timedelta,
    timeout: dt.timedelta,
) -> Job:
    """A job ingesting connector `source` (the job has its name): yesterday, today and tomorrow."""
    return Job(
        name=source,
        function=INGEST,
        cadence=cadence,
        kwargs={"name": source, "days_back": 1, "days_ahead": 1},
        retries=retries,
        retry_backoff=retry_backoff,
        max_retry_backoff=max_retry_backoff,
        jitter=jitter,
        timeout=timeout,
        source=source,
        description=description,
    )


SEED_SCHEDULE: tuple[Job, ...] = (
    # The miso-rt connector reads MISO's hourly *final* real-time report, which posts once a day for the
    # day before; polling every 5 minutes picks it up as soon as it posts. A run in between is a checkpoint
    # read and one 404, so the cadence costs MISO next to nothing.
    _ingest(
        "miso-rt",
        "*/5 * * * *",
        "MISO real-time final LMPs, polled for the daily post",
        retries=2,
        retry_backoff=dt.timedelta(seconds=30),
        max_retry_backoff=dt.timedelta(minutes=2),
        jitter=dt.timedelta(seconds=30),
        timeout=dt.timedelta(minutes=10),
    ),
    _ingest(
        "miso-da",
        "0 * * * *",
        "MISO day-ahead ex-post LMPs",
        retries=3,
        retry_backoff=dt.timedelta(minutes=1),
        max_retry_backoff=dt.timedelta(minutes=10),
        jitter=dt.timedelta(minutes=2),
        timeout=dt.timedelta(minutes=20),
    ),
    # OASIS allows one request per 5 s and a market day is 24-26 queries: a run takes minutes, not seconds
    _ingest(
        "caiso-oasis",
        "0 * * * *",
        "CAISO OASIS day-ahead and real-time 5-minute LMPs",
        retries=3,
        retry_backoff=dt.timedelta(minutes=2),
        max_retry_backoff=dt.timedelta(minutes=15),
        jitter=dt.timedelta(minutes=2),
        timeout=dt.timedelta(minutes=45),
    ),
    # the daily curve build, after the overnight day-ahead results; a hook the curves work plugs into
    Job(
        name="curves",
        function=CURVES,
        cadence="0 6 * * *",
        retries=2,
        retry_backoff=dt.timedelta(minutes=5),
        max_retry_backoff=dt.timedelta(minutes=30),
        jitter=dt.timedelta(minutes=5),
        timeout=dt.timedelta(hours=1),
        description="daily forward-curve build",
    ),
)


def seed_jobs(names: Iterable[str] | None = None) -> list[Job]:
    """The seed jobs, or those named (in the order named); KeyError naming the unknown ones."""
    by_name = {job.name: job for job in SEED_SCHEDULE}
    if names is None:
        return list(SEED_SCHEDULE)
    wanted = list(names)
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise KeyError(f"unknown job(s) {', '.join(unknown)}; known: {', '.join(by_name)}")
    return [by_name[n] for n in wanted]
