"""The simulator's entry points: reference tables, the full batch stream, and its expected size."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from marketintel.catalog.markets import MARKETS
from marketintel.simulate.forwards import LAST_CAL_YEAR, MAIN_HUBS, MONTHS_AHEAD, forward_batches
from marketintel.simulate.fundamentals import CARBON, fuels, fundamental_batches, market_drivers, series_table
from marketintel.simulate.locations import locations
from marketintel.simulate.models import SimBatch, SimulationSpec, local_day
from marketintel.simulate.prices import network, price_day, revision_plan, rt_run
from marketintel.store.models import INSTRUMENTS_SCHEMA

_RT_REVISED_DAYS = 0.2  # expected share of days with RT corrections, and of those intervals ~1% (see prices)


def instruments(spec: SimulationSpec) -> pa.Table:
    """Every simulated location, in the market's clock and USD/MWh."""
    columns: dict[str, list[str | None]] = {f.name: [] for f in INSTRUMENTS_SCHEMA}
    for market in spec.markets:
        m = MARKETS[market]
        for loc in locations(market, spec.nodes_per_market):
            columns["market"].append(market)
            columns["location"].append(loc.name)
            columns["location_type"].append(loc.location_type)
            columns["timezone"].append(m.timezone)
            columns["currency"].append(m.currency)
            columns["unit"].append(f"{m.currency}/MWh")
            columns["name"].append(loc.description)
    return pa.table(columns, schema=INSTRUMENTS_SCHEMA)


def series(spec: SimulationSpec) -> pa.Table:
    """The fundamentals series: per market load, wind and solar; Henry Hub gas; RGGI and CCA carbon."""
    return series_table(spec)


def simulate(spec: SimulationSpec) -> Iterator[SimBatch]:
    """Instruments, series, then per market per day the DA and RT prices, then fundamentals, forward
    quotes and, last, the revision batches (settlement corrections of rows already yielded)."""
    yield SimBatch("instruments", instruments(spec))
    yield SimBatch("series", series(spec))
    fuel = fuels(spec)
    drivers = {}
    revisions: dict[tuple[str, str], list[pa.Table]] = {}
    for market in spec.markets:
        drivers[market] = market_drivers(spec, market)
        net = network(spec.seed, market, spec.nodes_per_market)
        plan = revision_plan(spec, market)
        for day in drivers[market]:
            prices = price_day(spec, net, day, fuel, plan)
            yield SimBatch("price_facts", prices.da)
            if prices.rt is not None:
                yield SimBatch("price_facts", prices.rt)
            for run, table in prices.revisions:
                revisions.setdefault((market, run), []).append(table)
    for table in fundamental_batches(spec, fuel, drivers):
        yield SimBatch("fundamental_facts", table)
    for table in forward_batches(spec, fuel):
        yield SimBatch("forward_quotes", table)
    # one batch per (market, run): each corrected interval appears once in it
    for tables in revisions.values():
        yield SimBatch("price_facts", pa.concat_tables(tables))


def estimate_rows(spec: SimulationSpec) -> int:
    """The expected number of rows over all batches (exact but for the revisions, which are estimated)."""
    rows = len(spec.markets) * 3 + 1 + len(CARBON)  # series
    hours_total = 0
    for market in spec.markets:
        n = len(locations(market, spec.nodes_per_market))
        rows += n
        _, minutes = rt_run(market)
        for day in spec.dates:
            grid = local_day(market, day)
            hours_total += grid.hours
            rt = (grid.end_us - grid.start_us) // (minutes * 60_000_000) if spec.rt else 0
            rows += n * (grid.hours + rt) + (n * round(0.01 * rt) * _RT_REVISED_DAYS if spec.rt else 0)
        rows += n * 1.5 * (0.05 * spec.days + 1)  # DA corrections: 1-2 hours on ~5% of days, at least one day
    rows += 3 * hours_total + spec.days * (1 + sum(1 for _ in CARBON) * 5 / 7)  # fundamentals
    weekdays = [d for d in spec.dates if d.weekday() < 5]
    hubs = sum(len(MAIN_HUBS[m]) for m in spec.markets)
    rows += sum(hubs * 3 * (MONTHS_AHEAD + max(0, LAST_CAL_YEAR - d.year)) for d in weekdays)
    return int(rows)
