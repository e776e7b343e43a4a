"""The in-process limiter, on a clock the test moves by hand: no sleeps, no timing to flake."""

from __future__ import annotations

import threading

import pytest

from marketintel.ratelimit.memory import MemoryRateLimiter
from marketintel.ratelimit.models import Bucket

GENERAL = Bucket("general", rate_per_s=10, capacity=5)
EXPORTS = Bucket("exports", rate_per_s=1, capacity=1)


class ManualClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def limiter(clock: ManualClock) -> MemoryRateLimiter:
    return MemoryRateLimiter(clock=clock)


def test_a_fresh_bucket_admits_its_burst_then_refuses(limiter: MemoryRateLimiter) -> None:
    decisions = [limiter.acquire("acme", GENERAL) for _ in range(7)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 2
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0, 0]
    assert all(d.limit == 5 for d in decisions)
    assert [d.retry_after_s for d in decisions[:5]] == [0.0] * 5


def test_refused_requests_say_when_to_retry_and_when_the_bucket_is_full(
    limiter: MemoryRateLimiter, clock: ManualClock
) -> None:
    for _ in range(5):
        limiter.acquire("acme", GENERAL)
    clock.advance(0.04)  # 0.4 of a token back
    refused = limiter.acquire("acme", GENERAL)
    assert not refused.allowed
    assert refused.retry_after_s == pytest.approx(0.06)
    assert refused.reset_after_s == pytest.approx(0.46)
    # a request costing 3 waits for 3 tokens
    assert limiter.acquire("acme", GENERAL, cost=3).retry_after_s == pytest.approx(0.26)
    clock.advance(0.06)
    assert limiter.acquire("acme", GENERAL).allowed


def test_tokens_come_back_at_the_bucket_rate_and_never_beyond_its_capacity(
    limiter: MemoryRateLimiter, clock: ManualClock
) -> None:
    for _ in range(5):
        assert limiter.acquire("acme", GENERAL).allowed
    clock.advance(0.25)  # 2.5 tokens: two requests, not three
    assert [limiter.acquire("acme", GENERAL).allowed for _ in range(3)] == [True, True, False]
    clock.advance(3600)
    decisions = [limiter.acquire("acme", GENERAL) for _ in range(6)]
    assert sum(d.allowed for d in decisions) == 5


def test_keys_and_buckets_are_independent(limiter: MemoryRateLimiter) -> None:
    assert limiter.acquire("acme", EXPORTS).allowed
    assert not limiter.acquire("acme", EXPORTS).allowed
    assert limiter.acquire("globex", EXPORTS).allowed  # another tenant
    assert limiter.acquire("acme", GENERAL).remaining == 4  # another bucket of the same tenant


def test_a_cost_no_bucket_could_ever_admit_is_an_error(limiter: MemoryRateLimiter) -> None:
    with pytest.raises(ValueError, match="cost must be in"):
        limiter.acquire("acme", GENERAL, cost=6)
    with pytest.raises(ValueError, match="cost must be in"):
        limiter.acquire("acme", GENERAL, cost=0)
    assert limiter.acquire("acme", GENERAL, cost=5).allowed


def test_a_clock_stepping_back_refills_nothing(limiter: MemoryRateLimiter, clock: ManualClock) -> None:
    for _ in range(5):
        limiter.acquire("acme", GENERAL)
    clock.advance(-10)
    assert not limiter.acquire("acme", GENERAL).allowed
    clock.advance(10.1)  # back where it was, then one token's worth
    assert limiter.acquire("acme", GENERAL).allowed
    assert not limiter.acquire("acme", GENERAL).allowed


def test_threads_racing_for_one_bucket_never_over_admit(limiter: MemoryRateLimiter) -> None:
    bucket = Bucket("general", rate_per_s=10, capacity=100)
    admitted: list[int] = []
    start = threading.Barrier(8)

    def hammer() -> None:
        start.wait()
        admitted.append(sum(limiter.acquire("acme", bucket).allowed for _ in range(50)))

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(admitted) == 100  # the clock stands still: exactly the burst, of 400 tries


def test_buckets_idle_long_enough_to_fill_are_dropped(clock: ManualClock) -> None:
    limiter = MemoryRateLimiter(clock=clock, sweep_interval_s=60)
    slow = Bucket("exports", rate_per_s=0.001, capacity=1)  # 1000 s to refill
    for tenant in range(1000):
        limiter.acquire(f"tenant-{tenant}", GENERAL)
    limiter.acquire("acme", slow)
    assert limiter.buckets_held == 1001
    clock.advance(61)
    limiter.acquire("globex", GENERAL)
    # the general buckets filled again in 0.1 s and went; the slow one is still owed and kept
    assert limiter.buckets_held == 2
    assert not limiter.acquire("acme", slow).allowed
    assert limiter.acquire("tenant-7", GENERAL).remaining == 4  # a dropped bucket comes back full
