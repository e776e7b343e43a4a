"""A small, bounded, thread-safe cache whose entries live for a fixed time on the caller's clock.

It spares the database a query per request for facts that change rarely (a user's status, an API key's
row, the signing keys), while a change made elsewhere still shows within the time to live.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    def __init__(self, ttl: timedelta, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[K, tuple[datetime, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: K, now: datetime) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            stored_at, value = entry
            # a clock that steps back (an injected one can) must not make an entry live forever
            if not stored_at <= now < stored_at + self.ttl:
                del self._entries[key]
                return None
            return value

    def put(self, key: K, value: V, now: datetime) -> None:
        with self._lock:
            self._entries.pop(key, None)
            if len(self._entries) >= self.max_entries:
                # dicts keep insertion order: the first entry is the oldest
                del self._entries[next(iter(self._entries))]
            self._entries[key] = (now, value)

    def pop(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
