"""WS /api/v1/stream: new price intervals pushed to subscribers as ingestion commits them.

One `Fanout` per gateway process reads the bus (`prices.>`) and hands each event to the connections that
asked for its market or instruments — after checking, on every delivery, that the connection's tenant is
still entitled to that market on its channel. Each connection has a bounded queue; a client that lets it
fill is dropped (close code 4008), so a slow client never holds up the bus reader or anyone else.

Protocol (JSON text frames):
  → {"op": "subscribe", "markets": ["MISO"], "instruments": ["CAISO:TH_NP15_GEN-APND"], "runs": ["RT5"]}
  → {"op": "unsubscribe", "markets": [...], "instruments": [...]}
  ← {"type": "subscribed", "markets": [...], "instruments": [...], "runs": [...]}
  ← {"type": "error", "status": 403, "detail": "..."}   (nothing of a refused request is subscribed)
  ← {"type": "prices", "market": "MISO", "run": "RT5", "rows": [{instrument, interval_start, …}]}
  ← {"type": "heartbeat", "t": "…Z"} every HEARTBEAT seconds
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from marketintel.api.params import INSTRUMENT_SEPARATOR, instrument_id
from marketintel.api.problems import Problem
from marketintel.api.responses import iso_z
from marketintel.api.security import Gate
from marketintel.auth.models import AuthenticationError, Principal
from marketintel.auth.service import SESSION_COOKIE
from marketintel.bus.models import PRICES_SUBJECTS, Bus, BusError, decode_prices
from marketintel.catalog.markets import MARKETS
from marketintel.entitlements.service import Entitlements

log = logging.getLogger(__name__)
router = APIRouter(tags=["stream"])

HEARTBEAT = 15.0  # seconds
QUEUE_LIMIT = 256  # messages a connection may fall behind before it is dropped
SLOW_CLOSE = 4008
VALUES = ("interval_minutes", "lmp", "energy", "congestion", "loss")


@dataclass(eq=False)
class Connection:
    principal: Principal
    channel: str
    markets: set[str] = field(default_factory=set)
    instruments: set[str] = field(default_factory=set)
    runs: set[str] = field(default_factory=set)  # empty: every run
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    dropped: bool = False

    def wants(self, market: str, run: str) -> bool:
        if self.runs and run not in self.runs:
            return False
        return market in self.markets or any(
            i.startswith(market + INSTRUMENT_SEPARATOR) for i in self.instruments
        )


def _rows(market: str, table: pa.Table) -> list[dict[str, Any]]:
    starts = iso_z(table.column("interval_start"))
    instruments = [instrument_id(market, loc) for loc in table.column("location").to_pylist()]
    columns = [table.column(v).to_pylist() for v in VALUES]
    names = ("instrument", "interval_start", *VALUES)
    return [dict(zip(names, row, strict=True)) for row in zip(instruments, starts, *columns, strict=True)]


class Fanout:
    """Bus → connections, for one process."""

    def __init__(
        self,
        bus: Bus,
        entitlements: Entitlements,
        on_event: Callable[[str, str], None] | None = None,
        on_gap: Callable[[], None] | None = None,
    ) -> None:
        self.bus = bus
        self.on_event = on_event  # told of every (market, run) with new data: snapshots drop theirs
        # told when events may have been missed (each (re)subscription starts from new events only)
        self.on_gap = on_gap
        self.entitlements = entitlements
        self.connections: set[Connection] = set()
        self.delivered = 0
        self.dropped = 0
        self._task: asyncio.Task[None] | None = None
        self._beat: asyncio.Task[None] | None = None
        self.running = False

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._run(), name="stream-fanout")
        self._beat = loop.create_task(self._heartbeats(), name="stream-heartbeats")

    async def _heartbeats(self) -> None:
        """One timer for every connection: a heartbeat into each queue every HEARTBEAT seconds."""
        while True:
            await asyncio.sleep(HEARTBEAT)
            beat = orjson.dumps(
                {"type": "heartbeat", "t": dt.datetime.now(dt.UTC)}, option=orjson.OPT_UTC_Z
            ).decode()
            for connection in list(self.connections):
                try:
                    connection.queue.put_nowait(beat)
                except asyncio.QueueFull:
                    connection.dropped = True
                    self.dropped += 1

    async def stop(self) -> None:
        for task in (self._task, self._beat):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _subscribe(self) -> Any:
        try:  # JetStream: only what is published from now on, not the stream's history
            return self.bus.subscribe(PRICES_SUBJECTS, deliver_new=True)  # type: ignore[call-arg]
        except TypeError:
            return self.bus.subscribe(PRICES_SUBJECTS)

    async def _run(self) -> None:
        while True:
            try:
                subscription = await run_in_threadpool(self._subscribe)
            except BusError as exc:
                log.warning("stream: bus unavailable (%s); retrying in 2 s", exc)
                self.running = False
                await asyncio.sleep(2)
                continue
            self.running = True
            if self.on_gap is not None:
                self.on_gap()
            try:
                async for received in subscription:
                    self.publish(received.event.subject, decode_prices(received.event))
                    await received.ack_async()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a dropped bus subscription, a bad event: resubscribe, keep serving
                log.warning("stream: bus subscription ended (%s); resubscribing", exc)
                self.running = False
                await asyncio.sleep(0.5)
            finally:
                subscription.close()

    def publish(self, subject: str, table: pa.Table) -> None:
        """Hand the rows of one (market, run) event to every connection that wants and may see them."""
        _, market, run = subject.split(".", 2)
        if self.on_event is not None:
            self.on_event(market, run)
        targets = [c for c in self.connections if not c.dropped and c.wants(market, run)]
        if not targets:
            return
        whole: str | None = None
        allowed: dict[tuple[str, str], bool] = {}  # (tenant, channel): one check each per event
        for connection in targets:
            who = (connection.principal.tenant, connection.channel)
            if who not in allowed:
                allowed[who] = self.entitlements.allowed(who[0], market, "prices", who[1])
            if not allowed[who]:
                continue
            if market in connection.markets:
                if whole is None:
                    # encoded once for every subscriber of the market: 500 clients share one string
                    whole = orjson.dumps(
                        {"type": "prices", "market": market, "run": run, "rows": _rows(market, table)}
                    ).decode()
                message = whole
            else:
                wanted = [
                    i.split(INSTRUMENT_SEPARATOR, 1)[1]
                    for i in connection.instruments
                    if i.startswith(market + INSTRUMENT_SEPARATOR)
                ]
                part = table.filter(pc.is_in(table.column("location"), pa.array(wanted, pa.string())))
                if not part.num_rows:
                    continue
                message = orjson.dumps(
                    {"type": "prices", "market": market, "run": run, "rows": _rows(market, part)}
                ).decode()
            try:
                connection.queue.put_nowait(message)
                self.delivered += 1
            except asyncio.QueueFull:
                connection.dropped = True
                self.dropped += 1


def _markets_of(request: dict[str, Any]) -> tuple[set[str], set[str], set[str]]:
    markets = {str(m) for m in request.get("markets") or []}
    instruments = {str(i) for i in request.get("instruments") or []}
    runs = {str(r) for r in request.get("runs") or []}
    unknown = sorted(
        m for m in markets | {i.partition(INSTRUMENT_SEPARATOR)[0] for i in instruments} if m not in MARKETS
    )
    if unknown:
        raise Problem(422, f"unknown market(s): {', '.join(unknown)}")
    return markets, instruments, runs


def _handle(connection: Connection, gate: Gate, text: str) -> dict[str, Any]:
    try:
        request = orjson.loads(text)
        if not isinstance(request, dict):
            raise ValueError("a message must be a JSON object")
    except ValueError as exc:
        return {"type": "error", "status": 400, "detail": f"not a JSON object: {exc}"}
    op = request.get("op")
    try:
        markets, instruments, runs = _markets_of(request)
    except Problem as problem:
        return {"type": "error", "status": problem.status, "detail": problem.detail}
    if op == "subscribe":
        for market in sorted(markets | {i.partition(INSTRUMENT_SEPARATOR)[0] for i in instruments}):
            if not gate.entitlements.allowed(
                connection.principal.tenant, market, "prices", connection.channel
            ):
                return {
                    "type": "error",
                    "status": 403,
                    "detail": f"the {connection.channel} channel of tenant {connection.principal.tenant} "
                    f"is not entitled to {market} prices",
                    "market": market,
                }
        connection.markets |= markets
        connection.instruments |= instruments
        connection.runs |= runs
    elif op == "unsubscribe":
        connection.markets -= markets
        connection.instruments -= instruments
        connection.runs -= runs
    else:
        return {"type": "error", "status": 400, "detail": f"unknown op {op!r}; use subscribe or unsubscribe"}
    return {
        "type": "subscribed",
        "markets": sorted(connection.markets),
        "instruments": sorted(connection.instruments),
        "runs": sorted(connection.runs),
    }


async def _authenticate(websocket: WebSocket, gate: Gate) -> Principal:
    """Headers (API clients), the session cookie (the hub), or ?access_token= / ?api_key= (browsers
    cannot set headers on a WebSocket)."""
    authorization = websocket.headers.get("authorization")
    token = websocket.query_params.get("access_token")
    if token and not authorization:
        authorization = f"Bearer {token}"
    api_key = websocket.headers.get("x-api-key") or websocket.query_params.get("api_key")
    cookie = websocket.cookies.get(SESSION_COOKIE)
    return await run_in_threadpool(
        gate.authenticator.authenticate, authorization=authorization, api_key=api_key, session_cookie=cookie
    )


@router.websocket("/stream")
async def stream(websocket: WebSocket) -> None:
    gate: Gate = websocket.app.state.gate
    fanout: Fanout = websocket.app.state.fanout
    try:
        principal = await _authenticate(websocket, gate)
    except AuthenticationError as refused:
        await websocket.close(code=4401, reason=f"unauthenticated: {refused.detail}"[:120])
        return
    await websocket.accept()
    connection = Connection(principal, principal.channel)
    fanout.connections.add(connection)

    async def send() -> None:
        while True:
            # a plain get: no per-message timer (heartbeats come through the queue from the fan-out)
            message = await connection.queue.get()
            if connection.dropped:
                await websocket.close(code=SLOW_CLOSE, reason="too slow: fell behind the stream")
                return
            await websocket.send_text(message)

    sender = asyncio.create_task(send())
    try:
        while True:
            receive = asyncio.create_task(websocket.receive_text())
            done, _ = await asyncio.wait({receive, sender}, return_when=asyncio.FIRST_COMPLETED)
            if sender in done:
                receive.cancel()
                break
            reply = _handle(connection, gate, receive.result())
            with contextlib.suppress(asyncio.QueueFull):  # a full queue means the client is being dropped
                connection.queue.put_nowait(orjson.dumps(reply).decode())
    except WebSocketDisconnect:
        pass
    finally:
        fanout.connections.discard(connection)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
