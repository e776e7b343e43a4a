"""The demo's live market: while the server runs, the simulation goes on in real time.

Every tick the feed writes what has "happened" by now, for each simulated market: the real-time intervals
that have ended since the newest one stored (so a demo restarted hours later fills the gap, a market-day
per tick until it has caught up), and the next market day's day-ahead prices once its publication time
(`prices.DA_PUBLISHED`, market-local, before the freshness gate's `da_published_by`) has passed. A day's
values depend on the seed, market and day alone (see fundamentals), so they are exactly what a batch
simulation gives for the same interval, and writing one twice is a no-op for the store.

Rows go through the ingest write path of every connector: stamped as learned now (`ingest.service.stamp`),
one store write per market-day and run, and the committed batch handed to the ingest listeners (the
`BusPublisher`, so the outbox and the bus carry the new rows to the stream). A failed tick is logged and
tried again at the next one; the feed never raises into the server.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import select

from marketintel.bus.models import Bus
from marketintel.bus.service import BusPublisher
from marketintel.catalog.markets import MARKETS
from marketintel.config import Settings
from marketintel.ingest.models import BatchListener, CommittedBatch
from marketintel.ingest.service import stamp
from marketintel.metadata.models import Run
from marketintel.metadata.service import engine_for, session_factory
from marketintel.quality.service import newest_interval, price_sources
from marketintel.simulate.fundamentals import fuels, market_drivers
from marketintel.simulate.models import DEFAULT_MARKETS, SOURCE, SimulationSpec, file_sha, local_day
from marketintel.simulate.prices import DA_PUBLISHED, DayPrices, RevisionPlan, network, price_day, rt_run
from marketintel.store.models import PRICES
from marketintel.store.service import TimeSeriesStore

log = logging.getLogger(__name__)
Clock = Callable[[], dt.datetime]
TICK = 30.0  # seconds between ticks, at most: a tick is also due as each 5-minute interval ends
CADENCE = dt.timedelta(minutes=5)  # every simulated RT interval (5 or 15 minutes) ends on this grid
SLACK = 0.2  # seconds after an interval's end before its tick: clocks and sleeps are not exact
DAYS_PER_TICK = 1  # market-days of catch-up per market and run in one tick, so a stop is never long held up
NO_REVISIONS = RevisionPlan(frozenset(), frozenset())  # settlement corrections are the batch's business


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class LiveSpec:
    """The simulation the feed continues: the same seed, markets and network size as the batch."""

    seed: int
    markets: tuple[str, ...]
    nodes_per_market: int = 200


def stored_spec(store: TimeSeriesStore, metadata_url: str) -> LiveSpec | None:
    """The spec of the newest successful `simulate` run (its recorded parameters), or None if there was
    none. Runs recorded before the markets and network size were recorded fall back to the markets the
    store holds simulated prices of and the default size."""
    engine = engine_for(metadata_url)
    try:
        with session_factory(engine)() as session:
            newest = (
                select(Run).where(Run.kind == "simulate", Run.status == "succeeded").order_by(Run.id.desc())
            )
            run = session.scalars(newest.limit(1)).first()
            params = dict(run.params or {}) if run is not None else None
    finally:
        engine.dispose()
    if params is None or "seed" not in params:
        return None
    markets = params.get("markets") or sorted({m for _, m, _ in price_sources(store, SOURCE)})
    return LiveSpec(
        int(params["seed"]),
        tuple(m for m in markets if m in DEFAULT_MARKETS),
        int(params.get("nodes_per_market", 200)),
    )


@dataclass
class TickReport:
    now: dt.datetime
    written: dict[str, int] = field(default_factory=dict)  # "MARKET:RUN" -> rows written
    behind: bool = False  # catch-up is left for the next tick, which follows at once

    @property
    def rows(self) -> int:
        return sum(self.written.values())


def _instant(us: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(us / 1_000_000, dt.UTC)


def _us(at: dt.datetime) -> int:
    return int(at.timestamp() * 1_000_000)


def _local_date(market: str, at: dt.datetime) -> dt.date:
    return at.astimezone(MARKETS[market].zone).date()


class LiveFeed:
    """Advances a stored simulation to `clock()` on each `tick()`; `start()` runs ticks on a thread."""

    def __init__(
        self,
        store: TimeSeriesStore,
        metadata_url: str,
        listeners: Sequence[BatchListener] = (),
        *,
        spec: LiveSpec | None = None,
        tick: float = TICK,
        clock: Clock = utcnow,
        days_per_tick: int = DAYS_PER_TICK,
    ) -> None:
        self.store, self.metadata_url = store, metadata_url
        self.listeners = list(listeners)
        self.spec, self.interval, self.clock, self.days_per_tick = spec, tick, clock, days_per_tick
        self._days: OrderedDict[tuple[str, dt.date], DayPrices] = OrderedDict()
        self._lock = threading.Lock()  # one tick at a time (the thread's and any caller's)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ticks = 0  # completed ticks, failed ones included

    # --- one tick -------------------------------------------------------------------------------------

    def tick(self, now: dt.datetime | None = None) -> TickReport:
        """Write everything that has happened by `now` (default: the clock) and is not stored yet."""
        with self._lock:
            report = TickReport(now or self.clock())
            if self.spec is None:
                self.spec = stored_spec(self.store, self.metadata_url)
            if self.spec is not None:
                for market in self.spec.markets:
                    if self._stop.is_set():
                        break
                    run, minutes = rt_run(market)
                    self._real_time(market, run, minutes, report)
                    self._day_ahead(market, report)
            return report

    def _real_time(self, market: str, run: str, minutes: int, report: TickReport) -> None:
        """Intervals ended by now, after the newest stored (from today's market-local midnight if none)."""
        now = report.now
        newest = newest_interval(self.store, SOURCE, market, run).end
        since = newest or _instant(local_day(market, _local_date(market, now)).start_us)
        step = dt.timedelta(minutes=minutes)
        if since + step > now:
            return
        day = _local_date(market, since)
        last = _local_date(market, now - step)
        for _ in range(self.days_per_tick):
            if day > last:
                return
            self._write(market, run, day, since, now, report)
            day += dt.timedelta(days=1)
        report.behind = report.behind or day <= last

    def _day_ahead(self, market: str, report: TickReport) -> None:
        """Each market day's DA from the first not stored up to the newest published by now: today's, and
        tomorrow's once the market-local clock has passed the publication time."""
        local = report.now.astimezone(MARKETS[market].zone)
        last = local.date() + dt.timedelta(days=1 if local.time() >= DA_PUBLISHED else 0)
        newest = newest_interval(self.store, SOURCE, market, "DA").end
        day = _local_date(market, newest) if newest else local.date()
        for _ in range(self.days_per_tick):
            if day > last:
                return
            self._write(market, "DA", day, None, report.now, report)
            day += dt.timedelta(days=1)
        report.behind = report.behind or day <= last

    def _write(
        self,
        market: str,
        run: str,
        day: dt.date,
        since: dt.datetime | None,
        now: dt.datetime,
        report: TickReport,
    ) -> None:
        """One market-day of one run: RT rows of intervals in [since, now], or the day's whole DA."""
        prices = self._day(market, day)
        table = prices.da if run == "DA" else prices.rt
        assert table is not None  # the feed always simulates real time
        if since is not None:
            starts = table["interval_start"]
            step = dt.timedelta(minutes=rt_run(market)[1])
            keep = pc.and_(
                pc.greater_equal(starts, pa.scalar(since, starts.type)),
                pc.less_equal(starts, pa.scalar(now - step, starts.type)),  # ended by now
            )
            table = table.filter(keep)
        if table.num_rows == 0:
            return
        sha = file_sha(self.spec.seed if self.spec else 0, market, run, day)
        facts = stamp(table, now, SOURCE, sha)
        result = self.store.write(PRICES, facts)
        written = result.rows if result.rows is not None else PRICES.schema.empty_table()
        key = f"{market}:{run}"
        report.written[key] = report.written.get(key, 0) + written.num_rows
        if written.num_rows:
            file = f"live/{market}/{run}/{day.isoformat()}"
            self._tell(CommittedBatch(SOURCE, market, file, sha, facts, written, utcnow()))

    def _tell(self, batch: CommittedBatch) -> None:
        # as in ingestion: the rows are committed whatever a listener does
        for listener in self.listeners:
            try:
                listener(batch)
            except Exception:
                log.exception(
                    "live feed listener failed", extra={"file": batch.file, "listener": repr(listener)}
                )

    def _day(self, market: str, day: dt.date) -> DayPrices:
        """A market-day's prices, simulated once and kept while the feed works through it."""
        key = (market, day)
        if key not in self._days:
            assert self.spec is not None
            spec = SimulationSpec(day, 1, self.spec.seed, (market,), self.spec.nodes_per_market)
            net = network(spec.seed, market, spec.nodes_per_market)
            self._days[key] = price_day(spec, net, market_drivers(spec, market)[0], fuels(spec), NO_REVISIONS)
            while len(self._days) > 2 * len(self.spec.markets) + 2:  # today's and tomorrow's per market
                self._days.popitem(last=False)
        self._days.move_to_end(key)
        return self._days[key]

    # --- the thread -----------------------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="live-feed", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the current market's writes, once the thread has ended (or `timeout`), then close
        the listeners that can be (the feed's publisher holds a metadata engine)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        for listener in self.listeners:
            close = getattr(listener, "close", None)
            if callable(close):
                close()

    def wait(self, ticks: int, timeout: float) -> bool:
        """Whether `ticks` ticks have completed within `timeout` seconds (for tests and start-up checks)."""
        deadline = time.monotonic() + timeout
        while self.ticks < ticks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            behind = False
            try:
                report = self.tick()
                behind = report.behind
                log.info(
                    "live feed tick",
                    extra={
                        "now": report.now.isoformat(),
                        "rows": report.rows,
                        "written": report.written,
                        "behind": report.behind,
                        "seconds": round(time.monotonic() - started, 3),
                    },
                )
            except Exception:  # a failed tick is retried at the next one; the server goes on
                log.exception(
                    "live feed tick failed", extra={"seconds": round(time.monotonic() - started, 3)}
                )
            self.ticks += 1
            if not behind:
                self._stop.wait(self._pause(self.clock()))

    def _pause(self, now: dt.datetime) -> float:
        """Seconds to the next tick: the tick interval, or just past the next interval end if sooner."""
        grid = CADENCE.total_seconds()
        to_end = grid - now.timestamp() % grid + SLACK
        return max(0.0, min(self.interval, to_end))


def open_live_feed(store: TimeSeriesStore, bus: Bus, settings: Settings) -> LiveFeed:
    """A started feed over the store's simulation, publishing to `bus` through the outbox as ingestion
    does; `stop()` it (which closes its publisher) before the store closes."""
    feed = LiveFeed(store, settings.metadata_url, [BusPublisher(bus, settings.metadata_url)])
    feed.start()
    return feed
