"""Shared snapshots of hot reads: computed once under a burst, dropped on new data, bounded by a TTL."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from marketintel.api.snapshots import Snapshots
from marketintel.config import Settings
from tests.gateway.test_stream import interval, publish
from tests.gateway.world import HUBS, Credential


def test_a_burst_of_identical_reads_computes_once() -> None:
    snapshots = Snapshots(ttl=60)
    calls = []
    release = threading.Event()

    def compute() -> str:
        calls.append(1)
        release.wait(5)
        return "value"

    results: list[str] = []
    readers = [
        threading.Thread(target=lambda: results.append(snapshots.get("k", compute))) for _ in range(20)
    ]
    for reader in readers:
        reader.start()
    while not calls:
        time.sleep(0.001)
    release.set()
    for reader in readers:
        reader.join()
    assert results == ["value"] * 20
    assert len(calls) == 1


def test_ttl_and_invalidation_and_failures() -> None:
    now = [0.0]
    snapshots = Snapshots(ttl=2, clock=lambda: now[0])
    values = iter(range(100))
    assert snapshots.get(("latest", "MISO", "RT5", None), lambda: next(values)) == 0
    assert snapshots.get(("latest", "MISO", "RT5", None), lambda: next(values)) == 0
    now[0] = 2.5
    assert snapshots.get(("latest", "MISO", "RT5", None), lambda: next(values)) == 1
    snapshots.market_changed("PJM", "RT5")  # another market: kept
    assert snapshots.get(("latest", "MISO", "RT5", None), lambda: next(values)) == 1
    snapshots.market_changed("MISO", "RT5")
    assert snapshots.get(("latest", "MISO", "RT5", None), lambda: next(values)) == 2

    def broken() -> int:
        raise RuntimeError("store down")

    with pytest.raises(RuntimeError):
        snapshots.get("x", broken)
    assert snapshots.get("x", lambda: 7) == 7  # a failure is not cached


def test_latest_prices_follow_new_data_announced_on_the_bus(
    client: TestClient, world: Settings, callers: dict[str, list[Credential]]
) -> None:
    headers = next(c for c in callers["pilot_miso"] if c.kind == "apikey").headers
    params = {"market": "MISO", "run": "RT5", "type": "hub"}

    def hub_latest() -> str:
        items = client.get("/api/v1/prices/latest", params=params, headers=headers).json()["items"]
        return next(i["interval_start"] for i in items if i["location"] == HUBS["MISO"])

    before = hub_latest()
    snapshots = client.app.state.snapshots  # type: ignore[attr-defined]
    hits = snapshots.hits
    assert hub_latest() == before
    assert snapshots.hits > hits  # served from the snapshot, not the store
    start = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
    newer = interval("MISO", 55)
    newer = newer.set_column(3, "interval_start", pa.array([start], newer.schema.field(3).type))
    newer = newer.set_column(
        9, "knowledge_time", pa.array([start + dt.timedelta(minutes=6)], newer.schema.field(9).type)
    )
    client.app.state.store.write_prices(newer)  # type: ignore[attr-defined]
    publish(world, newer)
    deadline = time.monotonic() + 10
    while hub_latest() == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hub_latest() == "2026-11-30T12:00:00Z"
