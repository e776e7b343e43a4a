"""The real Redis at 127.0.0.1:6379 for the shared-limiter tests: each test keeps its keys under a prefix of
its own and deletes them at its end."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis

from marketintel.ratelimit.redis import RedisRateLimiter
from tests.helpers import service_missing

# overridable only so the "Redis unreachable" path can be tried by hand
TEST_REDIS_URL = os.environ.get("MARKETINTEL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

Replica = Callable[..., RedisRateLimiter]


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    """A plain client on the test Redis, checked reachable (see `service_missing`)."""
    client = redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        service_missing(f"Redis at {TEST_REDIS_URL} unreachable: {exc}", "the Redis rate limiter tests")
    yield client
    client.close()


@pytest.fixture
def prefix(redis_client: redis.Redis) -> Iterator[str]:
    tag = f"test:ratelimit:{uuid.uuid4().hex[:12]}:"
    yield tag
    stale = list(redis_client.scan_iter(match=f"{tag}*"))
    if stale:
        redis_client.delete(*stale)


@pytest.fixture
def replica(prefix: str) -> Iterator[Replica]:
    """Makes limiters sharing this test's prefix, as separate gateway replicas would; closed afterwards."""
    opened: list[RedisRateLimiter] = []

    def make(url: str = TEST_REDIS_URL, **options: float) -> RedisRateLimiter:
        limiter = RedisRateLimiter(url, prefix=prefix, **options)
        opened.append(limiter)
        return limiter

    yield make
    for limiter in opened:
        limiter.close()
