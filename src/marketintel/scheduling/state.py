"""Scheduler state in the metadata store's `runs` table: no table of its own.

Each time a job runs for a slot it gets one run row, kind 'job:<name>': status 'running' while it runs,
then 'succeeded' or 'failed', with the rows its attempts wrote. `params` holds the slot it serves, every
attempt (start, end, outcome, the wait before the next), the job's summary, and the lease: the owning
scheduler and when its lease expires. The owner's heartbeat pushes that expiry forward; a row whose lease
expired (its scheduler died) is marked failed by the next claimant.

The newest row of a kind is the job's lease: a claim looks at it and inserts the next row inside one
transaction that holds a database lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock per job), so
two schedulers — threads or processes — can never both see the job free and both start it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from sqlalchemy import CursorResult, Update, select, text, update
from sqlalchemy.orm import Session

from marketintel.metadata import service as metadata
from marketintel.metadata.models import Run
from marketintel.scheduling.models import Job

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _time(value: object) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else None


@dataclass
class Lease:
    """A run row this scheduler holds; `params` is the row's params, written whole on every save so the
    heartbeat and the worker never overwrite each other's changes."""

    run_id: int
    job: str
    slot: dt.datetime
    params: dict[str, Any]
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


@dataclass(frozen=True)
class Claim:
    outcome: Literal["claimed", "busy", "done"]
    lease: Lease | None = None
    holder: str | None = None  # who holds the job, when busy


class SchedulerState:
    def __init__(
        self, metadata_url: str, owner: str, *, lease_ttl: dt.timedelta, clock: Clock = utcnow
    ) -> None:
        self.owner = owner
        self.lease_ttl = lease_ttl
        self.clock = clock
        self.engine = metadata.engine_for(metadata_url)
        self.sessions = metadata.session_factory(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # --- reading ------------------------------------------------------------------------------------

    def latest(self, job: Job) -> Run | None:
        with self.sessions() as session:
            return _latest(session, job.kind)

    def last_slot(self, job: Job) -> dt.datetime | None:
        """The slot the job's newest run served (None if it never ran)."""
        run = self.latest(job)
        return _time((run.params or {}).get("slot")) if run else None

    # --- the lease ----------------------------------------------------------------------------------

    def claim(self, job: Job, slot: dt.datetime, *, rerun: bool = False) -> Claim:
        """Start a run of `job` for `slot`, unless a live run holds the job ('busy') or a run already served
        this slot or a later one ('done'; `rerun` skips that check, for `--once`)."""
        now = self.clock()
        with self._locked(job.kind) as session:
            latest = _latest(session, job.kind)
            if latest is not None and latest.status == "running":
                params = latest.params or {}
                expires = _time(params.get("lease_expires_at")) or latest.started_at + self.lease_ttl
                if expires > now:
                    return Claim("busy", holder=str(params.get("owner")))
                latest.status, latest.finished_at = "failed", now
                latest.message = (
                    f"abandoned: the lease of {params.get('owner')} expired at {expires.isoformat()}"
                )
            served = _time((latest.params or {}).get("slot")) if latest is not None else None
            if not rerun and served is not None and served >= slot:
                session.commit()  # keep an abandoned row's new status
                return Claim("done")
            params = {
                "slot": slot.isoformat(),
                "owner": self.owner,
                "heartbeat_at": now.isoformat(),
                "lease_expires_at": (now + self.lease_ttl).isoformat(),
                "attempts": [],
            }
            source_id = metadata.ensure_source(session, job.source) if job.source else None
            run = Run(kind=job.kind, source_id=source_id, status="running", started_at=now, params=params)
            session.add(run)
            session.commit()
            return Claim("claimed", Lease(run.id, job.name, slot, params))

    def save(self, lease: Lease, **changes: Any) -> bool:
        """Write the lease's params with `changes`, renewing the lease; False if the lease was lost (another
        scheduler found it expired and took the job over)."""
        with lease.lock:
            now = self.clock()
            lease.params.update(changes)
            lease.params["heartbeat_at"] = now.isoformat()
            lease.params["lease_expires_at"] = (now + self.lease_ttl).isoformat()
            with self.sessions() as session:
                stmt = (
                    update(Run)
                    .where(Run.id == lease.run_id, Run.status == "running")
                    .values(params=dict(lease.params))
                )
                held = _changed(session, stmt)
                session.commit()
            return held

    def finish(self, lease: Lease, status: str, rows_written: int, message: str | None) -> bool:
        """End the run (and so release the job); False if the lease had been lost meanwhile."""
        with lease.lock:
            lease.params.pop("lease_expires_at", None)
            with self.sessions() as session:
                stmt = (
                    update(Run)
                    .where(Run.id == lease.run_id, Run.status == "running")
                    .values(
                        status=status,
                        finished_at=self.clock(),
                        rows_written=rows_written,
                        message=message[:4000] if message else None,
                        params=dict(lease.params),
                    )
                )
                held = _changed(session, stmt)
                session.commit()
            return held

    @contextmanager
    def _locked(self, kind: str) -> Iterator[Session]:
        """A session whose transaction holds the database's lock for `kind` until it ends."""
        with self.sessions() as session:
            dialect = self.engine.dialect.name
            if dialect == "sqlite":
                # take the write lock up front: a deferred transaction would let two claimants both read
                # the job as free (the driver sees the explicit BEGIN and adds none of its own)
                session.execute(text("BEGIN IMMEDIATE"))
            elif dialect == "postgresql":
                digest = hashlib.sha256(f"marketintel:{kind}".encode()).digest()
                key = int.from_bytes(digest[:8], "big", signed=True)
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
            else:
                raise NotImplementedError(f"no scheduler lease for {dialect!r} metadata stores")
            try:
                yield session
            finally:
                session.rollback()  # after a commit this is a no-op; otherwise it releases the lock


def _changed(session: Session, stmt: Update) -> bool:
    """Run an UPDATE of one run row; whether it matched (it does not once the lease is lost)."""
    result = cast(CursorResult[Any], session.execute(stmt))
    return result.rowcount == 1


def _latest(session: Session, kind: str) -> Run | None:
    stmt = select(Run).where(Run.kind == kind).order_by(Run.id.desc()).limit(1)
    return session.scalars(stmt).first()
