"""Opening a bus from its URL, and the ingest glue: committed batch → outbox → bus.

`BusPublisher` is an ingest `BatchListener`. For each committed batch it encodes the written rows as
events and stores them in the metadata OUTBOX (one transaction) before anything touches the bus; then it
drains the outbox: every pending event, oldest first, is published and marked `published_at` once the bus
acks it. When the bus is down or slow the drain stops at the first failure (so events stay in order),
counts an attempt and records the error on every event still pending, and returns: the listener spends at
most `budget` seconds on the bus and never raises into ingestion. The next batch, or `marketintel bus
drain`, publishes the backlog once the bus is back.

Delivery is at least once; the message id (see `models`) makes it once within JetStream's duplicate
window: an event published but not marked (a crash, a lost commit) is dropped by JetStream when the next
drain re-publishes it. An event the bus refuses for good (`EventRejected`) keeps its error and stays
pending, without holding up the events behind it.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select, update

from marketintel.bus.memory import MemoryBus
from marketintel.bus.models import (
    MAX_PAYLOAD,
    Bus,
    BusError,
    Event,
    EventRejected,
    Format,
    decode_prices,
    encode_prices,
    price_event,
)
from marketintel.bus.nats import NatsBus
from marketintel.config import ConfigError, mask
from marketintel.ingest.models import CommittedBatch
from marketintel.metadata.models import OutboxEvent, utcnow
from marketintel.metadata.service import engine_for, session_factory

log = logging.getLogger(__name__)
BUS_URL_VARIABLE = "MARKETINTEL_BUS_URL"
MIN_ATTEMPT = 0.05  # seconds: with less budget left than this, leave the rest for the next drain

_memory_buses: dict[str, MemoryBus] = {}
_memory_lock = threading.Lock()


def open_bus(url: str) -> Bus:
    """The bus at `url`: `memory://` (in this process) or `nats://host:port[?stream=…&prefix=…]`.

    Every `open_bus("memory://…")` of one URL in a process returns the same bus, so an in-process
    publisher and subscriber (ingestion and the gateway in one server) meet on it; closing it ends all
    of its subscriptions."""
    parts = urlsplit(url)
    if parts.scheme == "memory":
        with _memory_lock:
            return _memory_buses.setdefault(parts.netloc, MemoryBus(url=url))
    if parts.scheme == "nats":
        if not parts.hostname:
            raise ConfigError(f"{BUS_URL_VARIABLE}={mask(url)!r}: a nats:// URL needs a host")
        try:
            return NatsBus.from_url(url)
        except ValueError as exc:
            raise ConfigError(f"{BUS_URL_VARIABLE}={mask(url)!r}: {exc}") from None
    raise ConfigError(f"{BUS_URL_VARIABLE}={mask(url)!r}: scheme must be memory:// or nats://")


def outbox_event(row: OutboxEvent) -> Event:
    """The event an outbox row holds; its headers (message id included) are derived again from its rows,
    so a re-publish carries the very same id."""
    stored = Event(row.subject, row.payload, row.content_type, row.schema_version)
    return price_event(row.subject, decode_prices(stored), row.payload, row.content_type)


@dataclass(frozen=True)
class DrainReport:
    published: int = 0  # taken by the bus, duplicates included
    duplicates: int = 0  # of those, ones the bus already had (published before, not marked)
    rejected: int = 0  # refused for good; left pending with their error
    pending: int = 0  # still in the outbox, unpublished, after this drain
    error: str | None = None  # why the drain stopped early (the bus is down), if it did


class BusPublisher:
    """A `BatchListener` publishing each committed batch's written rows through the outbox."""

    def __init__(
        self,
        bus: Bus,
        metadata_url: str,
        *,
        format: Format = "arrow",
        budget: float = 1.5,
        max_payload: int = MAX_PAYLOAD,
    ) -> None:
        self.bus, self.format, self.budget, self.max_payload = bus, format, budget, max_payload
        self._engine = engine_for(metadata_url)
        self.sessions = session_factory(self._engine)
        self._draining = threading.Lock()

    def __repr__(self) -> str:
        return f"BusPublisher({mask(self.bus.url)})"

    def __call__(self, batch: CommittedBatch) -> None:
        try:
            events = encode_prices(batch.written, self.format, self.max_payload)
            if events:
                self.enqueue(events)
            report = self.drain_outbox(budget=self.budget)
        except Exception:  # the batch is committed whatever happens here; ingestion must go on
            log.exception(
                "bus publisher failed",
                extra={"source": batch.source, "file": batch.file, "bus": mask(self.bus.url)},
            )
            return
        if report.error is not None:
            log.warning(
                "bus unavailable; events kept in the outbox",
                extra={"bus": mask(self.bus.url), "pending": report.pending, "error": report.error},
            )

    def enqueue(self, events: list[Event]) -> list[int]:
        """Store the events in the outbox, all or none; their ids, in order."""
        rows = [
            OutboxEvent(
                subject=e.subject,
                payload=e.payload,
                content_type=e.content_type,
                schema_version=e.schema_version,
            )
            for e in events
        ]
        with self.sessions() as session:
            session.add_all(rows)
            session.commit()
        return [row.id for row in rows]

    def pending(self) -> int:
        with self.sessions() as session:
            query = select(func.count()).select_from(OutboxEvent).where(OutboxEvent.published_at.is_(None))
            return int(session.execute(query).scalar_one())

    def drain_outbox(self, budget: float | None = None) -> DrainReport:
        """Publish pending outbox events in id order, within `budget` seconds (None: until done or the
        bus fails). Stops at the first event the bus does not take for want of being up."""
        deadline = None if budget is None else time.monotonic() + budget
        # one drain at a time in this process; a listener that cannot get in leaves its events pending
        if not self._draining.acquire(timeout=-1 if budget is None else budget):
            return DrainReport(pending=self.pending(), error="another drain is in progress")
        try:
            return self._drain(deadline)
        finally:
            self._draining.release()

    def _drain(self, deadline: float | None) -> DrainReport:
        published = duplicates = rejected = 0
        error = None
        with self.sessions() as session:
            waiting = (
                select(OutboxEvent.id).where(OutboxEvent.published_at.is_(None)).order_by(OutboxEvent.id)
            )
            ids = list(session.scalars(waiting))
        for event_id in ids:
            timeout = None if deadline is None else deadline - time.monotonic()
            if timeout is not None and timeout < MIN_ATTEMPT:
                break
            with self.sessions() as session:
                row = session.get(OutboxEvent, event_id)
                if row is None or row.published_at is not None:  # another process published it meanwhile
                    continue
                try:
                    ack = self.bus.publish(outbox_event(row), timeout)
                except (EventRejected, ValueError) as exc:  # this event can never go: skip it, keep order
                    row.attempts += 1
                    row.last_error = f"{type(exc).__name__}: {exc}"
                    session.commit()
                    rejected += 1
                    log.error("bus rejected an event", extra={"outbox_id": event_id, "error": row.last_error})
                    continue
                except Exception as exc:  # the bus is down or slow: everything from here waits for it
                    if not isinstance(exc, BusError):
                        log.exception("bus publish failed", extra={"outbox_id": event_id})
                    error = f"{type(exc).__name__}: {exc}"
                    session.execute(
                        update(OutboxEvent)
                        .where(OutboxEvent.published_at.is_(None), OutboxEvent.id >= event_id)
                        .values(attempts=OutboxEvent.attempts + 1, last_error=error)
                    )
                    session.commit()
                    break
                row.attempts += 1
                row.published_at = utcnow()
                session.commit()
                published += 1
                duplicates += ack.duplicate
        return DrainReport(published, duplicates, rejected, self.pending(), error)

    def prune(self, older_than: dt.timedelta) -> int:
        """Delete events published more than `older_than` ago (their payloads are only history now)."""
        cutoff = utcnow() - older_than
        with self.sessions() as session:
            done = delete(OutboxEvent).where(
                OutboxEvent.published_at.is_not(None), OutboxEvent.published_at < cutoff
            )
            deleted = session.execute(done).rowcount
            session.commit()
        return int(deleted or 0)

    def close(self) -> None:
        self._engine.dispose()


def drain_outbox(bus: Bus, metadata_url: str, budget: float | None = None) -> DrainReport:
    """Re-publish what the outbox at `metadata_url` still holds (`marketintel bus drain`)."""
    publisher = BusPublisher(bus, metadata_url)
    try:
        return publisher.drain_outbox(budget)
    finally:
        publisher.close()


def prune_outbox(metadata_url: str, older_than: dt.timedelta) -> int:
    """Delete outbox events published more than `older_than` ago; how many went."""
    publisher = BusPublisher(MemoryBus(), metadata_url)  # pruning never touches the bus
    try:
        return publisher.prune(older_than)
    finally:
        publisher.close()
