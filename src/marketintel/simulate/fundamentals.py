"""The drivers behind the prices, and the fundamentals series that publish them.

Load, wind and solar per market-local hour, the Henry Hub gas price and carbon allowance prices are drawn
from the seed and the day alone (never from where the simulated window starts, so a day is the same in
any window and in the demo's live feed) and shared: the price model reads the same numbers these series
publish, so a hot evening with little wind shows up as high load *and* high prices.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, time, timedelta
from functools import lru_cache

import numpy as np
import pyarrow as pa

from marketintel.catalog.markets import MARKETS
from marketintel.simulate.models import (
    SOURCE,
    US_PER_MINUTE,
    SimulationSpec,
    file_sha,
    local_day,
    local_us,
    rng,
)
from marketintel.store.models import FUNDAMENTALS, SERIES_SCHEMA, UTC_TS


@dataclass(frozen=True)
class GridProfile:
    peak_mw: float
    base: float  # shoulder-season load level, as a share of the annual peak
    summer: float  # added at the height of summer
    winter: float  # added in mid-winter
    wind_mw: float
    wind_cf: float  # mean capacity factor
    solar_mw: float
    solar_noon: float  # local *standard* time of solar noon, from the market's longitude


PROFILES: dict[str, GridProfile] = {
    "MISO": GridProfile(122_000, 0.58, 0.25, 0.11, 31_000, 0.34, 12_000, 12.8),
    "CAISO": GridProfile(46_000, 0.52, 0.34, 0.06, 8_000, 0.30, 21_000, 12.0),
    "PJM": GridProfile(150_000, 0.58, 0.25, 0.13, 12_000, 0.30, 10_000, 12.2),
    "ERCOT": GridProfile(85_000, 0.62, 0.32, 0.10, 38_000, 0.30, 24_000, 12.6),
    "NYISO": GridProfile(31_000, 0.57, 0.28, 0.08, 2_500, 0.28, 1_500, 11.9),
    "ISONE": GridProfile(24_000, 0.57, 0.25, 0.12, 1_500, 0.30, 2_000, 11.8),
    "SPP": GridProfile(56_000, 0.60, 0.28, 0.12, 31_000, 0.30, 2_000, 12.7),
}
GAS_TIMEZONE = "America/Chicago"  # Henry Hub, Louisiana; its gas day is quoted on Central time
CARBON = {  # series id -> (timezone, unit, long-run mean, name)
    "RGGI": ("America/New_York", "USD/short ton", 20.0, "RGGI allowance"),
    "CCA": ("America/Los_Angeles", "USD/metric ton", 36.0, "California Carbon Allowance"),
}


def _bump(x: np.ndarray | float, centre: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((np.asarray(x) - centre) / width) ** 2)


def season(day: date) -> tuple[float, float]:
    """(summer, winter) weights in 0..1: how far into the cooling and the heating season a day is."""
    doy = day.timetuple().tm_yday
    winter_distance = min(abs(doy - 20), 365 - abs(doy - 20))
    return float(_bump(doy, 205, 32)), float(_bump(winter_distance, 0, 30))


# --- fuels ----------------------------------------------------------------------------------------------


def _prior_weekday(day: date) -> date:
    day -= timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


@dataclass(frozen=True)
class Fuels:
    """Daily settlements (weekdays; a weekend carries Friday's) of Henry Hub gas and carbon allowances."""

    first: date
    settle: dict[str, np.ndarray]  # "HENRY_HUB", "RGGI", "CCA" -> settlement by calendar day from `first`

    def settlement(self, series_id: str, day: date) -> float:
        return float(self.settle[series_id][(day - self.first).days])

    def gas_for_flow(self, day: date) -> float:
        """Henry Hub next-day gas for a flow day: traded on the prior weekday (Friday covers Sat-Mon)."""
        return self.settlement("HENRY_HUB", _prior_weekday(day))

    def carbon_for_power(self, series_id: str, day: date) -> float:
        """The allowance price known when the day-ahead market for `day` clears (the day before, 13:30)."""
        return self.settlement(series_id, _prior_weekday(day - timedelta(days=1)))


def _log_walk(
    shocks: np.ndarray, days: list[date], mean: np.ndarray, kappa: float, sigma: float
) -> np.ndarray:
    """A mean-reverting walk in log price that moves on weekdays only (markets settle Monday-Friday)."""
    out = np.empty(len(days))
    level = mean[0] + shocks[0] * sigma / np.sqrt(2 * kappa)  # start from the stationary distribution
    for i, day in enumerate(days):  # one step per day, not per row
        if day.weekday() < 5:
            level += kappa * (mean[i] - level) + sigma * shocks[i]
        out[i] = level
    return np.exp(out)


# Every fuel walk starts on this day, whatever the simulated window: a day's settlement is then the same
# in a 3-day simulation, a 30-day one or the demo's live feed (one walk per series and seed, cached).
FUEL_EPOCH = date(1990, 1, 1)
_FUEL_WALKS = {  # series id -> (kappa, sigma) of its log walk
    "HENRY_HUB": (0.03, 0.035),  # reverts to ~$3/MMBtu with a winter premium
    **{series_id: (0.01, 0.015) for series_id in CARBON},
}


@lru_cache(maxsize=32)
def _fuel_walk(seed: int, series_id: str, last_year: int) -> np.ndarray:
    """Daily settlements of one series from FUEL_EPOCH to the end of `last_year`; shocks drawn per year."""
    years = range(FUEL_EPOCH.year, last_year + 1)
    days = [FUEL_EPOCH + timedelta(days=i) for i in range((date(last_year + 1, 1, 1) - FUEL_EPOCH).days)]
    shocks = np.concatenate(
        [
            rng(seed, series_id, year).standard_normal((date(year + 1, 1, 1) - date(year, 1, 1)).days)
            for year in years
        ]
    )
    if series_id == "HENRY_HUB":
        mean = np.log(3.0) + 0.15 * np.array([season(d)[1] for d in days])
    else:
        mean = np.full(len(days), np.log(CARBON[series_id][2]))
    walk = _log_walk(shocks, days, mean, *_FUEL_WALKS[series_id])
    walk.flags.writeable = False  # shared through the cache
    return walk


def fuels(spec: SimulationSpec) -> Fuels:
    first = spec.start - timedelta(days=10)  # the earliest settlement read (a prior weekday), with margin
    if first < FUEL_EPOCH:
        raise ValueError(
            f"cannot simulate fuels before {FUEL_EPOCH + timedelta(days=10)}: start {spec.start}"
        )
    last_year = (spec.start + timedelta(days=spec.days + 2)).year
    return Fuels(
        FUEL_EPOCH, {series_id: _fuel_walk(spec.seed, series_id, last_year) for series_id in _FUEL_WALKS}
    )


# --- the grid: load, wind and solar ---------------------------------------------------------------------


@dataclass(frozen=True)
class DayDrivers:
    """One market-local day, hour by hour (23, 24 or 25 hours)."""

    market: str
    day: date
    hour_starts: np.ndarray  # UTC microseconds
    clock: np.ndarray  # local wall-clock hour
    load: np.ndarray  # MW
    wind: np.ndarray  # MW
    solar: np.ndarray  # MW
    wind_cf: np.ndarray
    solar_cf: np.ndarray
    net: np.ndarray  # (load - wind - solar) / peak: where on the supply stack each hour clears
    heat: float  # the day's temperature anomaly (standard deviations; + is hot)
    weekend: bool


def _load_shape(hour: np.ndarray, summer: float) -> np.ndarray:
    # winter/shoulder: morning and evening peaks; summer: one broad afternoon (air conditioning) peak
    cold = 0.78 + 0.10 * _bump(hour, 8, 1.8) + 0.17 * _bump(hour, 18.5, 2.2) - 0.10 * _bump(hour, 3.5, 2.5)
    hot = 0.74 + 0.26 * _bump(hour, 16.5, 3.2) + 0.02 * _bump(hour, 9, 2) - 0.10 * _bump(hour, 4.5, 2.5)
    return (1 - summer) * cold + summer * hot


# Weather persists for a few days: an AR(1) per day, written as the sum of the last WEATHER_MEMORY days'
# shocks (0.7**40 < 1e-6) so that a day's weather depends on the seed and the day only, never on where
# the simulated window starts.
WEATHER_MEMORY = 40


@lru_cache(maxsize=16_384)
def _weather_shocks(seed: int, market: str, ordinal: int) -> tuple[float, float, float]:
    """One day's (heat shock, wind shock, sky clearness)."""
    gen = rng(seed, market, "weather", ordinal)
    heat, windy = gen.standard_normal(2)
    return float(heat), float(windy), float(0.3 + 0.7 * gen.beta(4.0, 1.3))


def _weather(seed: int, market: str, day: date) -> tuple[float, float, float]:
    """(heat anomaly, windiness, clearness) of a day; fsum, so the result is exact whatever the caller."""
    shocks = [_weather_shocks(seed, market, day.toordinal() - k) for k in range(WEATHER_MEMORY)]
    heat = math.fsum(0.72 * 0.7**k * s[0] for k, s in enumerate(shocks))
    windy = math.fsum(0.83 * 0.55**k * s[1] for k, s in enumerate(shocks))
    return heat, windy, shocks[0][2]


def market_drivers(spec: SimulationSpec, market: str) -> tuple[DayDrivers, ...]:
    p = PROFILES[market]
    out = []
    for day in spec.dates:
        heat, windy, clearness = _weather(spec.seed, market, day)
        grid = local_day(market, day)
        hour = grid.clock + 0.5
        noise = rng(spec.seed, market, "weather-hours", day.toordinal()).standard_normal((3, grid.hours))
        summer, winter = season(day)
        weekend = day.weekday() >= 5
        # offices and factories close: the weekend cut is deepest in the daytime
        weekend_cut = (
            (0.08 if day.weekday() == 5 else 0.11) * (0.5 + 0.5 * _bump(hour, 13, 5)) if weekend else 0.0
        )
        level = p.base + p.summer * summer + p.winter * winter
        weather = 1 + 0.05 * heat * summer - 0.04 * heat * winter
        load = (
            p.peak_mw
            * level
            * _load_shape(hour, summer)
            * (1 - weekend_cut)
            * weather
            * (1 + 0.01 * noise[0])
        )

        doy = day.timetuple().tm_yday
        wind_level = (
            p.wind_cf * (1 + 0.25 * np.cos(2 * np.pi * (doy - 95) / 365)) * np.exp(0.45 * windy - 0.1)
        )
        wind_cf = np.clip(
            wind_level * (1 + 0.25 * np.cos(2 * np.pi * (hour - 2) / 24)) * (1 + 0.08 * noise[1]), 0.01, 0.95
        )

        daylight = 12 + 2.4 * np.sin(2 * np.pi * (doy - 80) / 365)
        sun = (grid.clock - grid.dst + 0.5 - (p.solar_noon - daylight / 2)) / daylight  # standard time
        shape = np.where((sun > 0) & (sun < 1), np.sin(np.pi * np.clip(sun, 0, 1)), 0.0) ** 1.3
        amplitude = 0.8 + 0.12 * np.sin(2 * np.pi * (doy - 80) / 365)
        solar_cf = np.clip(amplitude * clearness * shape * (1 + 0.03 * noise[2]), 0.0, 1.0)

        wind, solar = p.wind_mw * wind_cf, p.solar_mw * solar_cf
        out.append(
            DayDrivers(
                market,
                day,
                grid.hour_starts(),
                grid.clock,
                load,
                wind,
                solar,
                wind_cf,
                solar_cf,
                (load - wind - solar) / p.peak_mw,
                heat,
                weekend,
            )
        )
    return tuple(out)


# --- the published series ------------------------------------------------------------------------------


def series_table(spec: SimulationSpec) -> pa.Table:
    rows: list[tuple[str, str | None, str, str | None, str, str, str]] = []
    for m in spec.markets:
        tz = MARKETS[m].timezone
        rows += [
            (f"{m}.LOAD", m, "load", None, "MW", tz, f"{m} system load (simulated)"),
            (f"{m}.WIND", m, "generation", "wind", "MW", tz, f"{m} wind generation (simulated)"),
            (f"{m}.SOLAR", m, "generation", "solar", "MW", tz, f"{m} solar generation (simulated)"),
        ]
    rows.append(("HENRY_HUB", None, "gas_price", None, "USD/MMBtu", GAS_TIMEZONE, "Henry Hub next-day gas"))
    rows += [(sid, None, "carbon_price", None, unit, tz, name) for sid, (tz, unit, _, name) in CARBON.items()]
    return pa.table({f.name: [r[i] for r in rows] for i, f in enumerate(SERIES_SCHEMA)}, schema=SERIES_SCHEMA)


def _facts(
    series_id: list[np.ndarray],
    starts: np.ndarray,
    minutes: np.ndarray,
    values: np.ndarray,
    known: np.ndarray,
    sha: str,
) -> pa.Table:
    n = len(starts)
    return pa.table(
        {
            "series_id": pa.array(
                np.concatenate(series_id) if series_id else np.array([], dtype=object), pa.string()
            ),
            "interval_start": pa.array(starts, pa.int64()).cast(UTC_TS),
            "interval_minutes": pa.array(minutes.astype(np.int16), pa.int16()),
            "value": pa.array(values, pa.float64()),
            "knowledge_time": pa.array(known, pa.int64()).cast(UTC_TS),
            "source": pa.repeat(pa.scalar(SOURCE), n),
            "source_file_sha256": pa.repeat(pa.scalar(sha), n),
        },
        schema=FUNDAMENTALS.schema,
    )


def grid_facts(spec: SimulationSpec, drivers: tuple[DayDrivers, ...]) -> pa.Table:
    """Hourly load, wind and solar actuals for one market, published ten minutes after each hour ends."""
    market = drivers[0].market if drivers else ""
    starts = np.concatenate([d.hour_starts for d in drivers]) if drivers else np.zeros(0, np.int64)
    ids, values = [], []
    for suffix, attribute in (("LOAD", "load"), ("WIND", "wind"), ("SOLAR", "solar")):
        ids.append(np.full(len(starts), f"{market}.{suffix}", dtype=object))
        values.append(
            np.round(np.concatenate([getattr(d, attribute) for d in drivers]) if drivers else [], 1)
        )
    all_starts = np.tile(starts, 3)
    return _facts(
        ids,
        all_starts,
        np.full(len(all_starts), 60),
        np.concatenate(values) if values else np.zeros(0),
        all_starts + 70 * US_PER_MINUTE,
        file_sha(spec.seed, market, "fundamentals"),
    )


def fuel_facts(spec: SimulationSpec, fuel: Fuels) -> pa.Table:
    """Henry Hub per flow day (known the trade day at 10:30 CT) and carbon settlements (weekdays, 17:00)."""
    ids, starts, values, known = [], [], [], []
    for day in spec.dates:
        ids.append("HENRY_HUB")
        starts.append(local_us(GAS_TIMEZONE, day, time(0)))
        values.append(round(fuel.gas_for_flow(day), 4))
        known.append(local_us(GAS_TIMEZONE, _prior_weekday(day), time(10, 30)))
    for series_id, (tz, _, _, _) in CARBON.items():
        for day in spec.dates:
            if day.weekday() < 5:
                ids.append(series_id)
                starts.append(local_us(tz, day, time(0)))
                values.append(round(fuel.settlement(series_id, day), 2))
                known.append(local_us(tz, day, time(17, 0)))
    n = len(ids)
    return _facts(
        [np.array(ids, dtype=object)],
        np.array(starts, np.int64),
        np.full(n, 1440),
        np.array(values, np.float64),
        np.array(known, np.int64),
        file_sha(spec.seed, "fuels"),
    )


def fundamental_batches(
    spec: SimulationSpec, fuel: Fuels, drivers: dict[str, tuple[DayDrivers, ...]]
) -> Iterator[pa.Table]:
    for market in spec.markets:
        if drivers[market]:
            yield grid_facts(spec, drivers[market])
    if spec.days:
        yield fuel_facts(spec, fuel)


__all__ = [
    "CARBON",
    "PROFILES",
    "DayDrivers",
    "Fuels",
    "fuels",
    "fundamental_batches",
    "market_drivers",
    "season",
    "series_table",
]
