"""Snapshots of hot reads every client asks for — the latest prices of a market, the instrument catalog —
computed once and shared until they may have changed.

A snapshot is dropped when the bus says its market and run got new data (the stream's fan-out sees every
committed batch), and in any case after `ttl` seconds, which bounds staleness when the bus is down or a
writer does not publish. Only reads of the latest knowledge are cached; `as_of` reads always go to the
store. One caller computes a missing snapshot while the others wait for it, so a burst of identical
requests costs one query, not hundreds. A snapshot that merely reached its TTL (nothing said it changed)
is refreshed by the first caller after it, while the others are answered from it for up to one more TTL:
under load, a recompute every TTL would otherwise hold up every request arriving while it runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TTL = 2.0  # seconds
# snapshots held at most: keys can carry request parameters (a search text), so the map must be bounded
MAX_ENTRIES = 4096


@dataclass
class _Entry:
    value: Any = None
    expires: float = 0.0
    ready: threading.Event = field(default_factory=threading.Event)
    failed: bool = False
    ttl: float = 0.0
    refreshing: bool = False  # past its TTL, and a caller is computing its successor

    def serves_stale(self, now: float) -> bool:
        """Whether it may still be served while its successor is computed: up to one more TTL."""
        return self.refreshing and now < self.expires + self.ttl


class Snapshots:
    def __init__(
        self,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[Hashable, _Entry] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, compute: Callable[[], Any], ttl: float | None = None) -> Any:
        """The snapshot under `key`, computed by `compute` if missing or stale; kept `ttl` seconds (default
        the instance's) unless dropped sooner."""
        keep = self.ttl if ttl is None else ttl
        while True:
            with self._lock:
                entry = self._entries.get(key)
                now = self._clock()
                if entry is not None and entry.ready.is_set() and (entry.failed or entry.expires <= now):
                    if entry.serves_stale(now):
                        self.hits += 1
                        return entry.value
                    if not entry.failed and now < entry.expires + entry.ttl:
                        entry.refreshing = True
                        break  # this caller refreshes it (below); the others meanwhile get it as it is
                    entry = None  # failed, or stale beyond the grace: compute again, callers wait
                if entry is None:
                    if len(self._entries) >= self.max_entries:
                        self._evict(now)
                    entry = self._entries[key] = _Entry()
                    owner = True
                    self.misses += 1
                else:
                    owner = False
                    self.hits += 1
            if owner:
                try:
                    entry.value = compute()
                except BaseException:
                    entry.failed = True
                    with self._lock:
                        if self._entries.get(key) is entry:
                            del self._entries[key]
                    raise
                finally:
                    entry.expires, entry.ttl = self._clock() + keep, keep
                    entry.ready.set()
                return entry.value
            entry.ready.wait()
            if not entry.failed:
                return entry.value
            # the computing caller failed: try once more ourselves (it raised to its own request)
        try:
            value = compute()
        except BaseException:
            entry.refreshing = False  # the next caller tries again
            raise
        with self._lock:
            self.misses += 1
            entry.value, entry.expires, entry.ttl = value, self._clock() + keep, keep
            entry.refreshing = False
        return value

    def peek(self, key: Hashable) -> tuple[bool, Any]:
        """(True, value) when a snapshot is ready to serve (fresh, or being refreshed), else (False, None);
        never waits or computes, so an async endpoint can answer from it on the event loop and go to a
        worker thread only to `get`."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or not entry.ready.is_set() or entry.failed:
                return False, None
            now = self._clock()
            if entry.expires <= now and not entry.serves_stale(now):
                return False, None
            self.hits += 1
            return True, entry.value

    def _evict(self, now: float) -> None:
        """Make room (the lock held): expired snapshots first, then the oldest. A caller still waiting on
        an evicted entry keeps its reference and gets the value all the same."""
        for key in [k for k, e in self._entries.items() if e.ready.is_set() and e.expires <= now]:
            del self._entries[key]
        while len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]

    def invalidate(self, match: Callable[[Hashable], bool]) -> None:
        with self._lock:
            for key in [k for k in self._entries if match(k)]:
                del self._entries[key]

    def market_changed(self, market: str, run: str) -> None:
        """New data for (market, run) was committed: drop its snapshots — latest prices and price windows
        (a batch may revise any past interval) — and the catalog, which new locations may have joined."""
        self.invalidate(
            lambda key: (
                isinstance(key, tuple)
                and ((key[0] in ("latest", "ticks") and key[1:3] == (market, run)) or key[0] == "instruments")
            )
        )

    def clear(self) -> None:
        """Drop every snapshot: the bus may have had news this process did not hear (a resubscription)."""
        with self._lock:
            self._entries.clear()
