"""The demo's live feed, on a real DuckDB store, SQLite metadata and the memory bus, at chosen instants."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from fastapi.testclient import TestClient

from marketintel.api.app import create_app
from marketintel.bus.memory import MemoryBus, MemorySubscription
from marketintel.bus.models import decode_prices
from marketintel.bus.service import BusPublisher
from marketintel.config import Settings, load_settings
from marketintel.entitlements.demo import ACCOUNTS, seed_demo_accounts
from marketintel.metadata.service import engine_for, session_factory, upgrade
from marketintel.simulate.live import LiveFeed, LiveSpec, stored_spec
from marketintel.simulate.loader import load_simulation
from marketintel.simulate.models import SOURCE, SimulationSpec, file_sha
from marketintel.simulate.service import simulate
from marketintel.store.models import PRICES
from marketintel.store.service import TimeSeriesStore, open_timeseries
from tests.gateway.world import credentials

SEED = 5
NODES = 4
MARKETS = ("MISO", "ERCOT")  # a fixed UTC-5 clock with 5-minute RT, and a DST clock with 15-minute RT
DAY0 = dt.date(2026, 11, 2)  # the batch simulation's only day
MISO = ZoneInfo("Etc/GMT+5")
CHICAGO = ZoneInfo("America/Chicago")


def miso_time(day: dt.date, hour: int, minute: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), MISO).astimezone(dt.UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = load_settings(data_dir=tmp_path)
    upgrade(settings.metadata_url)
    return settings


@pytest.fixture
def store(settings: Settings) -> Iterator[TimeSeriesStore]:
    store = open_timeseries(settings.timeseries_url)
    spec = SimulationSpec(DAY0, 1, SEED, MARKETS, nodes_per_market=NODES)
    load_simulation(spec, store, settings.metadata_url)
    yield store
    store.close()


@pytest.fixture
def bus() -> MemoryBus:
    return MemoryBus()


@pytest.fixture
def feed(store: TimeSeriesStore, settings: Settings, bus: MemoryBus) -> Iterator[LiveFeed]:
    feed = LiveFeed(store, settings.metadata_url, [BusPublisher(bus, settings.metadata_url)])
    yield feed
    feed.stop()


def stored(store: TimeSeriesStore, market: str, run: str, after: dt.datetime) -> pa.Table:
    return store.query(
        f"SELECT * FROM {PRICES.name} WHERE source = '{SOURCE}' AND market = '{market}' AND run = '{run}' "
        f"AND interval_start >= TIMESTAMPTZ '{after.isoformat()}' ORDER BY location, interval_start"
    )


def starts(table: pa.Table) -> list[dt.datetime]:
    return sorted(set(table.column("interval_start").to_pylist()))


def every(first: dt.datetime, end: dt.datetime, minutes: int) -> list[dt.datetime]:
    step = dt.timedelta(minutes=minutes)
    return [first + i * step for i in range((end - first) // step)]


def received(subscription: MemorySubscription) -> pa.Table:
    tables = []
    while (message := subscription.get(timeout=0)) is not None:
        tables.append(decode_prices(message.event))
    return pa.concat_tables(tables) if tables else PRICES.schema.empty_table()


def test_the_spec_is_read_back_from_the_simulation_run(feed: LiveFeed, settings: Settings) -> None:
    assert stored_spec(feed.store, settings.metadata_url) == LiveSpec(SEED, MARKETS, NODES)


def test_a_tick_writes_exactly_the_intervals_ended_by_now_once(
    feed: LiveFeed, store: TimeSeriesStore
) -> None:
    day1 = DAY0 + dt.timedelta(days=1)
    midnight = miso_time(day1, 0, 0)  # where the batch stopped
    now = miso_time(day1, 10, 2)

    report = feed.tick(now)

    rt = stored(store, "MISO", "RT5", midnight)
    assert starts(rt) == every(midnight, miso_time(day1, 10, 0), 5)  # 10:00-10:05 has not ended
    assert set(rt.column("knowledge_time").to_pylist()) == {now}
    assert report.written["MISO:RT5"] == rt.num_rows
    ercot_midnight = dt.datetime.combine(day1, dt.time(), CHICAGO).astimezone(dt.UTC)
    ercot = stored(store, "ERCOT", "RT15", ercot_midnight)
    assert starts(ercot)[-1] + dt.timedelta(minutes=15) <= now < starts(ercot)[-1] + dt.timedelta(minutes=30)
    assert feed.tick(now).rows == 0  # the same instant again: nothing new happened
    assert stored(store, "MISO", "RT5", midnight).num_rows == rt.num_rows


def test_a_later_tick_writes_only_the_new_intervals_and_they_reach_the_bus(
    feed: LiveFeed, store: TimeSeriesStore, bus: MemoryBus
) -> None:
    day1 = DAY0 + dt.timedelta(days=1)
    feed.tick(miso_time(day1, 10, 2))
    subscription = bus.subscribe("prices.MISO.RT5")

    later = miso_time(day1, 10, 14)
    report = feed.tick(later)

    new = stored(store, "MISO", "RT5", miso_time(day1, 10, 0))
    assert starts(new) == [miso_time(day1, 10, 0), miso_time(day1, 10, 5)]
    assert report.written["MISO:RT5"] == new.num_rows
    on_bus = received(subscription)
    assert on_bus.num_rows == new.num_rows
    assert starts(on_bus) == starts(new)


def test_live_values_are_the_batch_simulations(feed: LiveFeed, store: TimeSeriesStore) -> None:
    day1 = DAY0 + dt.timedelta(days=1)
    feed.tick(miso_time(day1, 14, 0))
    # a batch that started on another day, and runs past the feed's day
    batch = SimulationSpec(DAY0 - dt.timedelta(days=4), 7, SEED, MARKETS, nodes_per_market=NODES)
    wanted = pa.array([file_sha(SEED, "MISO", run, day1) for run in ("RT5", "DA")])
    tables = [b.table for b in simulate(batch) if b.dataset == "price_facts"]
    expected = pa.concat_tables(tables)
    expected = expected.filter(pc.is_in(expected["source_file_sha256"], value_set=wanted))  # no corrections
    columns = ["market", "location", "run", "interval_start", "lmp", "energy", "congestion", "loss"]
    for run in ("RT5", "DA"):
        live = stored(store, "MISO", run, miso_time(day1, 0, 0))
        live = live.filter(pc.less(live["interval_start"], miso_time(day1 + dt.timedelta(days=1), 0, 0)))
        live = live.select(columns)
        mine = expected.filter(pc.equal(expected["run"], run)).select(columns)
        mine = mine.filter(pc.less_equal(mine["interval_start"], max(starts(live)))).sort_by(
            [("location", "ascending"), ("interval_start", "ascending")]
        )
        assert live.num_rows > 0
        assert live.cast(mine.schema).equals(mine)


def test_tomorrows_day_ahead_appears_once_published(feed: LiveFeed, store: TimeSeriesStore) -> None:
    day1, day2 = DAY0 + dt.timedelta(days=1), DAY0 + dt.timedelta(days=2)

    feed.tick(miso_time(day1, 13, 29))
    assert starts(stored(store, "MISO", "DA", miso_time(day1, 0, 0)))[-1] == miso_time(day1, 23, 0)
    assert stored(store, "MISO", "DA", miso_time(day2, 0, 0)).num_rows == 0

    published = miso_time(day1, 13, 31)
    report = feed.tick(published)
    da = stored(store, "MISO", "DA", miso_time(day2, 0, 0))
    assert starts(da) == every(miso_time(day2, 0, 0), miso_time(day2 + dt.timedelta(days=1), 0, 0), 60)
    assert set(da.column("knowledge_time").to_pylist()) == {published}
    assert report.written["MISO:DA"] == da.num_rows


def test_a_restart_after_a_gap_catches_up_without_holes(feed: LiveFeed, store: TimeSeriesStore) -> None:
    day1 = DAY0 + dt.timedelta(days=1)
    feed.tick(miso_time(day1, 6, 0))
    now = miso_time(day1 + dt.timedelta(days=2), 9, 1)  # two days and more later

    reports = [feed.tick(now)]
    while reports[-1].behind:
        reports.append(feed.tick(now))

    assert len(reports) == 3  # a market-day per tick
    rt = stored(store, "MISO", "RT5", miso_time(day1, 0, 0))
    assert starts(rt) == every(miso_time(day1, 0, 0), miso_time(day1 + dt.timedelta(days=2), 9, 0), 5)
    da = stored(store, "MISO", "DA", miso_time(day1, 0, 0))
    assert starts(da)[-1] == miso_time(day1 + dt.timedelta(days=2), 23, 0)  # today's; tomorrow's at 13:30
    assert feed.tick(now).rows == 0


def test_the_served_demo_shows_its_real_time_prices_live(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, demo_live=True, rate_general_per_s=1e6)
    upgrade(settings.metadata_url)
    store = open_timeseries(settings.timeseries_url)
    try:  # as `marketintel demo`: history up to the start of the current UTC day
        today = dt.datetime.now(dt.UTC).date()
        spec = SimulationSpec(today - dt.timedelta(days=1), 1, SEED, ("MISO",), nodes_per_market=NODES)
        load_simulation(spec, store, settings.metadata_url)
    finally:
        store.close()
    engine = engine_for(settings.metadata_url)
    with session_factory(engine)() as session:
        seed_demo_accounts(session, ["MISO"])
        session.commit()
    engine.dispose()
    pilot = next(a for a in ACCOUNTS if a.tenant == "pilot_miso")
    headers = credentials(settings, pilot.tenant, pilot.email, pilot.password)[1].headers

    with TestClient(create_app(settings), base_url="http://127.0.0.1:8000") as client:
        feed: LiveFeed = client.app.state.live_feed  # type: ignore[attr-defined]
        assert feed.wait(1, timeout=120)
        for _ in range(3):  # an interval may end between the feed's tick and the request: tick again
            sources = client.get("/api/v1/quality/sources", params={"market": "MISO"}, headers=headers)
            assert sources.status_code == 200, sources.text
            rt5 = next(s for s in sources.json()["sources"] if s["run"] == "RT5")
            if rt5["status"] == "live":
                break
            feed.tick()
        assert rt5["status"] == "live", rt5
        assert rt5["source"] == SOURCE
