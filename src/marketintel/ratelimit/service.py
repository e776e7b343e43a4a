"""Opening a rate limiter from its URL, and the per-tenant buckets the gateway spends from.

`memory://` limits each process on its own; `redis://host:port/db` shares one limit between every replica
pointed at that Redis. Either way a tenant's slug is the key: `limiter.acquire(tenant, buckets.exports)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from marketintel.config import ConfigError, Settings, mask
from marketintel.ratelimit.memory import MemoryRateLimiter
from marketintel.ratelimit.models import Bucket, Decision, RateLimiter, RateLimiterUnavailable
from marketintel.ratelimit.redis import DEFAULT_PREFIX, RedisRateLimiter

__all__ = [
    "DEFAULT_PREFIX",
    "Bucket",
    "Decision",
    "MemoryRateLimiter",
    "RateLimiter",
    "RateLimiterUnavailable",
    "RedisRateLimiter",
    "TenantBuckets",
    "open_ratelimiter",
]

RATELIMIT_URL_VARIABLE = "MARKETINTEL_RATELIMIT_URL"


@dataclass(frozen=True, slots=True)
class TenantBuckets:
    general: Bucket  # every API request
    exports: Bucket  # export requests: a budget of their own, far smaller

    @classmethod
    def from_settings(cls, settings: Settings) -> TenantBuckets:
        return cls(
            general=Bucket.per_second("general", settings.rate_general_per_s),
            exports=Bucket.per_second("exports", settings.rate_exports_per_s),
        )


def open_ratelimiter(url: str, *, prefix: str = DEFAULT_PREFIX) -> RateLimiter:
    """The limiter at `url`: a new in-process one for `memory://`, or one on the Redis at
    `redis://host:port/db`, its keys under `prefix` (`RateLimiterUnavailable` if Redis does not answer)."""
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return MemoryRateLimiter()
    if scheme == "redis":
        try:
            return RedisRateLimiter(url, prefix=prefix)
        except ValueError as exc:
            raise ConfigError(f"{RATELIMIT_URL_VARIABLE}={mask(url)!r}: {exc}") from None
    raise ConfigError(f"{RATELIMIT_URL_VARIABLE}={mask(url)!r}: scheme must be memory:// or redis://")
