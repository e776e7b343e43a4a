"""Forward quotes at each market's main hub: monthly blocks for 24 months and calendar strips to 2035.

A forward is priced from the same fuel story as spot: a Henry Hub forward curve (today's spot relaxing
towards a seasonal long-run level), the market's gas basis, carbon and heat rate, times where the month's
typical net load sits on the supply stack, plus the hub's persistent basis. On-peak (5x16) carries a
seasonal premium over around-the-clock; off-peak is what is left, so ON > ATC > OFF always.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, time
from functools import lru_cache

import numpy as np
import pyarrow as pa

from marketintel.simulate.fundamentals import PROFILES, Fuels, season
from marketintel.simulate.locations import MAIN_HUBS
from marketintel.simulate.models import SOURCE, SimulationSpec, file_sha, local_instant_us, rng
from marketintel.simulate.prices import ECONOMICS, SOLAR_BASIS, WIND_BASIS, network, stack
from marketintel.store.models import FORWARD_QUOTES

LAST_CAL_YEAR = 2035
MONTHS_AHEAD = 24
SETTLED = time(17, 0)  # market-local settlement time on the trade date
_GAS_SEASON = np.array([1.18, 1.12, 1.02, 0.95, 0.95, 0.98, 1.02, 1.03, 0.98, 0.98, 1.05, 1.15])


def _months(first: tuple[int, int], count: int) -> list[tuple[int, int]]:
    y, m = first
    return [((y * 12 + m - 1 + k) // 12, (y * 12 + m - 1 + k) % 12 + 1) for k in range(count)]


def _next(y: int, m: int) -> date:
    return date(y + m // 12, m % 12 + 1, 1)


@lru_cache(maxsize=1024)
def _on_share(y: int, m: int) -> float:
    """Share of a month's hours in the 5x16 on-peak block (holidays ignored)."""
    first, end = date(y, m, 1), _next(y, m)
    days = (end - first).days
    weekdays = int(np.is_busday(np.datetime64(first) + np.arange(days)).sum())
    return weekdays * 16 / (days * 24)


def _monthly(
    market: str, trade: date, months: list[tuple[int, int]], fuel: Fuels, shock: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ATC, ON/ATC ratio, on-peak share) for each delivery month, before the hub's basis."""
    e, p = ECONOMICS[market], PROFILES[market]
    mids = [date(y, m, 15) for y, m in months]
    summer, winter = (np.array(x) for x in zip(*(season(d) for d in mids), strict=True))
    years = np.array([(d - trade).days / 365.25 for d in mids])
    tenor = np.maximum(years * 12, 0.0)
    month_index = np.array([m - 1 for _, m in months])
    spot = fuel.settlement("HENRY_HUB", trade)
    gas = 3.0 * 1.025**years * _GAS_SEASON[month_index] * (spot / 3.0) ** np.exp(-tenor / 8)
    gas = gas + e.gas_basis + e.winter_gas * winter**2  # as in spot: pipeline basis in deep winter
    carbon = 0.0
    if e.carbon:
        carbon = fuel.settlement(e.carbon, trade) * 1.05**years * e.co2_per_mmbtu * e.carbon_share
    fuel_cost = e.heat_rate * (gas + carbon)
    # typical net load of the month: load level x mean daily shape, less average wind and solar output
    renewables = (p.wind_mw * p.wind_cf + p.solar_mw * 0.2) / p.peak_mw
    net = (p.base + p.summer * summer + p.winter * winter) * 0.86 - renewables
    scarcity = 12.0 * summer  # summer evenings' option value, carried in every strip
    # the month's mean of a convex stack exceeds the stack at the mean net load: a small convexity term
    atc = (e.vom + fuel_cost * (stack(net) + 0.35 * net**3) + scarcity) * np.exp(shock * np.exp(-tenor / 18))
    on_ratio = 1.02 + 0.18 * summer if market == "CAISO" else 1.12 + 0.22 * summer + 0.06 * winter
    return atc, np.broadcast_to(on_ratio, atc.shape), np.array([_on_share(y, m) for y, m in months])


