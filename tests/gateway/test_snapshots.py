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


def test_a_snapshot_past_its_ttl_is_served_while_one_caller_refreshes_it() -> None:
    now = [0.0]
    snapshots = Snapshots(ttl=2, clock=lambda: now[0])
    assert snapshots.get("k", lambda: "first") == "first"
    assert snapshots.peek("k") == (True, "first")
    now[0] = 2.5  # past the TTL: nothing said it changed
    assert snapshots.peek("k") == (False, None)  # nobody refreshes it yet: a caller must
    started, release = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        release.wait(5)
        return "second"

    refresher = threading.Thread(target=lambda: snapshots.get("k", slow))
    refresher.start()
    assert started.wait(5)
    # while the refresh runs, everyone else gets the previous snapshot at once
    assert snapshots.peek("k") == (True, "first")
    assert snapshots.get("k", lambda: "never") == "first"
    release.set()
    refresher.join()
    assert snapshots.peek("k") == (True, "second")
    now[0] = 10.0  # stale beyond one more TTL: not served any more, computed while callers wait
    assert snapshots.peek("k") == (False, None)
    assert snapshots.get("k", lambda: "third") == "third"


def test_market_changed_drops_price_windows_of_that_market_and_run_and_clear_drops_all() -> None:
    snapshots = Snapshots(ttl=60)
    keys = [
        ("ticks", "MISO", "RT5", ("HUB",), 1, 2, None),
        ("ticks", "MISO", "DA", ("HUB",), 1, 2, None),
        ("curve", "MISO:HUB:ATC", None, "BASE", "M"),
    ]
    for key in keys:
        snapshots.get(key, lambda: "held", ttl=300)
    snapshots.market_changed("MISO", "RT5")
    assert [snapshots.peek(k)[0] for k in keys] == [False, True, True]
    snapshots.clear()
    assert [snapshots.peek(k)[0] for k in keys] == [False, False, False]


def test_snapshots_are_bounded() -> None:
    snapshots = Snapshots(ttl=60, max_entries=3)
    for i in range(10):
        assert snapshots.get(("instruments", "page", i), lambda i=i: i) == i
    held = [i for i in range(10) if snapshots.peek(("instruments", "page", i))[0]]
    assert len(held) <= 3
    assert 9 in held  # the newest stays


def test_a_settled_price_window_follows_a_revision_announced_on_the_bus(
    client: TestClient, world: Settings, callers: dict[str, list[Credential]]
) -> None:
    headers = next(c for c in callers["pilot_miso"] if c.kind == "apikey").headers
    at = dt.datetime(2026, 11, 1, 12, 5, tzinfo=dt.UTC)  # in the world's data, long settled
    revised = interval("MISO", 5)
    revised = revised.set_column(3, "interval_start", pa.array([at], revised.schema.field(3).type))
    params = {
        "instrument": f"MISO:{HUBS['MISO']}",
        "run": "RT5",
        "start": "2026-11-01T12:00:00Z",
        "end": "2026-11-01T13:00:00Z",
    }

    def lmp_at_1205() -> float:
        reply = client.get("/api/v1/prices/ticks", params=params, headers=headers)
        assert reply.status_code == 200, reply.text
        (series,) = reply.json()["series"]
        return float(series["lmp"][series["t"].index("2026-11-01T12:05:00Z")])

    before = lmp_at_1205()
    snapshots = client.app.state.snapshots  # type: ignore[attr-defined]
    hits = snapshots.hits
    assert lmp_at_1205() == before
    assert snapshots.hits > hits  # served from the snapshot, not the store
    later = dt.datetime(2026, 11, 5, tzinfo=dt.UTC)  # a correction, known days later
    revised = revised.set_column(5, "lmp", pa.array([before + 100.0]))
    revised = revised.set_column(9, "knowledge_time", pa.array([later], revised.schema.field(9).type))
    client.app.state.store.write_prices(revised)  # type: ignore[attr-defined]
    publish(world, revised)
    deadline = time.monotonic() + 10
    while lmp_at_1205() == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lmp_at_1205() == before + 100.0
