"""Token buckets, the decision a limiter returns, and what every limiter engine offers.

A bucket holds up to `capacity` tokens and gains `rate_per_s` of them each second; a request spends
`cost` tokens (1 unless said otherwise) and is refused when fewer are left. Each (bucket, key) pair —
("exports", a tenant's slug) — has a bucket of its own, full until first used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# float noise in a refill (0.9999999999990905 tokens) must not refuse a client who waited as told
TOKEN_EPSILON = 1e-9


class RateLimiterUnavailable(Exception):
    """The limiter's store (Redis) cannot be reached; the message names its URL, password masked."""


@dataclass(frozen=True, slots=True)
class Bucket:
    name: str
    rate_per_s: float
    capacity: float  # the burst: requests admitted at once by a bucket left alone long enough to fill

    def __post_init__(self) -> None:
        # a ':' in the name would let ("a", "b:c") and ("a:b", "c") share one store key
        if not self.name or ":" in self.name:
            raise ValueError(f"bucket name {self.name!r}: must be non-empty and without ':'")
        if not self.rate_per_s > 0:
            raise ValueError(f"bucket {self.name!r}: rate_per_s must be > 0, got {self.rate_per_s}")
        if not self.capacity >= 1:
            raise ValueError(f"bucket {self.name!r}: capacity must be >= 1, got {self.capacity}")

    @classmethod
    def per_second(cls, name: str, rate_per_s: float) -> Bucket:
        """A bucket whose burst is one second's worth of requests, and never less than one request."""
        return cls(name, rate_per_s, max(1.0, rate_per_s))

    def check_cost(self, cost: float) -> None:
        """Refuse a cost no bucket state could ever admit, rather than refusing that request forever."""
        if not 0 < cost <= self.capacity:
            raise ValueError(f"bucket {self.name!r}: cost must be in (0, {self.capacity}], got {cost}")


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: float  # the bucket's capacity
    remaining: float  # tokens left after this request (not rounded)
    retry_after_s: float  # when refused: seconds until this request's cost is available; 0 when allowed
    reset_after_s: float  # seconds until the bucket is full again if nothing more is spent


def spend(tokens: float, bucket: Bucket, cost: float) -> tuple[Decision, float]:
    """The decision on a request of `cost` against a bucket now holding `tokens` (already refilled), and
    the tokens it holds afterwards. The Redis engine runs the same arithmetic in Lua."""
    allowed = tokens >= cost - TOKEN_EPSILON
    left = max(0.0, tokens - cost) if allowed else tokens
    retry_after = 0.0 if allowed else (cost - tokens) / bucket.rate_per_s
    reset_after = (bucket.capacity - left) / bucket.rate_per_s
    return Decision(allowed, bucket.capacity, left, retry_after, reset_after), left


class RateLimiter(Protocol):
    def acquire(self, key: str, bucket: Bucket, cost: float = 1) -> Decision:
        """Spend `cost` tokens of `key`'s `bucket` if it holds them; either way, say what happened."""
        ...

    def close(self) -> None: ...