def _hub_basis(spec: SimulationSpec, market: str, hub: str) -> float:
    net = network(spec.seed, market, spec.nodes_per_market)
    i = next(k for k, loc in enumerate(net.locations) if loc.name == hub)
    # the mean of the spot basis: offset less typical curtailment (E[cf^1.5] ~0.2 wind, ~0.1 solar)
    return float(net.offset[i] - WIND_BASIS * net.wind[i] * 0.2 - SOLAR_BASIS * net.solar[i] * 0.1)


def _quotes(
    spec: SimulationSpec, market: str, trade: date, fuel: Fuels, shock: float, gen: np.random.Generator
) -> dict[str, list]:
    monthly = _months(_months((trade.year, trade.month), 2)[1], MONTHS_AHEAD)
    cal_years = list(range(trade.year + 1, LAST_CAL_YEAR + 1))
    cal_months = [(y, m) for y in cal_years for m in range(1, 13)]
    atc, ratio, on = _monthly(market, trade, monthly + cal_months, fuel, shock)
    # product-level noise on ATC only, so that ON > ATC > OFF holds
    atc = atc * (1 + 0.004 * gen.standard_normal(len(atc)))
    hours = np.array([(_next(y, m) - date(y, m, 1)).days * 24.0 for y, m in monthly + cal_months])
    k = len(monthly)
    # a calendar strip is the hour-weighted average of its months
    periods = [(date(y, m, 1), _next(y, m), "M", atc[i], ratio[i], on[i]) for i, (y, m) in enumerate(monthly)]
    for j, y in enumerate(cal_years):
        s = slice(k + 12 * j, k + 12 * (j + 1))
        w = hours[s] / hours[s].sum()
        on_hours = w * on[s]
        cal_on = float((atc[s] * ratio[s] * on_hours).sum() / on_hours.sum())
        cal_atc = float((atc[s] * w).sum())
        periods.append(
            (date(y, 1, 1), date(y + 1, 1, 1), "CAL", cal_atc, cal_on / cal_atc, float(on_hours.sum()))
        )
    rows: dict[str, list] = {"start": [], "end": [], "product": [], "block": [], "price": []}
    for start, end, product, a, r, share in periods:  # per product period, ~60 per hub and trade date
        on_price = a * r
        off_price = (a - share * on_price) / (1 - share)
        for block, price in (("ON", on_price), ("ATC", a), ("OFF", off_price)):
            rows["start"].append(start)
            rows["end"].append(end)
            rows["product"].append(product)
            rows["block"].append(block)
            rows["price"].append(round(float(price), 2))
    return rows


def forward_batches(spec: SimulationSpec, fuel: Fuels) -> Iterator[pa.Table]:
    """One batch per weekday trade date in the window: every market's main hubs, all products."""
    trades = [d for d in spec.dates if d.weekday() < 5]
    shocks = {
        m: np.cumsum(0.012 * rng(spec.seed, m, "forwards").standard_normal(len(trades))) for m in spec.markets
    }
    for i, trade in enumerate(trades):
        columns: dict[str, list] = {name: [] for name in FORWARD_QUOTES.schema.names}
        for market in spec.markets:
            gen = rng(spec.seed, market, "forward-quotes", trade.toordinal())
            known = local_instant_us(market, trade, SETTLED)
            for hub in MAIN_HUBS[market]:
                rows = _quotes(spec, market, trade, fuel, float(shocks[market][i]), gen)
                basis = _hub_basis(spec, market, hub)
                n = len(rows["price"])
                columns["market"] += [market] * n
                columns["location"] += [hub] * n
                columns["block"] += rows["block"]
                columns["trade_date"] += [trade] * n
                columns["delivery_start"] += [local_instant_us(market, d) for d in rows["start"]]
                columns["delivery_end"] += [local_instant_us(market, d) for d in rows["end"]]
                columns["product"] += rows["product"]
                columns["price"] += [round(p + basis, 2) for p in rows["price"]]
                columns["knowledge_time"] += [known] * n
        n = len(columns["market"])
        columns["source"] = [SOURCE] * n
        columns["source_file_sha256"] = [file_sha(spec.seed, "forwards", trade)] * n
        yield pa.table(columns, schema=FORWARD_QUOTES.schema)
