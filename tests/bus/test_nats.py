"""The JetStream bus against the real NATS server at 127.0.0.1:4222: acks, durable consumers, redelivery,
de-duplication. Each test has a stream and subject prefix of its own, deleted at its end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from marketintel.bus.models import BusUnavailable, decode_prices, encode_prices
from marketintel.bus.nats import NatsBus
from tests.bus import SilentServer, nats_bus, price_rows
from tests.helpers import free_port


@pytest.fixture
def bus() -> Iterator[NatsBus]:
    with nats_bus() as bus:
        yield bus


def test_published_events_are_acked_and_a_durable_consumer_gets_them_once(bus: NatsBus) -> None:
    events = encode_prices(price_rows("MISO", "DA")) + encode_prices(price_rows("MISO", "RT5"))
    acks = [bus.publish(e) for e in events]
    assert [(a.stream, a.sequence, a.duplicate) for a in acks] == [
        (bus.stream, 1, False),
        (bus.stream, 2, False),
    ]
    with bus.subscribe("prices.>", durable="gateway", ack_wait=5) as subscription:
        got = [subscription.get(timeout=5) for _ in events]
        assert all(r is not None and r.delivered == 1 for r in got)
        assert [r.event.subject for r in got if r] == ["prices.MISO.DA", "prices.MISO.RT5"]
        assert [r.event.message_id for r in got if r] == [e.message_id for e in events]
        for received, sent in zip(got, events, strict=True):
            assert received is not None
            assert decode_prices(received.event).equals(decode_prices(sent))
            received.ack()
        assert subscription.get(timeout=0.5) is None
    # the durable consumer kept its place: a new subscription under its name starts after the acked ones
    bus.publish(encode_prices(price_rows("MISO", "DA", seed=2))[0])
    with bus.subscribe("prices.>", durable="gateway", ack_wait=5) as again:
        received = again.get(timeout=5)
        assert received is not None
        assert received.event.subject == "prices.MISO.DA"
        assert received.event.message_id != events[0].message_id
        received.ack()
        assert again.get(timeout=0.5) is None


def test_an_unacked_event_is_redelivered_after_ack_wait(bus: NatsBus) -> None:
    [event] = encode_prices(price_rows())
    bus.publish(event)
    with bus.subscribe("prices.MISO.DA", durable="slow-reader", ack_wait=1.0) as subscription:
        first = subscription.get(timeout=5)
        assert first is not None
        assert first.delivered == 1
        # not acked: nothing more until ack_wait has passed, then the same event again
        assert subscription.get(timeout=0.3) is None
        again = subscription.get(timeout=5)
        assert again is not None
        assert (again.event.message_id, again.delivered) == (event.message_id, 2)
        again.ack()
        assert subscription.get(timeout=1.5) is None  # acked: never again


def test_redelivery_stops_after_max_deliver(bus: NatsBus) -> None:
    bus.publish(encode_prices(price_rows())[0])
    with bus.subscribe("prices.>", ack_wait=0.5, max_deliver=2) as subscription:
        deliveries = [r.delivered for r in iter(lambda: subscription.get(timeout=1.5), None)]
    assert deliveries == [1, 2]


def test_a_nak_asks_for_the_event_again_at_once(bus: NatsBus) -> None:
    bus.publish(encode_prices(price_rows())[0])
    with bus.subscribe("prices.>", ack_wait=30) as subscription:
        first = subscription.get(timeout=5)
        assert first is not None
        first.nak()
        again = subscription.get(timeout=2)
        assert again is not None
        assert again.delivered == 2
        again.ack()


def test_a_republished_message_id_is_dropped_as_a_duplicate(bus: NatsBus) -> None:
    [event] = encode_prices(price_rows())
    first = bus.publish(event)
    second = bus.publish(event)  # an outbox drained twice, a publish whose ack was lost
    assert not first.duplicate
    assert second.duplicate
    assert second.sequence == first.sequence
    with bus.subscribe("prices.>") as subscription:
        received = subscription.get(timeout=5)
        assert received is not None
        received.ack()
        assert subscription.get(timeout=0.5) is None


def test_wildcard_subscriptions_get_only_their_subjects(bus: NatsBus) -> None:
    for market, run in [("MISO", "DA"), ("MISO", "RT5"), ("ERCOT", "RT5"), ("PJM", "DA")]:
        bus.publish(encode_prices(price_rows(market, run))[0])
    with bus.subscribe("prices.*.RT5") as subscription:
        subjects = []
        for received in iter(lambda: subscription.get(timeout=0.5), None):
            subjects.append(received.event.subject)
            received.ack()
    assert subjects == ["prices.MISO.RT5", "prices.ERCOT.RT5"]


def test_an_async_reader_gets_events_as_they_are_published(bus: NatsBus) -> None:
    events = [encode_prices(price_rows("MISO", "RT5", seed=s))[0] for s in range(5)]

    async def main() -> list[str | None]:
        subscription = bus.subscribe("prices.MISO.*", deliver_new=True)
        loop = asyncio.get_running_loop()
        publishing = loop.run_in_executor(None, lambda: [bus.publish(e) for e in events])
        got = []
        async for received in subscription:
            got.append(received.event.message_id)
            await received.ack_async()
            if len(got) == len(events):
                break
        subscription.close()
        await publishing
        return got

    assert asyncio.run(asyncio.wait_for(main(), 20)) == [e.message_id for e in events]


def test_an_unreachable_server_fails_fast_and_is_not_retried_at_once() -> None:
    [event] = encode_prices(price_rows())
    with NatsBus(f"nats://127.0.0.1:{free_port()}", retry_after=30) as down:
        started = time.perf_counter()
        with pytest.raises(BusUnavailable, match="unreachable"):
            down.publish(event)
        with pytest.raises(BusUnavailable, match="next attempt in"):
            down.publish(event)
        assert time.perf_counter() - started < 1.5


def test_a_server_that_never_acks_costs_a_publisher_its_timeout_and_no_more() -> None:
    [event] = encode_prices(price_rows())
    server = SilentServer()
    try:
        with NatsBus(server.url) as hung:
            started = time.perf_counter()
            with pytest.raises(BusUnavailable):
                hung.publish(event, timeout=0.5)
            assert time.perf_counter() - started < 1.0
    finally:
        server.close()
