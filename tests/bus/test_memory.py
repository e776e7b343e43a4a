"""The in-process bus: NATS-style wildcards, a publisher no subscriber can hold up, sync and async readers."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from marketintel.bus.memory import MemoryBus
from marketintel.bus.models import Event, SlowSubscriber, check_pattern, subject_matches


def event(subject: str, n: int = 0) -> Event:
    return Event(subject, str(n).encode(), "text/plain")


def numbers(received: list) -> list[int]:
    return [int(r.event.payload) for r in received]


@pytest.mark.parametrize(
    ("pattern", "subject", "matches"),
    [
        ("prices.MISO.DA", "prices.MISO.DA", True),
        ("prices.MISO.DA", "prices.MISO.RT5", False),
        ("prices.*.RT5", "prices.ERCOT.RT5", True),
        ("prices.*.RT5", "prices.ERCOT.DA", False),
        ("prices.*", "prices.MISO.DA", False),  # * is exactly one token
        ("prices.>", "prices.MISO.DA", True),
        ("prices.>", "prices.MISO", True),
        ("prices.>", "prices", False),  # > is one token or more
        ("*.MISO.>", "prices.MISO.DA", True),
        (">", "prices.MISO.DA", True),
    ],
)
def test_subjects_match_like_nats(pattern: str, subject: str, matches: bool) -> None:
    assert subject_matches(pattern, subject) is matches


@pytest.mark.parametrize("pattern", ["", "prices..DA", "prices.>.DA", "prices.MI*", "prices.MISO DA"])
def test_malformed_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match="invalid subject"):
        check_pattern(pattern)


def test_events_reach_exactly_the_subscriptions_whose_pattern_matches() -> None:
    bus = MemoryBus()
    patterns = ["prices.>", "prices.*.RT5", "prices.MISO.DA", "prices.MISO.*", "weather.>"]
    subscriptions = {p: bus.subscribe(p) for p in patterns}
    subjects = ["prices.MISO.DA", "prices.MISO.RT5", "prices.ERCOT.RT5", "prices.ERCOT.DA"]
    for n, subject in enumerate(subjects):
        bus.publish(event(subject, n))
    got = {}
    for pattern, subscription in subscriptions.items():
        got[pattern] = []
        while (received := subscription.get(timeout=0)) is not None:
            got[pattern].append(received.event.subject)
    assert got == {
        "prices.>": subjects,
        "prices.*.RT5": ["prices.MISO.RT5", "prices.ERCOT.RT5"],
        "prices.MISO.DA": ["prices.MISO.DA"],
        "prices.MISO.*": ["prices.MISO.DA", "prices.MISO.RT5"],
        "weather.>": [],
    }


def test_a_subscriber_that_never_reads_never_blocks_publish_and_is_dropped() -> None:
    bus = MemoryBus(queue_size=1000)
    stalled = bus.subscribe("prices.>")  # never read while publishing
    keeping_up = bus.subscribe("prices.>", queue_size=20_000)
    started = time.perf_counter()
    for n in range(10_000):
        bus.publish(event("prices.MISO.RT5", n))
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0, f"10,000 publishes took {elapsed:.2f}s"
    # dropped once its 1,000-event queue was full: the publisher went on without it
    assert stalled.slow
    assert bus.subscribers == 1
    assert keeping_up.pending == 10_000
    assert not keeping_up.slow
    # it still gets what it had queued (no silent gap), then learns it was dropped
    first = [stalled.get(timeout=0) for _ in range(1000)]
    assert numbers(first) == list(range(1000))
    with pytest.raises(SlowSubscriber, match="fell 1000 events behind"):
        stalled.get(timeout=0)
    assert numbers(list(iter(lambda: keeping_up.get(timeout=0), None))) == list(range(10_000))


def test_a_subscriber_that_keeps_up_is_never_dropped() -> None:
    bus = MemoryBus(queue_size=100)
    subscription = bus.subscribe("prices.>")
    got = []
    for round_ in range(20):
        for n in range(100):  # a full queue's worth, read before the next round
            bus.publish(event("prices.MISO.DA", round_ * 100 + n))
        got.extend(iter(lambda: subscription.get(timeout=0), None))
    assert numbers(got) == list(range(2000))
    assert not subscription.slow


def test_a_reader_in_another_thread_gets_every_event_in_order() -> None:
    bus = MemoryBus()
    subscription = bus.subscribe("prices.MISO.>")
    got = []
    reader = threading.Thread(target=lambda: got.extend(subscription))  # ends when the subscription closes
    reader.start()
    for n in range(500):
        bus.publish(event("prices.MISO.DA", n))
        bus.publish(event("prices.PJM.DA", n))  # not for this reader
    deadline = time.monotonic() + 5
    while subscription.pending and time.monotonic() < deadline:
        time.sleep(0.01)
    subscription.close()
    reader.join(5)
    assert not reader.is_alive()
    assert numbers(got) == list(range(500))


def test_get_waits_at_most_its_timeout() -> None:
    subscription = MemoryBus().subscribe("prices.>")
    started = time.perf_counter()
    assert subscription.get(timeout=0.2) is None
    assert 0.15 < time.perf_counter() - started < 1.0


def test_an_async_subscription_receives_events_published_from_sync_code() -> None:
    bus = MemoryBus()

    async def main() -> list[int]:
        subscription = bus.subscribe("prices.*.RT5")
        loop = asyncio.get_running_loop()

        def publish() -> None:  # ingestion: another thread, sync code
            for n in range(200):
                bus.publish(event("prices.ERCOT.RT5", n))
                bus.publish(event("prices.ERCOT.DA", n))
            time.sleep(0.05)
            subscription.close()  # ends the async iteration once the queue is read

        publisher = loop.run_in_executor(None, publish)
        got = [int(received.event.payload) async for received in subscription]
        await publisher
        return got

    assert asyncio.run(asyncio.wait_for(main(), 10)) == list(range(200))


def test_an_async_subscriber_that_falls_behind_is_told_so() -> None:
    bus = MemoryBus(queue_size=10)

    subscription = bus.subscribe("prices.>")
    for n in range(50):  # the reader is not running while we publish: it falls behind
        bus.publish(event("prices.MISO.DA", n))
    got: list[int] = []

    async def read() -> None:
        async for received in subscription:
            got.append(int(received.event.payload))

    with pytest.raises(SlowSubscriber, match="dropped"):
        asyncio.run(asyncio.wait_for(read(), 10))
    assert got == list(range(10))  # what it had queued, then the news that it was dropped


def test_closing_the_bus_ends_every_subscription() -> None:
    bus = MemoryBus()
    subscriptions = [bus.subscribe("prices.>"), bus.subscribe("prices.MISO.DA")]
    bus.close()
    assert bus.subscribers == 0
    assert all(s.closed and s.get(timeout=1) is None for s in subscriptions)
    assert list(subscriptions[0]) == []


def test_events_are_published_on_subjects_without_wildcards() -> None:
    with pytest.raises(ValueError, match="without wildcards"):
        MemoryBus().publish(event("prices.*.DA"))
