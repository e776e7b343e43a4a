"""A scheduled job: what to call, when, and how to retry it. Standard library only (Airflow DAGs import it).

The retry formula is Airflow's `retry_exponential_backoff`, so a job waits the same between attempts
under the embedded scheduler and under Airflow: the n-th retry waits between b and 2b, where
b = retry_backoff · 2^(n−1), capped at max_retry_backoff.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from marketintel.scheduling import cadence as cadences
from marketintel.scheduling.cadence import Cadence

RETRY_MULTIPLIER = 2.0  # Airflow's retry_exponential_backoff: the delay doubles with each retry
KIND_PREFIX = "job:"  # a job's runs are recorded as kind 'job:<name>' (runs.kind is 32 characters)
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,26}")


@dataclass(frozen=True)
class Job:
    name: str
    # "module:function", imported only when the job runs, so a schedule can be read without the job's
    # dependencies; a callable for jobs defined in code (tests, notebooks)
    function: str | Callable[..., Any]
    cadence: Cadence  # cron (UTC) or an interval aligned to the epoch
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    retries: int = 3
    retry_backoff: dt.timedelta = dt.timedelta(seconds=30)
    max_retry_backoff: dt.timedelta = dt.timedelta(minutes=10)
    # a slot starts up to this much after its cron time: spreads the sources' load off the round minute
    jitter: dt.timedelta = dt.timedelta(0)
    # an attempt running longer is reported (embedded) or killed (Airflow's execution_timeout)
    timeout: dt.timedelta = dt.timedelta(minutes=30)
    source: str | None = None  # the connector a job ingests, recorded on its runs
    description: str = ""

    def __post_init__(self) -> None:
        if not NAME.fullmatch(self.name):
            raise ValueError(
                f"job name {self.name!r}: lower-case letters, digits, '-' and '_', ≤ 27 characters"
            )
        if self.retries < 0:
            raise ValueError(f"job {self.name}: retries must be ≥ 0")
        if self.retry_backoff < dt.timedelta(0) or self.jitter < dt.timedelta(0):
            raise ValueError(f"job {self.name}: retry_backoff and jitter must be ≥ 0")
        try:
            cadences.check(self.cadence)
        except ValueError as exc:
            raise ValueError(f"job {self.name}: {exc}") from None

    @property
    def kind(self) -> str:
        return f"{KIND_PREFIX}{self.name}"

    def resolve(self) -> Callable[..., Any]:
        if callable(self.function):
            return self.function
        module, _, attribute = self.function.partition(":")
        function: Callable[..., Any] = getattr(importlib.import_module(module), attribute)
        return function

    # --- when -------------------------------------------------------------------------------------

    def latest_slot(self, now: dt.datetime) -> dt.datetime:
        return cadences.latest_slot(self.cadence, now)

    def next_slot(self, after: dt.datetime) -> dt.datetime:
        return cadences.next_slot(self.cadence, after)

    def start_delay(self, slot: dt.datetime) -> dt.timedelta:
        """How long after `slot` this job starts: in [0, jitter), a hash of (job, slot) — every scheduler
        instance agrees on it, so they contend at the same moment and the lease decides, and it differs
        from slot to slot and job to job."""
        if not self.jitter:
            return dt.timedelta(0)
        digest = hashlib.sha256(f"{self.name}|{slot.isoformat()}".encode()).digest()
        return self.jitter * (int.from_bytes(digest[:8], "big") / 2**64)

    def due_at(self, slot: dt.datetime) -> dt.datetime:
        return slot + self.start_delay(slot)

    def retry_delay(self, retry: int, rng: random.Random) -> dt.timedelta:
        """The wait before retry number `retry` (1 = the first retry), as Airflow computes it."""
        base = self.retry_backoff * RETRY_MULTIPLIER ** (retry - 1)
        return min(self.max_retry_backoff, base * (1.0 + rng.random()))


def due_slot(job: Job, last_slot: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
    """The slot to run now, or None: the latest slot, if no run has served it yet and its jittered start has
    come. Missed earlier slots are not made up (Airflow's catchup=False): one run serves the latest."""
    slot = job.latest_slot(now)
    if last_slot is not None and slot <= last_slot:
        return None
    return slot if now >= job.due_at(slot) else None


def next_due(job: Job, last_slot: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    """When the job is next due (in the past if it is due now)."""
    slot = job.latest_slot(now)
    if last_slot is None or slot > last_slot:
        return job.due_at(slot)
    following = job.next_slot(max(now, last_slot))
    return job.due_at(following)
