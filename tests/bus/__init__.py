"""Shared by the bus tests: price rows to publish, and a NATS JetStream bus of its own per test."""

from __future__ import annotations

import datetime as dt
import os
import random
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pyarrow as pa

from marketintel.bus.nats import NatsBus
from marketintel.store.models import PRICES
from tests.helpers import free_port, service_missing

# Overridable only so the "server unreachable" path can be exercised by hand.
NATS_URL = os.environ.get("MARKETINTEL_TEST_NATS_URL", "nats://127.0.0.1:4222")
DAY = dt.datetime(2024, 11, 3, 5, tzinfo=dt.UTC)


def price_rows(
    market: str = "MISO",
    run: str = "DA",
    locations: int = 3,
    hours: int = 24,
    seed: int = 1,
    file_sha: str = "ab" * 32,
    knowledge_time: dt.datetime = dt.datetime(2024, 11, 2, 17, 30, 0, 123456, tzinfo=dt.UTC),
) -> pa.Table:
    """Facts as the store writes them: every location x hour, a few nullable components left null."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for i in range(locations):
        for h in range(hours):
            energy = round(rng.uniform(15, 45), 2)
            congestion = None if (i + h) % 5 == 0 else round(rng.uniform(-9, 9), 2)
            rows.append(
                {
                    "market": market,
                    "location": f"{market}.NODE{i:03d}",
                    "run": run,
                    "interval_start": DAY + dt.timedelta(hours=h),
                    "interval_minutes": 60,
                    "lmp": round(energy + (congestion or 0.0), 2),
                    "energy": energy,
                    "congestion": congestion,
                    "loss": None if h % 7 == 0 else -0.0 if h % 3 == 0 else round(rng.uniform(-2, 2), 2),
                    "knowledge_time": knowledge_time,
                    "source": f"{market.lower()}-{run.lower()}",
                    "source_file_sha256": file_sha,
                }
            )
    return pa.Table.from_pylist(rows, schema=PRICES.schema)


def nats_reachable_or_skip(url: str = NATS_URL) -> None:
    """Skip when the NATS server is down; under CI=true fail instead, since the tests must run there."""
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or 4222), timeout=2
        ) as probe:
            probe.settimeout(2)
            greeting = probe.recv(4096)
        if not greeting.startswith(b"INFO"):
            raise OSError(f"not a NATS server (it said {greeting[:40]!r})")
        if b'"jetstream":true' not in greeting:
            raise OSError("the server runs without JetStream (start it with -js)")
    except OSError as exc:
        service_missing(f"NATS at {parts.netloc} unreachable: {exc}", "the NATS tests")


def unique_nats_url(base: str = NATS_URL) -> str:
    """`base` with a stream and subject prefix no other test run uses."""
    tag = uuid.uuid4().hex[:10]
    return f"{base}?stream=TEST_{tag}&prefix=test{tag}"


def unreachable(url: str) -> str:
    """`url` (its stream and prefix) moved to a local port nobody listens on: the bus, down."""
    return urlunsplit(urlsplit(url)._replace(netloc=f"127.0.0.1:{free_port()}"))


@contextmanager
def nats_bus(url: str | None = None, **options: Any) -> Iterator[NatsBus]:
    """A bus on a stream of its own, deleted afterwards so runs never collide."""
    nats_reachable_or_skip()
    bus = NatsBus.from_url(url or unique_nats_url(), **options)
    try:
        yield bus
    finally:
        try:
            bus.delete_stream()
        finally:
            bus.close()


class SilentServer:
    """Speaks just enough NATS for a client to connect (INFO, PONG), then never answers a request: a bus
    that is up but hung, for timing what a publisher waits."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"nats://127.0.0.1:{self.port}"
        self._connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:  # closed
                return
            self._connections.append(connection)
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        info = b'{"server_id":"silent","version":"2.9.10","proto":1,"headers":true,"max_payload":1048576}'
        try:
            connection.sendall(b"INFO " + info + b"\r\n")
            while data := connection.recv(65536):
                if b"PING" in data:
                    connection.sendall(b"PONG\r\n")
        except OSError:
            return

    def close(self) -> None:
        self._listener.close()
        for connection in self._connections:
            connection.close()
