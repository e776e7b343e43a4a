"""`AuditWriter`: records go into memory at once and reach the chain in batches, from a background thread.

The request path only appends to a queue (a lock held for microseconds, no I/O). A background thread
takes up to `max_batch` records at a time and appends them in one transaction, once a `flush_interval`
(or sooner when a batch is full): under load, one head lock and one commit for a second's records, not
one per handful — the writer's time is GIL time taken from the requests. A batch that fails (the
database down, locked, or slow past its timeout) stays at the front and is retried with exponential
backoff, so records are delayed, never dropped; `queue_depth` shows the backlog. `close()` writes
everything before it returns, so a clean shutdown loses nothing. A commit whose outcome was lost (the
connection dropped during it) may be retried and appear twice: delivery is at least once.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import deque
from types import TracebackType

from sqlalchemy.orm import Session, sessionmaker

from marketintel.audit.models import AuditEvent
from marketintel.audit.service import append

log = logging.getLogger(__name__)
EXIT_TIMEOUT = 30.0  # seconds the interpreter's exit waits for a writer nobody closed


class AuditWriter:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        flush_interval: float = 1.0,
        max_batch: int = 500,
        retry_delay: float = 0.1,
        max_retry_delay: float = 5.0,
    ) -> None:
        if max_batch < 1 or flush_interval <= 0:
            raise ValueError("max_batch must be at least 1 and flush_interval positive")
        self.sessions = sessions
        self.flush_interval = flush_interval
        self.max_batch = max_batch
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self._lock = threading.Lock()
        self._progress = threading.Condition(self._lock)  # notified when a batch is written
        self._queue: deque[AuditEvent] = deque()
        self._batch: list[AuditEvent] = []  # taken from the queue, not yet committed
        self._recorded = 0
        self._written = 0
        self._closing = False
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()
        # a safety net: a process that exits without close() still writes what it queued
        atexit.register(self._close_at_exit)

    # --- the caller's side ---------------------------------------------------------------------------

    def record(self, event: AuditEvent) -> None:
        """Queue `event` for the chain and return at once, whatever state the database is in."""
        with self._lock:
            if self._closing:
                raise RuntimeError("the audit writer is closed: this record would be lost")
            self._queue.append(event)
            self._recorded += 1
            full = len(self._queue) >= self.max_batch
        if full:
            self._wake.set()

    @property
    def queue_depth(self) -> int:
        """Records recorded but not yet committed (a metric: it grows while the database is unavailable)."""
        with self._lock:
            return len(self._queue) + len(self._batch)

    @property
    def written(self) -> int:
        """Records committed by this writer since it started."""
        with self._lock:
            return self._written

    def flush(self, timeout: float | None = None) -> None:
        """Return once every record queued before the call is committed; TimeoutError after `timeout`."""
        with self._lock:
            target = self._recorded
            self._wake.set()
            self._progress.wait_for(lambda: self._written >= target or not self._thread.is_alive(), timeout)
            left = target - self._written
        if left <= 0:
            return
        if not self._thread.is_alive():
            raise RuntimeError(f"the audit writer thread stopped with {left} record(s) unwritten")
        raise TimeoutError(f"{left} audit record(s) not written yet")

    def close(self, timeout: float | None = None) -> None:
        """Refuse new records, write every queued one, then stop the thread. Idempotent. After a
        TimeoutError the thread keeps trying until the process exits."""
        with self._lock:
            self._closing = True
        atexit.unregister(self._close_at_exit)
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"{self.queue_depth} audit record(s) not written when the writer closed")

    def _close_at_exit(self) -> None:
        try:
            self.close(EXIT_TIMEOUT)
        except TimeoutError:
            log.error("exiting with %d audit record(s) unwritten", self.queue_depth)

    def __enter__(self) -> AuditWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    # --- the background thread -----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                self._wake.wait(self.flush_interval)
                self._wake.clear()
                self._drain()
                with self._lock:
                    if self._closing and not self._queue and not self._batch:
                        return
        finally:
            with self._lock:
                self._progress.notify_all()  # a flush waiting on a thread that stopped must not hang

    def _drain(self) -> None:
        """Write batches until the queue is empty; a failed batch is kept and retried after a pause."""
        failures = 0
        while True:
            with self._lock:
                if not self._batch:
                    taken = min(len(self._queue), self.max_batch)
                    self._batch = [self._queue.popleft() for _ in range(taken)]
                batch = self._batch
            if not batch:
                return
            try:
                with self.sessions() as session:
                    append(session, batch)
                    session.commit()
            except Exception:
                failures += 1
                delay = min(self.retry_delay * 2 ** (failures - 1), self.max_retry_delay)
                log.exception(
                    "audit batch of %d record(s) not written (attempt %d); retrying in %.1f s",
                    len(batch),
                    failures,
                    delay,
                    extra={"audit_queue_depth": self.queue_depth},
                )
                time.sleep(delay)
                continue
            failures = 0
            with self._lock:
                self._batch = []
                self._written += len(batch)
                self._progress.notify_all()
