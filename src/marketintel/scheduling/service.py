"""The embedded scheduler: runs jobs on their cadence in worker threads, each under a lease in the metadata
store, with retries (exponential backoff with jitter) and a graceful stop.

Which slot is due is worked out from the `runs` table (see `state`), so a restarted scheduler — or a second
one on the same metadata store — picks up where the last left off and never runs a job twice at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from marketintel.scheduling.models import Job, due_slot, next_due
from marketintel.scheduling.state import Clock, Lease, SchedulerState, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobResult:
    job: str
    status: str  # succeeded | failed | busy (running elsewhere) | done (the slot was already served)
    slot: dt.datetime
    run_id: int | None = None
    attempts: int = 0
    rows_written: int = 0
    message: str | None = None
    result: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status != "failed"


@dataclass
class _Due:
    """What the scheduler remembers about a job between ticks (the database stays the authority)."""

    last_slot: dt.datetime | None = None
    loaded: bool = False
    recheck_at: dt.datetime | None = None  # after a 'busy' claim: don't ask the database every tick
    future: Future[JobResult] | None = field(default=None, repr=False)


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Scheduler:
    def __init__(
        self,
        jobs: Sequence[Job],
        metadata_url: str,
        *,
        clock: Clock = utcnow,
        rng: random.Random | None = None,
        owner: str | None = None,
        lease_ttl: dt.timedelta = dt.timedelta(minutes=2),
        heartbeat: dt.timedelta = dt.timedelta(seconds=20),
        busy_recheck: dt.timedelta = dt.timedelta(seconds=15),
    ) -> None:
        if len({job.name for job in jobs}) != len(jobs):
            raise ValueError("two jobs with the same name")
        if heartbeat >= lease_ttl:
            raise ValueError("the heartbeat must come more often than the lease expires")
        self.jobs = list(jobs)
        self.clock = clock
        self.rng = rng or random.Random()
        self.owner = owner or default_owner()
        self.heartbeat = heartbeat
        self.busy_recheck = busy_recheck
        self.state = SchedulerState(metadata_url, self.owner, lease_ttl=lease_ttl, clock=clock)
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(self.jobs)), thread_name_prefix="job")
        self._due = {job.name: _Due() for job in self.jobs}
        self._held: dict[int, Lease] = {}
        self._held_lock = threading.Lock()
        self._beat_stop = threading.Event()
        self._beat: threading.Thread | None = None
        self._on_finish: Callable[[JobResult], None] | None = None

    # --- what is due --------------------------------------------------------------------------------

    def _last_slot(self, job: Job) -> dt.datetime | None:
        memo = self._due[job.name]
        if not memo.loaded:
            memo.last_slot, memo.loaded = self.state.last_slot(job), True
        return memo.last_slot

    def running(self, job: Job) -> bool:
        future = self._due[job.name].future
        return future is not None and not future.done()

    def due(self, now: dt.datetime | None = None) -> list[tuple[Job, dt.datetime]]:
        """The jobs due now and the slot each would serve; a job still running here is never due."""
        now = now or self.clock()
        found = []
        for job in self.jobs:
            memo = self._due[job.name]
            if self.running(job) or (memo.recheck_at is not None and now < memo.recheck_at):
                continue
            slot = due_slot(job, self._last_slot(job), now)
            if slot is not None:
                found.append((job, slot))
        return found

    def status(self, now: dt.datetime | None = None) -> list[dict[str, Any]]:
        """Per job: its cadence, the slot last served, when it is next due, whether it runs here now."""
        now = now or self.clock()
        rows = []
        for job in self.jobs:
            last = self._last_slot(job)
            rows.append(
                {
                    "job": job.name,
                    "cadence": str(job.cadence),
                    "last_slot": last.isoformat() if last else None,
                    "next_due": next_due(job, last, now).isoformat(),
                    "running": self.running(job),
                }
            )
        return rows

    def next_wakeup(self, now: dt.datetime) -> dt.datetime:
        candidates = [
            self._due[job.name].recheck_at or next_due(job, self._last_slot(job), now)
            for job in self.jobs
            if not self.running(job)
        ]
        return min(candidates, default=now + dt.timedelta(seconds=60))

    # --- running ------------------------------------------------------------------------------------

    def tick(self, now: dt.datetime | None = None) -> list[str]:
        """Start every due job that the database lets this scheduler claim; the names started."""
        now = now or self.clock()
        started = []
        for job, slot in self.due(now):
            if self._stop.is_set():
                break
            if self._start(job, slot, rerun=False, now=now) == "claimed":
                started.append(job.name)
        return started

    def _start(self, job: Job, slot: dt.datetime, *, rerun: bool, now: dt.datetime) -> str:
        """Claim `job` for `slot` and submit it to a worker: 'claimed', or why not ('busy', 'done')."""
        memo = self._due[job.name]
        claim = self.state.claim(job, slot, rerun=rerun)
        if claim.lease is None:
            if claim.outcome == "busy":
                memo.recheck_at = now + self.busy_recheck
                log.info(
                    "job busy elsewhere",
                    extra={"job": job.name, "slot": slot.isoformat(), "holder": claim.holder},
                )
            else:
                memo.loaded = False  # another scheduler served the slot: re-read how far it got
            return claim.outcome
        memo.last_slot, memo.loaded, memo.recheck_at = slot, True, None
        with self._held_lock:
            self._held[claim.lease.run_id] = claim.lease
        self._ensure_heartbeat()
        log.info(
            "job started", extra={"job": job.name, "slot": slot.isoformat(), "run_id": claim.lease.run_id}
        )
        memo.future = self._pool.submit(self._execute, job, claim.lease)
        if self._on_finish is not None:  # once the future is done, so the job no longer shows as running
            listener = self._on_finish
            memo.future.add_done_callback(lambda done: listener(done.result()))
        return claim.outcome

    def run_once(self, names: Sequence[str] | None = None) -> list[JobResult]:
        """Run each job (or those named) once now, whatever its cadence, and wait for all of them."""
        jobs = [job for job in self.jobs if names is None or job.name in names]
        now = self.clock()
        results: dict[str, JobResult] = {}
        for job in jobs:
            outcome = self._start(job, now, rerun=True, now=now)
            if outcome != "claimed":
                results[job.name] = JobResult(job.name, outcome, now)
        for job in jobs:
            future = self._due[job.name].future
            if job.name not in results and future is not None:
                results[job.name] = future.result()
        return [results[job.name] for job in jobs]

    def run_forever(
        self,
        poll: float = 1.0,
        grace: float | None = None,
        on_finish: Callable[[JobResult], None] | None = None,
    ) -> None:
        """Tick until `stop()`; then give running attempts `grace` seconds (None: all they need) to finish —
        no new attempt starts — and return. `on_finish` hears of every job that ends."""
        self._on_finish = on_finish
        while not self._stop.is_set():
            now = self.clock()
            self.tick(now)
            wait = (self.next_wakeup(now) - self.clock()).total_seconds()
            self._stop.wait(min(poll, max(wait, 0.05)))
        self.drain(grace)

    def stop(self) -> None:
        """Ask for a graceful stop: no job starts; one waiting to retry gives up; running attempts finish."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def drain(self, timeout: float | None = None) -> None:
        """Wait for the running jobs (at most `timeout` seconds)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for memo in self._due.values():
            if memo.future is not None:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    memo.future.result(timeout=left)
                except TimeoutError:
                    log.warning("job still running at shutdown; its lease will expire", extra={})

    def close(self, timeout: float | None = None) -> None:
        self.stop()
        self.drain(timeout)
        self._beat_stop.set()
        if self._beat is not None:
            self._beat.join()
        self._pool.shutdown(wait=timeout is None)
        self.state.close()

    @contextmanager
    def stopping_on_signals(self) -> Iterator[None]:
        """SIGINT and SIGTERM ask for a graceful stop while inside (the main thread only)."""

        def handler(signum: int, _frame: FrameType | None) -> None:
            log.info("stopping", extra={"signal": signal.Signals(signum).name})
            self.stop()

        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    # --- one job, with retries ----------------------------------------------------------------------

    def _execute(self, job: Job, lease: Lease) -> JobResult:
        attempts: list[dict[str, Any]] = []
        status, rows, message, result = "failed", 0, None, None
        try:
            status, rows, message, result = self._attempts(job, lease, attempts)
        except Exception as exc:  # the scheduler's own failure (the metadata store went away): record it
            log.exception("job crashed", extra={"job": job.name})
            message = f"scheduler error: {type(exc).__name__}: {exc}"
        finally:
            with self._held_lock:
                self._held.pop(lease.run_id, None)
            try:
                if not self.state.finish(lease, status, rows, message):
                    log.error(
                        "lease lost before the job finished", extra={"job": job.name, "run_id": lease.run_id}
                    )
            except Exception:
                log.exception(
                    "could not record the end of a job; its lease will expire", extra={"job": job.name}
                )
        outcome = JobResult(job.name, status, lease.slot, lease.run_id, len(attempts), rows, message, result)
        log.info(
            "job finished",
            extra={
                "job": job.name,
                "status": status,
                "attempts": len(attempts),
                "rows_written": rows,
                "run_id": lease.run_id,
                "error": message,
            },
        )
        return outcome

    def _attempts(
        self, job: Job, lease: Lease, attempts: list[dict[str, Any]]
    ) -> tuple[str, int, str | None, dict[str, Any] | None]:
        rows, errors = 0, []
        result: dict[str, Any] | None = None
        for number in range(1, job.retries + 2):
            if number > 1:
                delay = job.retry_delay(number - 1, self.rng)
                attempts[-1]["retry_in_s"] = round(delay.total_seconds(), 3)
                self.state.save(lease, attempts=attempts)
                log.info(
                    "job retrying", extra={"job": job.name, "attempt": number, "in_s": delay.total_seconds()}
                )
                if self._stop.wait(delay.total_seconds()):
                    errors.append("stopped before the next retry")
                    break
            attempt: dict[str, Any] = {"attempt": number, "started_at": self.clock().isoformat()}
            attempts.append(attempt)
            self.state.save(lease, attempts=attempts)
            began = time.monotonic()
            try:
                value = job.resolve()(**job.kwargs)
            except Exception as exc:
                summary = getattr(exc, "summary", None)
                rows += int(summary.get("rows_written", 0)) if isinstance(summary, dict) else 0
                error = f"{type(exc).__name__}: {exc}"
                errors.append(f"attempt {number}: {error}")
                attempt.update(status="failed", error=error[:2000])
                log.warning("job attempt failed", extra={"job": job.name, "attempt": number, "error": error})
                retryable = getattr(exc, "retryable", True)
            else:
                result = value if isinstance(value, dict) else {"result": value}
                rows += int(result.get("rows_written", 0) or 0)
                attempt.update(status="succeeded")
                retryable = False
            finally:
                elapsed = time.monotonic() - began
                attempt.update(finished_at=self.clock().isoformat(), seconds=round(elapsed, 3))
                if elapsed > job.timeout.total_seconds():
                    # a thread cannot be killed: the attempt is reported, and the lease is held until it ends
                    attempt["overran_timeout"] = True
                    log.warning(
                        "job attempt overran its timeout", extra={"job": job.name, "seconds": elapsed}
                    )
            if attempt["status"] == "succeeded":
                self.state.save(lease, attempts=attempts, result=result)
                return "succeeded", rows, "; ".join(errors) or None, result
            if not retryable:
                break
        self.state.save(lease, attempts=attempts)
        return "failed", rows, "; ".join(errors), None

    # --- the heartbeat ------------------------------------------------------------------------------

    def _ensure_heartbeat(self) -> None:
        if self._beat is None:
            self._beat = threading.Thread(target=self._beat_loop, name="scheduler-heartbeat", daemon=True)
            self._beat.start()

    def _beat_loop(self) -> None:
        while not self._beat_stop.wait(self.heartbeat.total_seconds()):
            with self._held_lock:
                leases = list(self._held.values())
            for lease in leases:
                try:
                    if not self.state.save(lease):
                        log.error("lease lost", extra={"job": lease.job, "run_id": lease.run_id})
                except Exception:
                    log.exception("heartbeat failed", extra={"job": lease.job})
