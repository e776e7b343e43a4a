"""Stream latency benchmark: bus publish → WebSocket client receive, many clients on one gateway.

    python -m bench.stream_latency                   # 500 clients, 60 events a second apart
    python -m bench.stream_latency --quick           # 100 clients, 15 events
    python -m bench.stream_latency --clients 200 --events 30 --rows 50

It serves a small demo data directory (`marketintel demo --days 1 --no-serve`: the pilot tenants and
their API keys) with `marketintel serve` on a free 127.0.0.1 port, its bus on the NATS JetStream at
127.0.0.1:4222 under a stream and subject prefix of its own (deleted afterwards). N WebSocket clients (the
MISO pilot's API key, in this process; a minimal RFC 6455 client by default, the websockets library
with --client websockets) subscribe to MISO; then this process publishes events on the bus as
ingestion does (`encode_prices`, `bus.publish`), each the RT5 interval of `--rows` MISO locations with an
interval start of its own, so every client maps what it receives back to the moment it was published,
on this process's one clock. Reported: publish → receive latency over every (client, event), per-event
spread, messages lost, duplicated, clients dropped, JetStream's publish ack time, the CPU used, and how late
this process's own event loop ran (a bound on what the measurement itself adds).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import importlib.metadata
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from rich.console import Console
from rich.table import Table
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bench.common import latency_stats, load_average, machine_info, write_results
from bench.gateway_load import HOST, TENANT, CpuSampler, GatewayServer, ensure_demo, wait_for_quiet
from marketintel.bus.models import Bus, Event, encode_prices
from marketintel.bus.service import open_bus
from marketintel.store.models import PRICES

UTC = dt.UTC
MARKET, RUN = "MISO", "RT5"
NATS = "nats://127.0.0.1:4222"
TARGET_P95_MS = 50.0
# each event is one interval of its own; far from the demo's data, so nothing in the store is confused
FIRST_INTERVAL = dt.datetime(2031, 1, 1, tzinfo=UTC)
STEP = dt.timedelta(minutes=5)
MARKER = b'"interval_start":"'
CONNECT_AT_ONCE = 50  # clients opening their connection at the same time
SUBSCRIBE = f'{{"op":"subscribe","markets":["{MARKET}"],"runs":["{RUN}"]}}'
CLIENT_KINDS = ("raw", "websockets")

console = Console(stderr=True)


# --- the events -------------------------------------------------------------------------------------


def interval_key(i: int) -> bytes:
    """The interval start of event `i` as the gateway writes it in its JSON."""
    return (FIRST_INTERVAL + i * STEP).strftime("%Y-%m-%dT%H:%M:%SZ").encode()


def price_events(count: int, rows: int) -> list[list[Event]]:
    """`count` events, each the RT5 interval `i` of `rows` MISO locations, encoded as ingestion does."""
    locations = [f"BENCH.N{j:04d}" for j in range(rows)]
    rng = np.random.default_rng(7)
    out = []
    for i in range(count):
        start = FIRST_INTERVAL + i * STEP
        energy = np.round(rng.normal(30.0, 2.0), 2)
        congestion = np.round(rng.normal(0.0, 3.0, rows), 2)
        loss = np.round(rng.normal(0.0, 0.5, rows), 2)
        table = pa.table(
            {
                "market": [MARKET] * rows,
                "location": locations,
                "run": [RUN] * rows,
                "interval_start": [start] * rows,
                "interval_minutes": [5] * rows,
                "lmp": np.round(energy + congestion + loss, 2),
                "energy": [energy] * rows,
                "congestion": congestion,
                "loss": loss,
                "knowledge_time": [start + STEP + dt.timedelta(seconds=40)] * rows,
                "source": ["bench-stream"] * rows,
                "source_file_sha256": [None] * rows,
            },
            schema=PRICES.schema,
        )
        out.append(encode_prices(table))
    return out


# --- the clients ----------------------------------------------------------------------------------------


@dataclass
class Client:
    index: int
    received: dict[int, float] = field(default_factory=dict)  # event → perf_counter when received
    duplicates: int = 0
    other: int = 0  # messages that are neither prices nor heartbeats
    subscribed: bool = False
    closed_code: int | None = None
    error: str | None = None


async def open_client(
    url: str, api_key: str, client: Client, compression: str | None
) -> ClientConnection | None:
    try:
        ws = await connect(
            url,
            additional_headers={"X-API-Key": api_key},
            compression=compression,
            proxy=None,
            open_timeout=30,
            max_size=2**24,
            max_queue=None,
        )
        await ws.send(SUBSCRIBE)
        reply = await asyncio.wait_for(ws.recv(decode=False), 30)
        client.subscribed = reply.startswith(b'{"type":"subscribed"')
        if not client.subscribed:
            client.error = f"subscribe refused: {reply[:200]!r}"
        return ws
    except (OSError, TimeoutError, InvalidStatus, ConnectionClosed) as exc:
        client.error = f"{type(exc).__name__}: {exc}"
        return None


async def read(ws: ClientConnection, client: Client, keys: dict[bytes, int]) -> None:
    """Note when each event arrives: the clock is read first, the event found by its interval start."""
    try:
        while True:
            message = await ws.recv(decode=False)
            now = time.perf_counter()
            at = message.find(MARKER)
            if at < 0:
                if not message.startswith(b'{"type":"heartbeat"'):
                    client.other += 1
                continue
            start = at + len(MARKER)
            event = keys.get(message[start : start + 20])
            if event is None:
                client.other += 1
            elif event in client.received:
                client.duplicates += 1
            else:
                client.received[event] = now
    except ConnectionClosed as closed:
        client.closed_code = closed.rcvd.code if closed.rcvd else None
    except asyncio.CancelledError:
        pass


WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455: what the accept header is derived with
CLOSE, PING, TEXT = 0x8, 0x9, 0x1


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """One client frame (clients must mask); payloads here are small control and subscribe messages."""
    mask = os.urandom(4)
    n = len(payload)
    length = bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big")
    return bytes([0x80 | opcode]) + length + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class RawClient(asyncio.Protocol):
    """A minimal RFC 6455 client on a plain asyncio protocol: the upgrade, then unmasked server frames
    parsed in place and each price event found by its interval start, the clock read as its last bytes
    arrive. A WebSocket library spends ~0.1 ms of Python per 30 kB message, so 500 clients of one in this
    process cost about as much CPU per event as the server's whole fan-out — the benchmark measured
    itself. This costs a few microseconds per message (`--client websockets` runs the library instead)."""

    def __init__(self, client: Client, key: bytes, keys: dict[bytes, int]) -> None:
        loop = asyncio.get_running_loop()
        self.client, self.key, self.keys = client, key, keys
        self.buffer = bytearray()
        self.upgraded: asyncio.Future[None] = loop.create_future()
        self.subscribed: asyncio.Future[bytes] = loop.create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        for waiter in (self.upgraded, self.subscribed):
            if not waiter.done():
                waiter.set_exception(ConnectionError(f"connection lost: {exc}"))

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.buffer += data
        if not self.upgraded.done():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1")
            del self.buffer[: end + 4]
            accept = base64.b64encode(hashlib.sha1(self.key + WS_GUID).digest()).decode()
            if not head.startswith("HTTP/1.1 101") or accept not in head:
                self.upgraded.set_exception(ConnectionError(f"upgrade refused: {head.splitlines()[0]}"))
                return
            self.upgraded.set_result(None)
        self._frames(now)

    def _frames(self, now: float) -> None:
        buf, pos = self.buffer, 0
        while len(buf) - pos >= 2:
            opcode, length, head = buf[pos] & 0x0F, buf[pos + 1] & 0x7F, 2
            if length == 126:
                if len(buf) - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if len(buf) - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if len(buf) - pos < head + length:
                break
            self._message(opcode, pos + head, pos + head + length, now)
            pos += head + length
        del buf[:pos]

    def _message(self, opcode: int, start: int, end: int, now: float) -> None:
        buf, client = self.buffer, self.client
        if opcode == TEXT:
            if not self.subscribed.done():
                self.subscribed.set_result(bytes(buf[start:end]))
                return
            at = buf.find(MARKER, start, end)
            if at < 0:
                if not buf.startswith(b'{"type":"heartbeat"', start):
                    client.other += 1
                return
            key = bytes(buf[at + len(MARKER) : at + len(MARKER) + 20])
            event = self.keys.get(key)
            if event is None:
                client.other += 1
            elif event in client.received:
                client.duplicates += 1
            else:
                client.received[event] = now
        elif opcode == CLOSE:
            client.closed_code = int.from_bytes(buf[start : start + 2], "big") if end - start >= 2 else 1005
            if self.transport is not None:
                self.transport.close()
        elif opcode == PING and self.transport is not None:
            self.transport.write(masked_frame(0xA, bytes(buf[start:end])))
        else:
            client.other += 1

    async def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(masked_frame(CLOSE, (1000).to_bytes(2, "big")))
            self.transport.close()


async def open_raw(port: int, api_key: str, client: Client, keys: dict[bytes, int]) -> RawClient | None:
    """Connect, upgrade and subscribe one `RawClient`; None (and `client.error`) if any step fails."""
    key = base64.b64encode(os.urandom(16))
    try:
        _, protocol = await asyncio.get_running_loop().create_connection(
            lambda: RawClient(client, key, keys), HOST, port
        )
        assert protocol.transport is not None
        protocol.transport.write(
            (
                f"GET /api/v1/stream HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n"
                f"X-API-Key: {api_key}\r\n\r\n"
            ).encode()
        )
        await asyncio.wait_for(protocol.upgraded, 30)
        protocol.transport.write(masked_frame(TEXT, SUBSCRIBE.encode()))
        reply = await asyncio.wait_for(protocol.subscribed, 30)
        client.subscribed = reply.startswith(b'{"type":"subscribed"')
        if not client.subscribed:
            client.error = f"subscribe refused: {reply[:200]!r}"
        return protocol
    except (OSError, TimeoutError, ConnectionError) as exc:
        client.error = f"{type(exc).__name__}: {exc}"
        return None


async def loop_lag(samples: list[float], stop: asyncio.Event, every: float = 0.01) -> None:
    """How late this process's event loop wakes up: what the clients' own scheduling adds to a latency."""
    while not stop.is_set():
        planned = time.perf_counter() + every
        await asyncio.sleep(every)
        samples.append(max(0.0, time.perf_counter() - planned))


# --- the publisher ----------------------------------------------------------------------------------------


@dataclass
class Published:
    at: dict[int, float] = field(default_factory=dict)  # event → perf_counter just before publish
    ack_s: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def publish_all(bus: Bus, events: list[list[Event]], interval: float, out: Published) -> None:
    """Publish the events `interval` seconds apart (in a thread: `publish` waits for JetStream's ack)."""
    next_at = time.perf_counter()
    for i, parts in enumerate(events):
        delay = next_at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        next_at += interval
        out.at[i] = time.perf_counter()
        try:
            for event in parts:
                bus.publish(event, 5.0)
            out.ack_s.append(time.perf_counter() - out.at[i])
        except Exception as exc:  # recorded: the clients then miss this event, which the report shows
            out.failures.append(f"event {i}: {type(exc).__name__}: {exc}")


# --- one run ------------------------------------------------------------------------------------------------


@dataclass
class Params:
    clients: int
    events: int
    interval_s: float
    rows: int
    compression: str | None
    settle_s: float
    client: str = "raw"  # one of CLIENT_KINDS


async def run_clients(
    server: GatewayServer, api_key: str, bus: Bus, params: Params, sampler: CpuSampler
) -> dict[str, Any]:
    url = f"ws://{HOST}:{server.port}/api/v1/stream"
    clients = [Client(i) for i in range(params.clients)]
    gate = asyncio.Semaphore(CONNECT_AT_ONCE)

    keys = {interval_key(i): i for i in range(params.events)}

    async def opened(client: Client) -> ClientConnection | RawClient | None:
        async with gate:
            if params.client == "raw":
                return await open_raw(server.port, api_key, client, keys)
            return await open_client(url, api_key, client, params.compression)

    t0 = time.perf_counter()
    sockets = await asyncio.gather(*(opened(c) for c in clients))
    connect_s = time.perf_counter() - t0
    live = [(c, ws) for c, ws in zip(clients, sockets, strict=True) if ws is not None and c.subscribed]
    console.print(f"{len(live)}/{params.clients} clients subscribed to {MARKET} in {connect_s:.1f} s")
    # a raw client records as its bytes arrive; a library client needs a task reading each connection
    readers = [asyncio.create_task(read(ws, c, keys)) for c, ws in live if isinstance(ws, ClientConnection)]
    events = price_events(params.events, params.rows)
    await asyncio.sleep(1.0)  # let the gateway settle after the connection burst
    lag: list[float] = []
    stop = asyncio.Event()
    lagger = asyncio.create_task(loop_lag(lag, stop))
    published = Published()
    window_start = time.time()
    publisher = threading.Thread(
        target=publish_all, args=(bus, events, params.interval_s, published), name="publisher", daemon=True
    )
    publisher.start()
    await asyncio.to_thread(publisher.join)
    # wait for the last event to reach everyone (or `settle_s` at most)
    deadline = time.perf_counter() + params.settle_s
    last = params.events - 1
    while time.perf_counter() < deadline and any(
        last not in c.received and c.closed_code is None for c, _ in live
    ):
        await asyncio.sleep(0.05)
    window_end = time.time()
    stop.set()
    await lagger
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    await asyncio.gather(*(ws.close() for _, ws in live), return_exceptions=True)
    return {
        "clients": clients,
        "live": [c for c, _ in live],
        "connect_s": connect_s,
        "published": published,
        "lag": lag,
        "cpu": sampler.between(window_start, window_end),
        "window_s": window_end - window_start,
    }


def analyse(measured: dict[str, Any], params: Params) -> dict[str, Any]:
    published: Published = measured["published"]
    live: list[Client] = measured["live"]
    clients: list[Client] = measured["clients"]
    latencies = [
        at - published.at[event] for c in live for event, at in c.received.items() if event in published.at
    ]
    per_event = []
    for event, sent in sorted(published.at.items()):
        arrived = np.array([c.received[event] - sent for c in live if event in c.received])
        if arrived.size:
            per_event.append(
                {
                    "event": event,
                    "received_by": int(arrived.size),
                    "first_ms": round(1000 * float(arrived.min()), 2),
                    "p95_ms": round(1000 * float(np.percentile(arrived, 95)), 2),
                    "last_ms": round(1000 * float(arrived.max()), 2),
                }
            )
    expected = len(live) * len(published.at)
    received = sum(len(c.received) for c in live)
    dropped = [c for c in live if c.closed_code is not None]
    spread = [e["last_ms"] - e["first_ms"] for e in per_event]
    return {
        "clients_asked": params.clients,
        "clients_subscribed": len(live),
        "connect_failures": sorted({c.error for c in clients if c.error})[:10],
        "connect_all_s": round(measured["connect_s"], 2),
        "events_published": len(published.at) - len(published.failures),
        "publish_failures": published.failures[:10],
        "latency_publish_to_receive": latency_stats(latencies) if latencies else None,
        "per_event_spread_ms": (
            {"p50": round(float(np.median(spread)), 2), "max": round(float(np.max(spread)), 2)}
            if spread
            else None
        ),
        "per_event_first_receive_ms": (
            {"p50": round(float(np.median([e["first_ms"] for e in per_event])), 2)} if per_event else None
        ),
        "per_event": per_event,
        "messages_expected": expected,
        "messages_received": received,
        "messages_lost": expected - received,
        "messages_duplicated": sum(c.duplicates for c in live),
        "unexpected_messages": sum(c.other for c in live),
        "clients_dropped": len(dropped),
        "drop_codes": sorted({c.closed_code for c in dropped if c.closed_code is not None}),
        "publish_ack": latency_stats(published.ack_s) if published.ack_s else None,
        "bench_event_loop_lag": latency_stats(measured["lag"]) if measured["lag"] else None,
        "cpu_while_publishing": measured["cpu"],
        "server_cpu_ms_per_event": server_cpu_per_event(measured, len(published.at)),
        "window_s": round(measured["window_s"], 1),
    }


def server_cpu_per_event(measured: dict[str, Any], events: int) -> float | None:
    """The server's CPU over the publishing window, per event published (fan-out to every client)."""
    share = measured["cpu"].get("server_cpu_pct_of_core")
    if share is None or not events:
        return None
    return round(share / 100 * measured["window_s"] * 1000 / events, 2)


def targets(result: dict[str, Any], quick: bool) -> dict[str, Any]:
    latency = result["latency_publish_to_receive"] or {}
    p95 = latency.get("p95_ms")
    whole = result["messages_lost"] == 0 and result["clients_dropped"] == 0
    return {
        "note": "from the issue: publish → WebSocket receive p95 <= 50 ms with 500 concurrent clients; "
        "every message delivered to every client is required too. A --quick run (fewer clients) reports "
        "for information",
        "judged": not quick and result["clients_asked"] >= 500,
        "p95_ms_target": TARGET_P95_MS,
        "p95_ms": p95,
        "p95_pass": p95 is not None and p95 <= TARGET_P95_MS,
        "nothing_lost_or_dropped": whole,
        "pass": p95 is not None and p95 <= TARGET_P95_MS and whole,
    }


def summary_table(payload: dict[str, Any]) -> Table:
    r = payload["result"]
    table = Table(title=f"stream latency — {r['clients_subscribed']} WebSocket clients, publish → receive")
    table.add_column("measurement")
    table.add_column("value", justify="right")
    latency = r["latency_publish_to_receive"] or {}
    for q in ("p50", "p95", "p99", "max"):
        if f"{q}_ms" in latency:
            table.add_row(f"latency {q}", f"{latency[f'{q}_ms']:.1f} ms")
    if r["per_event_spread_ms"]:
        table.add_row(
            "per event: first → last client (p50 / max)",
            f"{r['per_event_spread_ms']['p50']:.1f} / {r['per_event_spread_ms']['max']:.1f} ms",
        )
    if r["publish_ack"]:
        table.add_row("JetStream publish ack p50", f"{r['publish_ack']['p50_ms']:.1f} ms")
    if r["bench_event_loop_lag"]:
        table.add_row(
            "this process's loop lag p95 / max",
            f"{r['bench_event_loop_lag']['p95_ms']:.1f} / {r['bench_event_loop_lag']['max_ms']:.1f} ms",
        )
    table.add_row("messages received / expected", f"{r['messages_received']:,} / {r['messages_expected']:,}")
    table.add_row(
        "lost / duplicated / clients dropped",
        f"{r['messages_lost']} / {r['messages_duplicated']} / {r['clients_dropped']}",
    )
    cpu = r["cpu_while_publishing"]
    if cpu:
        table.add_row(
            "CPU: server / this process (% of a core), machine (% of all)",
            f"{cpu.get('server_cpu_pct_of_core')} / {cpu.get('clients_cpu_pct_of_core')} / {cpu.get('machine_cpu_pct')}",
        )
    t = payload["targets"]
    verdict = {True: "PASS", False: "FAIL"}[t["pass"]]
    table.caption = f"p95 ≤ {TARGET_P95_MS:g} ms, nothing lost: {verdict}" + (
        "" if t["judged"] else " (not judged: quick or fewer than 500 clients)"
    )
    return table


# --- command line ------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.stream_latency", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="100 clients, 15 events")
    parser.add_argument(
        "--clients", type=int, default=None, help="WebSocket clients (default 500; --quick 100)"
    )
    parser.add_argument("--events", type=int, default=None, help="events published (default 60; --quick 15)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between events (default 1)")
    parser.add_argument("--rows", type=int, default=200, help="rows (MISO locations) per event (default 200)")
    parser.add_argument(
        "--client",
        choices=CLIENT_KINDS,
        default="raw",
        help="raw: a minimal RFC 6455 client (default; costs the benchmark process little per message); "
        "websockets: the websockets library's asyncio client",
    )
    parser.add_argument(
        "--no-compression",
        action="store_true",
        help="clients do not offer permessage-deflate (by default they do, as browsers do; the server decides)",
    )
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="a demo data directory (default: new, in /tmp)"
    )
    parser.add_argument("--reuse", action="store_true", help="use the demo already in --data-dir")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (data, server log)")
    parser.add_argument(
        "--max-wait-quiet",
        type=float,
        default=120.0,
        help="seconds to wait for other work on the machine to stop before measuring (default 120)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    params = Params(
        clients=args.clients or (100 if args.quick else 500),
        events=args.events or (15 if args.quick else 60),
        interval_s=args.interval,
        rows=args.rows,
        compression=None if args.no_compression or args.client == "raw" else "deflate",
        settle_s=10.0,
        client=args.client,
    )
    workdir = Path(tempfile.mkdtemp(prefix="marketintel-bench-stream-", dir="/tmp"))
    data_dir = args.data_dir or workdir / "data"
    suffix = secrets.token_hex(4)
    bus_url = f"{NATS}?stream=MIBENCH_{suffix.upper()}&prefix=mibench_{suffix}"
    created = dt.datetime.now(UTC)
    payload: dict[str, Any] = {
        "benchmark": "stream-latency",
        "created": created,
        "command": " ".join(
            ["python -m bench.stream_latency", *(argv if argv is not None else sys.argv[1:])]
        ),
        "machine": machine_info(("fastapi", "starlette", "uvicorn", "uvloop", "websockets", "nats", "orjson"))
        | {"nats_py": importlib.metadata.version("nats-py")},
        "parameters": {
            "clients": params.clients,
            "events": params.events,
            "interval_s": params.interval_s,
            "rows_per_event": params.rows,
            "client_compression": params.compression,
            "bus": "NATS JetStream at 127.0.0.1:4222, a stream and subject prefix of this run's own",
            "tenant": f"{TENANT} (API key, api channel), subscribed to {MARKET} {RUN}",
            "server": "marketintel serve: one uvicorn process, its fan-out reading the bus",
            "clients_run": (
                "a minimal RFC 6455 client on asyncio protocols (bench.stream_latency.RawClient)"
                if params.client == "raw"
                else "websockets (asyncio)"
            )
            + " in this process, which also publishes: one clock",
        },
    }
    bus = open_bus(bus_url)
    try:
        keys, built_s = ensure_demo(data_dir, 1, args.reuse, workdir / "demo.log")
        payload["data"] = {"demo_days": 1, "built_s": None if built_s is None else round(built_s, 1)}
        with GatewayServer(data_dir, workdir / "server.log", bus_url=bus_url) as server:
            payload["machine"]["quiet"] = wait_for_quiet(args.max_wait_quiet)
            sampler = CpuSampler({"server": server.pid, "clients": os.getpid()})
            sampler.start()
            try:
                measured = asyncio.run(run_clients(server, keys[TENANT], bus, params, sampler))
            finally:
                sampler.stop()
        payload["result"] = analyse(measured, params)
        payload["targets"] = targets(payload["result"], args.quick)
    finally:
        with contextlib.suppress(Exception):
            bus.delete_stream()
        bus.close()
        if args.keep:
            console.print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    payload["finished"] = dt.datetime.now(UTC)
    payload["machine"]["load_average_at_end"] = load_average()
    payload["wall_s"] = round((payload["finished"] - created).total_seconds(), 1)
    stem, latest = f"stream-latency-{created:%Y%m%d}", "stream-latency-latest"
    if args.quick:
        stem, latest = f"{stem}-quick", f"{latest}-quick"
    elif (params.clients, params.events, params.rows, params.client) != (500, 60, 200, "raw"):
        # the latest file is the setting; others are named for what differs
        stem = (
            f"{stem}-{params.clients}c-{params.events}e-{params.rows}r-{params.client}-{params.compression}"
        )
        latest = None
    paths = write_results(stem, payload, latest=latest)
    out = Console()
    if not out.is_terminal:
        out = Console(width=160)
    out.print(summary_table(payload))
    console.print("results: " + ", ".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
