"""Snapshots of hot reads every client asks for — the latest prices of a market, the instrument catalog —
computed once and shared until they may have changed.

A snapshot is dropped when the bus says its market and run got new data (the stream's fan-out sees every
committed batch), and in any case after `ttl` seconds, which bounds staleness when the bus is down or a
writer does not publish. Only reads of the latest knowledge are cached; `as_of` reads always go to the
store. One caller computes a missing snapshot while the others wait for it, so a burst of identical
requests costs one query, not hundreds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TTL = 2.0  # seconds


@dataclass
class _Entry:
    value: Any = None
    expires: float = 0.0
    ready: threading.Event = field(default_factory=threading.Event)
    failed: bool = False


class Snapshots:
    def __init__(self, ttl: float = DEFAULT_TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[Hashable, _Entry] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        while True:
            with self._lock:
                entry = self._entries.get(key)
                now = self._clock()
                if entry is not None and entry.ready.is_set() and (entry.failed or entry.expires <= now):
                    entry = None  # stale or failed: compute again
                if entry is None:
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
                    entry.expires = self._clock() + self.ttl
                    entry.ready.set()
                return entry.value
            entry.ready.wait()
            if not entry.failed:
                return entry.value
            # the computing caller failed: try once more ourselves (it raised to its own request)

    def invalidate(self, match: Callable[[Hashable], bool]) -> None:
        with self._lock:
            for key in [k for k in self._entries if match(k)]:
                del self._entries[key]

    def market_changed(self, market: str, run: str) -> None:
        """New data for (market, run) was committed: drop its snapshots (and the catalog, which new
        locations may have joined)."""
        self.invalidate(
            lambda key: (
                isinstance(key, tuple)
                and ((key[0] == "latest" and key[1:3] == (market, run)) or key[0] == "instruments")
            )
        )
