"""WS /api/v1/stream: only what the tenant is entitled to, on its channel; slow clients dropped."""

from __future__ import annotations

import asyncio
import datetime as dt

import orjson
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from marketintel.api.stream import QUEUE_LIMIT, Connection, Fanout
from marketintel.auth.models import Principal
from marketintel.bus.models import encode_prices
from marketintel.bus.service import open_bus
from marketintel.config import Settings
from marketintel.store.models import PRICES
from tests.gateway.world import HUBS, Credential

STREAM = "/api/v1/stream"


def interval(market: str, minute: int) -> pa.Table:
    start = dt.datetime(2026, 11, 3, 12, minute, tzinfo=dt.UTC)
    return pa.table(
        {
            "market": [market],
            "location": [HUBS[market]],
            "run": ["RT5"],
            "interval_start": [start],
            "interval_minutes": [5],
            "lmp": [30.0 + minute],
            "energy": [29.0],
            "congestion": [0.5 + minute],
            "loss": [0.5],
            "knowledge_time": [start + dt.timedelta(minutes=6)],
            "source": ["test"],
            "source_file_sha256": [None],
        },
        schema=PRICES.schema,
    )


def publish(settings: Settings, table: pa.Table) -> None:
    bus = open_bus(settings.bus_url)  # the same in-process bus the gateway reads
    for event in encode_prices(table):
        bus.publish(event)


def of(callers: dict[str, list[Credential]], tenant: str, kind: str) -> Credential:
    return next(c for c in callers[tenant] if c.kind == kind)


def ask(ws: object, message: dict[str, object]) -> dict[str, object]:
    ws.send_text(orjson.dumps(message).decode())  # type: ignore[attr-defined]
    return orjson.loads(ws.receive_text())  # type: ignore[attr-defined]


def next_prices(ws: object) -> dict[str, object]:
    while True:
        message = orjson.loads(ws.receive_text())  # type: ignore[attr-defined]
        if message["type"] == "prices":
            return message


def test_entitled_subscriber_receives_new_intervals_and_nothing_else(
    client: TestClient, world: Settings, callers: dict[str, list[Credential]]
) -> None:
    hub = of(callers, "pilot_caiso", "session")
    with client.websocket_connect(STREAM, headers=hub.headers) as caiso:
        reply = ask(caiso, {"op": "subscribe", "markets": ["CAISO"]})
        assert reply == {"type": "subscribed", "markets": ["CAISO"], "instruments": [], "runs": []}
        refused = ask(caiso, {"op": "subscribe", "markets": ["MISO"]})
        assert refused["type"] == "error"
        assert refused["status"] == 403
        publish(world, interval("MISO", 5))  # not for this client: never delivered
        publish(world, interval("CAISO", 10))
        received = next_prices(caiso)
        assert received["market"] == "CAISO"
        assert received["rows"] == [
            {
                "instrument": f"CAISO:{HUBS['CAISO']}",
                "interval_start": "2026-11-03T12:10:00Z",
                "interval_minutes": 5,
                "lmp": 40.0,
                "energy": 29.0,
                "congestion": 10.5,
                "loss": 0.5,
            }
        ]


def test_caiso_pilot_api_credential_cannot_subscribe_and_receives_nothing(
    client: TestClient, world: Settings, callers: dict[str, list[Credential]]
) -> None:
    api_key = of(callers, "pilot_caiso", "apikey")
    miso = of(callers, "pilot_miso", "apikey")
    with (
        client.websocket_connect(STREAM, headers=api_key.headers) as blocked,
        client.websocket_connect(STREAM, headers=miso.headers) as witness,
    ):
        refused = ask(blocked, {"op": "subscribe", "markets": ["CAISO"]})
        assert refused["status"] == 403
        assert "api channel" in str(refused["detail"])
        assert ask(witness, {"op": "subscribe", "markets": ["MISO"]})["type"] == "subscribed"
        publish(world, interval("CAISO", 15))
        publish(world, interval("MISO", 20))
        # the witness got the later event, so the fan-out has handled the CAISO one for every connection:
        # had it leaked to `blocked`, it would now be queued ahead of the reply below
        assert next_prices(witness)["market"] == "MISO"
        assert ask(blocked, {"op": "unsubscribe", "markets": []})["type"] == "subscribed"


def test_instrument_subscription_filters_rows(
    client: TestClient, world: Settings, callers: dict[str, list[Credential]]
) -> None:
    miso = of(callers, "pilot_miso", "bearer")
    wanted = f"MISO:{HUBS['MISO']}"
    with client.websocket_connect(STREAM, headers=miso.headers) as ws:
        assert ask(ws, {"op": "subscribe", "instruments": [wanted], "runs": ["RT5"]})["instruments"] == [
            wanted
        ]
        publish(world, interval("MISO", 25))
        assert [r["instrument"] for r in next_prices(ws)["rows"]] == [wanted]  # type: ignore[index]


def test_unauthenticated_and_outsider_connections(
    client: TestClient, callers: dict[str, list[Credential]]
) -> None:
    with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect(STREAM) as ws:
        ws.receive_text()
    assert closed.value.code == 4401
    outsider = of(callers, "outsider", "session")
    with client.websocket_connect(STREAM, headers=outsider.headers) as ws:
        assert ask(ws, {"op": "subscribe", "markets": ["MISO"]})["status"] == 403
        assert ask(ws, {"op": "hello"})["status"] == 400
        assert ask(ws, {"op": "subscribe", "markets": ["NOWHERE"]})["status"] == 422


def test_a_slow_connection_is_dropped_without_holding_up_the_others(world: Settings) -> None:
    """The fan-out itself: a connection whose queue is full is marked dropped; the others still get
    every event, and the publisher never waits."""
    from marketintel.entitlements.service import Entitlements
    from marketintel.metadata.service import engine_for, session_factory

    engine = engine_for(world.metadata_url)
    fanout = Fanout(open_bus(world.bus_url), Entitlements(session_factory(engine)))

    def subscriber() -> Connection:
        principal = Principal("x@pilot-miso.example", "pilot_miso", "analyst", "api", "token")
        connection = Connection(principal, "api", markets={"MISO"})
        fanout.connections.add(connection)
        return connection

    async def scenario() -> tuple[Connection, Connection, int]:
        slow, fast = subscriber(), subscriber()
        taken = 0
        for minute in range(QUEUE_LIMIT + 10):
            fanout.publish("prices.MISO.RT5", interval("MISO", minute % 60))
            while not fast.queue.empty():  # the fast client keeps up; the slow one never reads
                fast.queue.get_nowait()
                taken += 1
        return slow, fast, taken

    try:
        slow, fast, taken = asyncio.run(scenario())
    finally:
        engine.dispose()
    assert slow.dropped
    assert not fast.dropped
    assert taken == QUEUE_LIMIT + 10
    assert fanout.dropped == 1
