"""The in-process limiter (`memory://`): one replica's token buckets, refilled lazily when next used.

Thread-safe. Time comes from a monotonic clock (injectable, so tests control it). A full bucket is the
same as no bucket, so buckets idle long enough to fill are dropped every `sweep_interval_s`: memory
follows the keys active lately, not every key ever seen.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from marketintel.ratelimit.models import Bucket, Decision, spend

SWEEP_INTERVAL_S = 60.0


@dataclass(slots=True)
class _Held:
    tokens: float
    updated: float  # clock reading when `tokens` was last right
    bucket: Bucket  # the latest limits it was used with, to tell when it is full again


class MemoryRateLimiter:
    def __init__(
        self, clock: Callable[[], float] = time.monotonic, sweep_interval_s: float = SWEEP_INTERVAL_S
    ) -> None:
        self._clock = clock
        self._sweep_interval_s = sweep_interval_s
        self._held: dict[tuple[str, str], _Held] = {}
        self._lock = threading.Lock()
        self._last_sweep = clock()

    def acquire(self, key: str, bucket: Bucket, cost: float = 1) -> Decision:
        bucket.check_cost(cost)
        with self._lock:
            now = self._clock()
            if now - self._last_sweep >= self._sweep_interval_s:
                self._drop_full(now)
            held = self._held.get((bucket.name, key))
            if held is None:
                held = self._held[(bucket.name, key)] = _Held(bucket.capacity, now, bucket)
            decision, held.tokens = spend(_refilled(held, bucket, now), bucket, cost)
            held.updated = max(held.updated, now)
            held.bucket = bucket
            return decision

    @property
    def buckets_held(self) -> int:
        """How many (bucket, key) pairs are in memory: those used since the last sweep or not yet full."""
        with self._lock:
            return len(self._held)

    def close(self) -> None:
        with self._lock:
            self._held.clear()

    def _drop_full(self, now: float) -> None:
        full = [
            pair
            for pair, held in self._held.items()
            if _refilled(held, held.bucket, now) >= held.bucket.capacity
        ]
        for pair in full:
            del self._held[pair]
        self._last_sweep = now


def _refilled(held: _Held, bucket: Bucket, now: float) -> float:
    # a clock that steps back (only an injected one can) refills nothing rather than draining
    elapsed = max(0.0, now - held.updated)
    return min(bucket.capacity, held.tokens + elapsed * bucket.rate_per_s)
