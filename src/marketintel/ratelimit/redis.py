"""The shared limiter (`redis://host:port/db`): every replica spends from the same buckets in Redis.

Each (bucket, key) is a Redis hash `<prefix><bucket>:<key>` holding `tokens` and `ts`, the Redis server's
clock (microseconds) when `tokens` was last right. One Lua script refills, spends and stores it, so
concurrent requests from any number of replicas are applied one at a time. The script reads the time with
Redis `TIME` rather than taking it from the caller: replicas' clocks drift apart, and a replica whose
clock runs ahead would refill buckets early for everyone. The hash expires when the bucket would be full
again, since a missing bucket reads as full: idle keys cost no memory.

When Redis fails at request time the limiter fails *open*, to a local limit: this replica keeps admitting
within its own in-process buckets (so an outage loosens the limit to replicas × limit instead of lifting
it) and never refuses a request because of our own outage. It logs one warning per outage and leaves Redis
alone for `retry_interval_s` after each failure, so requests do not each wait out a timeout.
"""

from __future__ import annotations

import logging
import threading
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from marketintel.config import mask
from marketintel.ratelimit.memory import MemoryRateLimiter
from marketintel.ratelimit.models import Bucket, Decision, RateLimiterUnavailable

log = logging.getLogger(__name__)
DEFAULT_PREFIX = "marketintel:ratelimit:"

# KEYS[1]: the bucket's hash. ARGV: rate per second, capacity, cost.
# Returns {allowed (0/1), tokens left, retry after (s), reset after (s)}; numbers as strings, since Redis
# truncates Lua numbers to integers.
TOKEN_BUCKET = """
if redis.replicate_commands then redis.replicate_commands() end  -- TIME before writes: Redis < 5 needs it
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local held = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(held[1])
local ts = tonumber(held[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
end
-- a server clock stepped back (NTP, a failover) refills nothing until it passes ts again
tokens = math.min(capacity, tokens + math.max(0, now - ts) / 1000000 * rate)
local allowed = 0
local retry_after = 0
if tokens >= cost - 1e-9 then  -- models.TOKEN_EPSILON: float noise must not refuse
  tokens = math.max(0, tokens - cost)
  allowed = 1
else
  retry_after = (cost - tokens) / rate
end
local reset_after = (capacity - tokens) / rate
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%d', math.max(ts, now)))
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil(reset_after * 1000)))
return {allowed, string.format('%.17g', tokens), string.format('%.17g', retry_after),
        string.format('%.17g', reset_after)}
"""


class RedisRateLimiter:
    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout_s: float = 0.5,
        retry_interval_s: float = 1.0,
    ) -> None:
        """Connect to the Redis at `url` and check it answers: `RateLimiterUnavailable` if it does not.

        `timeout_s` bounds each request's wait on Redis. A `ValueError` means a malformed URL."""
        self.url = url
        self.prefix = prefix
        self._retry_interval_s = retry_interval_s
        # one immediate retry replaces a pooled connection Redis closed; more would hold requests up
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 1),
        )
        try:
            self._client.ping()
        except redis.RedisError as exc:
            self._client.close()
            raise RateLimiterUnavailable(f"Redis at {mask(url)} unreachable: {exc}") from exc
        self._token_bucket = self._client.register_script(TOKEN_BUCKET)  # EVALSHA; reloads on NOSCRIPT
        self._local = MemoryRateLimiter()
        self._down_until: float | None = None  # monotonic time before which Redis is not tried
        self._state_lock = threading.Lock()

    def key(self, bucket: Bucket, key: str) -> str:
        """The Redis key holding `key`'s `bucket`."""
        return f"{self.prefix}{bucket.name}:{key}"

    def acquire(self, key: str, bucket: Bucket, cost: float = 1) -> Decision:
        bucket.check_cost(cost)
        down_until = self._down_until
        if down_until is not None and time.monotonic() < down_until:
            return self._local.acquire(key, bucket, cost)
        try:
            allowed, left, retry_after, reset_after = self._token_bucket(
                keys=[self.key(bucket, key)], args=[bucket.rate_per_s, bucket.capacity, cost]
            )
        except redis.RedisError as exc:
            self._mark_down(exc)
            return self._local.acquire(key, bucket, cost)
        if down_until is not None:
            self._mark_up()
        return Decision(bool(allowed), bucket.capacity, float(left), float(retry_after), float(reset_after))

    def close(self) -> None:
        self._client.close()
        self._local.close()

    def _mark_down(self, exc: redis.RedisError) -> None:
        with self._state_lock:
            if self._down_until is None:
                log.warning(
                    "rate limiting falls back to this replica's own buckets: Redis at %s failed: %s",
                    mask(self.url),
                    exc,
                )
            self._down_until = time.monotonic() + self._retry_interval_s

    def _mark_up(self) -> None:
        with self._state_lock:
            if self._down_until is not None:
                log.info("rate limiting is shared again: Redis at %s answers", mask(self.url))
            self._down_until = None
