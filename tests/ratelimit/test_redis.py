"""The shared limiter against the real Redis at 127.0.0.1:6379. Time is Redis server time, so the tests
use rates slow enough (or bounds wide enough) that a busy machine's pauses cannot change an outcome."""

from __future__ import annotations

import logging
import threading
import time
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from marketintel.ratelimit.models import Bucket
from marketintel.ratelimit.redis import RedisRateLimiter
from marketintel.ratelimit.service import open_ratelimiter
from tests.ratelimit.conftest import TEST_REDIS_URL, Replica
from tests.ratelimit.relay import Relay

# refills one token in 1000 s: within a test, what a bucket admits is exactly its capacity
STILL = Bucket("general", rate_per_s=0.001, capacity=5)


def test_a_fresh_bucket_admits_its_burst_then_refuses(replica: Replica) -> None:
    limiter = replica()
    decisions = [limiter.acquire("acme", STILL) for _ in range(7)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 2
    assert [round(d.remaining) for d in decisions] == [4, 3, 2, 1, 0, 0, 0]
    assert all(d.limit == 5 for d in decisions)
    # a whole token is owed: 1000 s, less the little that dripped back during the test
    assert 990 < decisions[-1].retry_after_s <= 1000
    assert 4990 < decisions[-1].reset_after_s <= 5000


def test_a_refused_request_is_admitted_once_it_waited_as_told(replica: Replica) -> None:
    limiter = replica()
    bucket = Bucket("general", rate_per_s=4, capacity=2)
    for _ in range(50):  # each try takes far less than the 0.25 s a token takes to come back
        refused = limiter.acquire("acme", bucket)
        if not refused.allowed:
            break
    assert not refused.allowed
    assert 0 < refused.retry_after_s <= 0.25
    time.sleep(refused.retry_after_s + 0.02)
    assert limiter.acquire("acme", bucket).allowed


def test_keys_and_buckets_are_independent(replica: Replica) -> None:
    limiter = replica()
    exports = Bucket("exports", rate_per_s=0.001, capacity=1)
    assert limiter.acquire("acme", exports).allowed
    assert not limiter.acquire("acme", exports).allowed
    assert limiter.acquire("globex", exports).allowed
    assert round(limiter.acquire("acme", STILL).remaining) == 4


def test_a_cost_spends_that_many_tokens(replica: Replica) -> None:
    limiter = replica()
    assert limiter.acquire("acme", STILL, cost=3).allowed
    assert not limiter.acquire("acme", STILL, cost=3).allowed
    assert limiter.acquire("acme", STILL, cost=2).allowed
    with pytest.raises(ValueError, match="cost must be in"):
        limiter.acquire("acme", STILL, cost=6)


def hammer(
    limiters: list[RedisRateLimiter], bucket: Bucket, *, tries: int = 0, seconds: float = 0
) -> list[bool]:
    """Three threads per replica acquiring `bucket` for one tenant, `tries` times each or for `seconds`."""
    outcomes: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(3 * len(limiters))

    def run(limiter: RedisRateLimiter) -> None:
        start.wait()
        mine: list[bool] = []
        until = time.monotonic() + seconds
        while len(mine) < tries or time.monotonic() < until:
            mine.append(limiter.acquire("acme", bucket).allowed)
        with lock:
            outcomes.extend(mine)

    threads = [threading.Thread(target=run, args=(limiter,)) for limiter in limiters for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_two_replicas_share_one_burst(replica: Replica) -> None:
    bucket = Bucket("exports", rate_per_s=0.001, capacity=10)
    outcomes = hammer([replica(), replica()], bucket, tries=20)
    assert len(outcomes) == 120
    assert sum(outcomes) == 10  # not 10 per replica


def test_two_replicas_together_admit_no_more_than_the_burst_plus_the_refill(replica: Replica) -> None:
    bucket = Bucket("general", rate_per_s=20, capacity=10)
    began = time.monotonic()
    outcomes = hammer([replica(), replica()], bucket, seconds=1.0)
    elapsed = time.monotonic() - began
    admitted = sum(outcomes)
    assert admitted >= bucket.capacity  # the burst, at least
    assert admitted <= bucket.capacity + bucket.rate_per_s * elapsed + 1
    assert admitted < len(outcomes)  # the limit did bite


def test_an_idle_bucket_expires_when_it_would_be_full_again(
    replica: Replica, redis_client: redis.Redis
) -> None:
    limiter = replica()
    fast = Bucket("exports", rate_per_s=10, capacity=1)
    limiter.acquire("acme", fast)
    assert 0 < redis_client.pttl(limiter.key(fast, "acme")) <= 100
    limiter.acquire("acme", STILL)
    assert 995_000 < redis_client.pttl(limiter.key(STILL, "acme")) <= 1_000_000
    deadline = time.monotonic() + 5
    while redis_client.exists(limiter.key(fast, "acme")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not redis_client.exists(limiter.key(fast, "acme"))
    assert limiter.acquire("acme", fast).allowed  # gone is full


def test_a_flushed_script_cache_is_reloaded(replica: Replica, redis_client: redis.Redis) -> None:
    limiter = replica()
    assert limiter.acquire("acme", STILL).allowed
    redis_client.script_flush()  # as after a Redis restart: EVALSHA answers NOSCRIPT
    assert round(limiter.acquire("acme", STILL).remaining) == 3


def test_open_ratelimiter_gives_a_shared_limiter_for_a_redis_url(replica: Replica, prefix: str) -> None:
    opened = open_ratelimiter(TEST_REDIS_URL, prefix=prefix)
    try:
        assert isinstance(opened, RedisRateLimiter)
        assert opened.acquire("acme", STILL).allowed
        assert round(replica().acquire("acme", STILL).remaining) == 3  # the same bucket
    finally:
        opened.close()


def test_losing_redis_fails_open_to_a_local_limit_until_it_answers_again(
    replica: Replica, caplog: pytest.LogCaptureFixture
) -> None:
    redis_at = urlsplit(TEST_REDIS_URL)
    relay = Relay(redis_at.hostname or "127.0.0.1", redis_at.port or 6379)
    try:
        via_relay = urlunsplit(redis_at._replace(netloc=f"127.0.0.1:{relay.port}"))
        limiter = replica(via_relay, retry_interval_s=0.0)
        bucket = Bucket("exports", rate_per_s=0.001, capacity=2)
        assert [limiter.acquire("acme", bucket).allowed for _ in range(3)] == [True, True, False]
        relay.cut()
        with caplog.at_level(logging.INFO, logger="marketintel.ratelimit.redis"):
            # this replica's own bucket, full: it admits its burst, then refuses
            assert [limiter.acquire("acme", bucket).allowed for _ in range(3)] == [True, True, False]
            relay.restore()
            # Redis again, whose bucket for acme is still empty
            assert not limiter.acquire("acme", bucket).allowed
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1  # one per outage, not one per request
        assert f"127.0.0.1:{relay.port}" in warnings[0].getMessage()
        assert "shared again" in caplog.records[-1].getMessage()
    finally:
        relay.close()
