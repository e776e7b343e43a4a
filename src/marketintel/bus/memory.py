"""The in-process bus (`memory://`): fan-out to subscribers in this process, never blocking a publisher.

Each subscription has a bounded queue. A subscriber that lets it fill up is *dropped*: it keeps the events
already queued, and once it has read them its next read raises `SlowSubscriber`. Dropping (rather than
discarding its oldest events) means a consumer never sees a silent gap: it learns exactly where its stream
ends and can resync (the WebSocket gateway closes the client, which reconnects and re-reads the store).

Thread-safe; publish from any thread; read with `get()`/iteration (sync) or `async for` (asyncio, any loop).
There is no history and no acknowledgement: a subscriber sees the events published after it subscribed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import suppress

from marketintel.bus.models import (
    PRICES_SUBJECTS,
    Ack,
    Event,
    Received,
    SlowSubscriber,
    check_pattern,
    check_subject,
    subject_matches,
)

log = logging.getLogger(__name__)
QUEUE_SIZE = 1000


class MemorySubscription:
    def __init__(self, bus: MemoryBus, pattern: str, queue_size: int) -> None:
        self.pattern = pattern
        self.queue_size = queue_size
        self.slow = False  # dropped for falling a full queue behind
        self.closed = False
        self._tokens = check_pattern(pattern)
        self._bus = bus
        self._items: deque[Event] = deque()
        self._ready = threading.Condition()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    @property
    def pending(self) -> int:
        return len(self._items)

    def matches(self, subject: str) -> bool:
        return subject_matches(self._tokens, subject)

    def _offer(self, event: Event) -> bool:
        """Queue the event; False (and the subscription marked slow) if the queue is full. Never waits."""
        with self._ready:
            if self.closed or self.slow:
                return not self.slow  # a closed one is being removed; it is not slow
            if len(self._items) >= self.queue_size:
                self.slow = True
            else:
                self._items.append(event)
            self._wake()
            return not self.slow

    def _wake(self) -> None:
        # called holding self._ready: wake sync readers, and async readers on whatever loop they wait in
        self._ready.notify_all()
        waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            with suppress(RuntimeError):  # that loop is closed: nobody waits there any more
                loop.call_soon_threadsafe(_resolve, future)

    def _take(self) -> Received | None:
        """The next event (holding self._ready); raises SlowSubscriber once a dropped queue is empty."""
        if self._items:
            return Received(self._items.popleft())
        if self.slow:
            raise SlowSubscriber(
                f"subscription to {self.pattern!r} fell {self.queue_size} events behind and was dropped"
            )
        return None

    def get(self, timeout: float | None = None) -> Received | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._ready:
            while True:
                received = self._take()
                if received is not None or self.closed:
                    return received
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._ready.wait(remaining)

    def __iter__(self) -> Iterator[Received]:
        while (received := self.get()) is not None:
            yield received

    def __aiter__(self) -> AsyncIterator[Received]:
        return self

    async def __anext__(self) -> Received:
        while True:
            loop = asyncio.get_running_loop()
            with self._ready:
                received = self._take()
                if received is not None:
                    return received
                if self.closed:
                    raise StopAsyncIteration
                future: asyncio.Future[None] = loop.create_future()
                self._waiters.append((loop, future))
            await future

    def close(self) -> None:
        with self._ready:
            self.closed = True
            self._wake()
        self._bus._remove(self)

    def __enter__(self) -> MemorySubscription:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class MemoryBus:
    """Fan-out in this process. `publish` takes a lock for a few appends and returns: it never waits for a
    subscriber."""

    def __init__(self, queue_size: int = QUEUE_SIZE, url: str = "memory://") -> None:
        self.url = url
        self.queue_size = queue_size
        self._lock = threading.Lock()
        self._subscriptions: list[MemorySubscription] = []
        self._sequence = 0

    def publish(self, event: Event, timeout: float | None = None) -> Ack:
        check_subject(event.subject)
        dropped = []
        # offered under the bus lock so every subscriber sees events in the same (sequence) order
        with self._lock:
            self._sequence += 1
            sequence = self._sequence
            for subscription in self._subscriptions:
                if subscription.matches(event.subject) and not subscription._offer(event):
                    dropped.append(subscription)
            for subscription in dropped:
                self._subscriptions.remove(subscription)
        for subscription in dropped:
            log.warning(
                "slow subscriber dropped",
                extra={"pattern": subscription.pattern, "queue_size": subscription.queue_size},
            )
        return Ack("memory", sequence)

    def subscribe(self, subject: str = PRICES_SUBJECTS, queue_size: int | None = None) -> MemorySubscription:
        subscription = MemorySubscription(self, subject, queue_size or self.queue_size)
        with self._lock:
            self._subscriptions.append(subscription)
        return subscription

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscriptions)

    def _remove(self, subscription: MemorySubscription) -> None:
        with self._lock:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)

    def close(self) -> None:
        """End every subscription (their readers see the end of the stream)."""
        with self._lock:
            subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in subscriptions:
            subscription.close()
