"""The nodal price model: one market-local day at a time, vectorised over locations and intervals.

System energy = variable cost + fuel cost x where net load sits on a convex supply stack, minus a
curtailment discount when renewables swamp load, plus scarcity pricing near the top of the stack. Each
location adds congestion (its parent's congestion + a persistent offset + load-correlated noise + wind and
solar curtailment at its bus) and losses (a marginal loss factor x energy), so that
lmp = energy + congestion + loss exactly and every node = its hub + a basis. Real time is the day-ahead
path plus more volatile noise, rare system scarcity spikes and local congestion events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time, timedelta
from functools import lru_cache

import numpy as np
import pyarrow as pa

from marketintel.catalog.markets import MARKETS
from marketintel.simulate.fundamentals import DayDrivers, Fuels, season
from marketintel.simulate.locations import Location, locations
from marketintel.simulate.models import (
    SOURCE,
    US_PER_DAY,
    US_PER_HOUR,
    US_PER_MINUTE,
    US_PER_SECOND,
    SimulationSpec,
    file_sha,
    local_day,
    local_instant_us,
    rng,
)
from marketintel.store.models import PRICES, UTC_TS


@dataclass(frozen=True)
class Economics:
    heat_rate: float  # MMBtu/MWh of the marginal gas unit
    gas_basis: float  # $/MMBtu over Henry Hub for the market's delivered gas
    winter_gas: float  # extra basis in deep winter (pipeline-constrained New York / New England)
    carbon: str | None  # allowance series the marginal unit pays for
    carbon_share: float  # share of the marginal fleet inside that programme
    co2_per_mmbtu: float  # allowances per MMBtu burned (short tons for RGGI, metric tons for CCA)
    vom: float  # $/MWh variable O&M
    oversupply: float  # net-load share below which renewables are curtailed and prices fall
    cap: float
    floor: float
    rt_vol: float  # real-time noise as a share of the fuel cost
    spike_rate: float  # real-time scarcity events per day at shoulder load
    losses: bool = True  # ERCOT prices carry no marginal loss component


ECONOMICS: dict[str, Economics] = {
    "MISO": Economics(8.2, 0.10, 0.5, None, 0.0, 0.0, 5.0, 0.15, 3500.0, -500.0, 0.12, 0.35),
    "CAISO": Economics(8.6, 1.20, 1.0, "CCA", 0.9, 0.0531, 5.0, 0.18, 2000.0, -150.0, 0.18, 0.35),
    "PJM": Economics(8.4, -0.30, 1.0, "RGGI", 0.3, 0.0585, 5.0, 0.10, 3700.0, -500.0, 0.12, 0.30),
    "ERCOT": Economics(7.6, -0.25, 0.5, None, 0.0, 0.0, 4.0, 0.08, 5000.0, -251.0, 0.20, 0.50, losses=False),
    "NYISO": Economics(9.3, 0.50, 3.0, "RGGI", 0.9, 0.0585, 6.0, 0.10, 2500.0, -500.0, 0.15, 0.30),
    "ISONE": Economics(9.5, 0.60, 5.0, "RGGI", 0.9, 0.0585, 6.0, 0.10, 2500.0, -150.0, 0.15, 0.30),
    "SPP": Economics(7.4, -0.30, 0.5, None, 0.0, 0.0, 4.0, 0.10, 3000.0, -500.0, 0.18, 0.40),
}
DA_PUBLISHED = time(13, 30)  # day-ahead results, market-local, the day before delivery


def rt_run(market: str) -> tuple[str, int]:
    """The market's 5-minute real-time run, or ERCOT's 15-minute one: (run code, interval minutes)."""
    runs = MARKETS[market].runs
    if "RT5" in runs:
        return "RT5", 5
    if "RT15" in runs:
        return "RT15", 15
    raise ValueError(f"{market} has no 5- or 15-minute real-time run: {runs}")


def fuel_cost(market: str, day: date, fuel: Fuels, heat: float) -> float:
    """$/MWh to burn gas (and pay for carbon) in the market's marginal unit on a delivery day."""
    e = ECONOMICS[market]
    winter = season(day)[1]
    # pipeline-constrained basis blows out in the depth of winter, and more so in a cold snap
    gas = fuel.gas_for_flow(day) + e.gas_basis + e.winter_gas * winter**2 * (1 + max(0.0, -heat))
    carbon = fuel.carbon_for_power(e.carbon, day) * e.co2_per_mmbtu * e.carbon_share if e.carbon else 0.0
    return e.heat_rate * (gas + carbon)


def stack(net: np.ndarray) -> np.ndarray:
    """Marginal cost as a multiple of fuel cost at a net-load share: baseload at the bottom, efficient
    gas through the middle, peakers at the top."""
    x = np.clip(net, 0.0, None)
    return 0.35 + 1.9 * x**1.4 + 2.5 * np.clip(x - 0.7, 0.0, None) ** 2


PTC_FLOOR = -25.0  # $/MWh where curtailed wind still bids (the production tax credit it would forgo)
WIND_BASIS = 30.0  # $/MWh a fully exposed bus loses at full wind output (export constraints bind)
SOLAR_BASIS = 30.0


# --- the network ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Network:
    """A market's locations and the persistent parameters of their basis (drawn once per seed)."""

    market: str
    locations: tuple[Location, ...]
    names: pa.Array
    parent: np.ndarray  # index of the parent location, -1 for none
    depth: int  # longest parent chain (node -> zone -> hub is 2)
    averages: tuple[tuple[int, np.ndarray], ...]  # (hub, its component hubs)
    offset: np.ndarray
    load_beta: np.ndarray
    wind: np.ndarray
    solar: np.ndarray
    loss_factor: np.ndarray
    sigma: np.ndarray
    nodes: np.ndarray = field(repr=False)  # indices of the synthetic nodes (local congestion events hit them)

    @property
    def size(self) -> int:
        return len(self.locations)


_SCALE = {  # location type -> (offset sd, load beta sd, noise sd low, noise sd high, loss factor sd)
    "hub": (1.0, 0.3, 0.2, 0.4, 0.004),
    "zone": (1.5, 0.6, 0.4, 1.0, 0.008),
    "interface": (3.0, 1.0, 1.0, 3.0, 0.015),
    "node": (2.5, 1.0, 0.5, 3.0, 0.015),
}


@lru_cache(maxsize=64)
def network(seed: int, market: str, total: int) -> Network:
    locs = locations(market, total)
    gen = rng(seed, market, "network")
    index = {loc.name: i for i, loc in enumerate(locs)}
    parent = np.array([index[loc.parent] if loc.parent else -1 for loc in locs], dtype=np.int64)
    depth = 0
    for i in range(len(locs)):  # per location, once per network
        d, j = 0, i
        while parent[j] >= 0:
            d, j = d + 1, parent[j]
        depth = max(depth, d)
    n = len(locs)
    offset_sd, beta_sd, noise_low, noise_high, loss_sd = np.array(
        [_SCALE[loc.location_type] for loc in locs]
    ).T
    offset = offset_sd * gen.standard_t(4, n)  # fat tails: a few badly placed nodes
    load_beta = beta_sd * gen.standard_normal(n)
    sigma = gen.uniform(noise_low, noise_high)
    loss_factor = loss_sd * gen.standard_normal(n)
    tech_wind = np.array([loc.tech == "wind" and loc.location_type == "node" for loc in locs])
    tech_solar = np.array([loc.tech == "solar" and loc.location_type == "node" for loc in locs])
    wind = np.array([loc.wind for loc in locs]) + tech_wind * gen.uniform(0.5, 1.5, n)
    solar = np.array([loc.solar for loc in locs]) + tech_solar * gen.uniform(0.5, 1.5, n)
    averages = tuple(
        (i, np.array([index[c] for c in loc.average_of])) for i, loc in enumerate(locs) if loc.average_of
    )
    if not ECONOMICS[market].losses:
        loss_factor[:] = 0.0
    nodes = np.array([i for i, loc in enumerate(locs) if loc.location_type == "node"], dtype=np.int64)
    return Network(
        market,
        locs,
        pa.array([loc.name for loc in locs], pa.string()),
        parent,
        depth,
        averages,
        offset,
        load_beta,
        wind,
        solar,
        loss_factor,
        sigma,
        nodes,
    )


def _chain(net: Network, own: np.ndarray) -> np.ndarray:
    """Congestion of each location = its own basis + its parent's congestion (up the chain)."""
    for hub, parts in net.averages:  # an average hub's basis is its components' mean
        own[hub] = own[parts].mean(axis=0)
    if not net.depth:
        return own
    has_parent = (net.parent >= 0)[:, None]
    up = np.where(net.parent >= 0, net.parent, 0)
    total = own
    for _ in range(net.depth):
        total = own + np.where(has_parent, total[up], 0.0)
    return total


# --- one market-day ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayPrices:
    da: pa.Table
    rt: pa.Table | None
    revisions: tuple[tuple[str, pa.Table], ...]  # (run, rows republished later with another lmp)


@dataclass(frozen=True)
class RevisionPlan:
    """Which of a market's days get settlement corrections (decided once for the whole window)."""

    da_days: frozenset[date]
    rt_days: frozenset[date]


def revision_plan(spec: SimulationSpec, market: str) -> RevisionPlan:
    gen = rng(spec.seed, market, "revision-plan")
    dates = spec.dates
    if not dates:
        return RevisionPlan(frozenset(), frozenset())
    rt_mask, da_mask = gen.random(len(dates)) < 0.2, gen.random(len(dates)) < 0.05
    # at least one of each per market, so that even a short simulation exercises revisions
    rt_mask[int(gen.integers(len(dates)))] = True
    da_mask[int(gen.integers(len(dates)))] = True
    return RevisionPlan(
        frozenset(d for d, m in zip(dates, da_mask, strict=True) if m),
        frozenset(d for d, m in zip(dates, rt_mask, strict=True) if m),
    )


def _table(
    net: Network,
    run: str,
    minutes: int,
    loc: np.ndarray,
    starts: np.ndarray,
    energy: np.ndarray,
    congestion: np.ndarray,
    loss: np.ndarray,
    known: np.ndarray,
    sha: str,
) -> pa.Table:
    n = len(loc)
    lmp = energy + congestion + loss  # summed last, in this order, so the identity holds exactly
    return pa.table(
        {
            "market": pa.repeat(pa.scalar(net.market), n),
            "location": net.names.take(pa.array(loc)),
            "run": pa.repeat(pa.scalar(run), n),
            "interval_start": pa.array(starts, UTC_TS),
            "interval_minutes": pa.repeat(pa.scalar(minutes, pa.int16()), n),
            "lmp": pa.array(lmp, pa.float64()),
            "energy": pa.array(energy, pa.float64()),
            "congestion": pa.array(congestion, pa.float64()),
            "loss": pa.array(loss, pa.float64()),
            "knowledge_time": pa.array(known, UTC_TS),
            "source": pa.repeat(pa.scalar(SOURCE), n),
            "source_file_sha256": pa.repeat(pa.scalar(sha), n),
        },
        schema=PRICES.schema,
    )


Rows = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _grid(
    net: Network,
    starts: np.ndarray,
    energy: np.ndarray,
    congestion: np.ndarray,
    cols: np.ndarray | None = None,
) -> Rows:
    """Location-major rows (location, start, energy, congestion, loss) of a locations x intervals block."""
    cols = np.arange(len(starts)) if cols is None else cols
    n, t = net.size, len(cols)
    loc = np.repeat(np.arange(n), t)
    e = np.tile(energy[cols], n)
    c = congestion[:, cols].ravel()
    return loc, np.tile(starts[cols], n), e, c, np.repeat(net.loss_factor, t) * e


def _clip(e: Economics, energy: np.ndarray, congestion: np.ndarray, loss_factor: np.ndarray) -> np.ndarray:
    """Congestion adjusted so that lmp stays within the market's offer floor and cap."""
    loss = loss_factor[:, None] * energy[None, :]
    lmp = np.clip(energy[None, :] + congestion + loss, e.floor, e.cap)
    return lmp - energy[None, :] - loss


def _correction(gen: np.random.Generator, energy: np.ndarray) -> np.ndarray:
    """A settlement correction to system energy: a few percent, never zero, spikes corrected downwards and
    negative prices upwards (so that a correction never pushes a price through the cap or the floor)."""
    size = 0.25 + np.abs(gen.normal(0.0, 0.04 * np.abs(energy) + 0.5))
    up = np.where(energy > 100.0, False, np.where(energy < 0.0, True, gen.random(len(energy)) < 0.5))
    return np.where(up, size, -size)


def _revised(
    net: Network,
    gen: np.random.Generator,
    run: str,
    minutes: int,
    starts: np.ndarray,
    energy: np.ndarray,
    congestion: np.ndarray,
    known: np.ndarray,
    cols: np.ndarray,
    sha: str,
) -> pa.Table:
    """The chosen intervals republished 1-7 days later with corrected energy and (slightly) congestion."""
    e = energy.copy()
    e[cols] += _correction(gen, energy[cols])
    c = congestion.copy()
    c[:, cols] += 0.2 * net.sigma[:, None] * gen.standard_normal((net.size, len(cols)))
    c = _clip(ECONOMICS[net.market], e, c, net.loss_factor)
    days, seconds = gen.integers(1, 8, len(cols)), gen.integers(0, 86_400, len(cols))
    later = known[cols] + days * US_PER_DAY + seconds * US_PER_SECOND
    loc, s, ee, cc, ll = _grid(net, starts, e, c, cols)
    return _table(net, run, minutes, loc, s, ee, cc, ll, np.tile(later, net.size), sha)


def _rt_spikes(
    e: Economics,
    gen: np.random.Generator,
    d: DayDrivers,
    net_t: np.ndarray,
    clock_t: np.ndarray,
    minutes: int,
) -> np.ndarray:
    """System scarcity events: rare, clustered on high-net-load evening intervals, up to the cap."""
    t = len(net_t)
    out = np.zeros(t)
    peak = float(d.net.max())
    count = gen.poisson(e.spike_rate * (0.5 + 5.0 * max(0.0, peak - 0.65) / 0.3))
    if not count:
        return out
    weight = np.exp(8.0 * (net_t - peak)) * (1 + 3.0 * np.exp(-0.5 * ((clock_t - 19.0) / 2.0) ** 2))
    for start in gen.choice(t, size=count, p=weight / weight.sum()):  # per event, a handful a day
        length = int(gen.integers(1, max(2, 30 // minutes) + 1))
        out[start : start + length] += np.exp(gen.normal(6.0, 0.9))
    return out


def _local_events(gen: np.random.Generator, net: Network, t: int, minutes: int) -> np.ndarray:
    """Local binding constraints: a group of nodes behind one parent separates for an hour or two."""
    out = np.zeros((net.size, t))
    if not len(net.nodes):
        return out
    for _ in range(gen.poisson(0.6)):  # per event
        anchor = net.nodes[int(gen.integers(len(net.nodes)))]
        group = net.nodes[(net.parent[net.nodes] == net.parent[anchor]) & (gen.random(len(net.nodes)) < 0.5)]
        group = np.union1d(group, [anchor])
        start = int(gen.integers(t))
        length = int(gen.integers(30, 180)) // minutes
        size = np.exp(gen.normal(5.0, 0.8)) * (1 if gen.random() < 0.7 else -1)
        out[group, start : start + max(1, length)] += size * gen.uniform(0.5, 1.0, (len(group), 1))
    return out


def price_day(
    spec: SimulationSpec, net: Network, d: DayDrivers, fuel: Fuels, plan: RevisionPlan
) -> DayPrices:
    market, day = net.market, d.day
    e = ECONOMICS[market]
    gen = rng(spec.seed, market, "da", day.toordinal())
    h = len(d.net)
    fc = fuel_cost(market, day, fuel, d.heat)

    # system energy, hourly
    # below the oversupply point the marginal unit is curtailed renewables: price slides to their floor
    curtailed = np.clip((e.oversupply - d.net) / e.oversupply, 0.0, 1.0) ** 0.7
    tight = np.clip((d.net - 0.7) / 0.3, 0.0, None)
    scarcity = 200.0 * tight**2 * (1 + 0.3 * np.abs(gen.standard_normal(h)))
    noise = fc * (0.05 * gen.standard_normal() + 0.04 * gen.standard_normal(h))
    cost = (e.vom + fc * stack(d.net)) * (1 - curtailed) + PTC_FLOOR * curtailed
    energy = np.clip(cost + scarcity + noise, e.floor, e.cap)

    # congestion, hourly per location: offset + load-correlated noise + curtailment behind the bus
    eps = gen.standard_normal((net.size, h))
    own = (
        net.offset[:, None]
        + 12.0 * net.load_beta[:, None] * (d.net - 0.4)[None, :]
        + net.sigma[:, None] * (0.5 + d.net)[None, :] * eps
        - WIND_BASIS * net.wind[:, None] * (d.wind_cf**1.5)[None, :]
        - SOLAR_BASIS * net.solar[:, None] * (d.solar_cf**1.5)[None, :]
    )
    congestion = _clip(e, energy, _chain(net, own), net.loss_factor)
    da_known = np.full(net.size * h, local_instant_us(market, day - timedelta(days=1), DA_PUBLISHED))
    da_sha = file_sha(spec.seed, market, "DA", day)
    da = _table(net, "DA", 60, *_grid(net, d.hour_starts, energy, congestion), da_known, da_sha)

    revisions: list[tuple[str, pa.Table]] = []
    if day in plan.da_days:
        fix = rng(spec.seed, market, "da-revision", day.toordinal())
        cols = np.sort(fix.choice(h, size=int(fix.integers(1, 3)), replace=False))
        sha = file_sha(spec.seed, market, "DA", "revisions")
        fixed = _revised(net, fix, "DA", 60, d.hour_starts, energy, congestion, da_known[:h], cols, sha)
        revisions.append(("DA", fixed))
    if not spec.rt:
        return DayPrices(da, None, tuple(revisions))

    # real time: the day-ahead path plus smoother hourly drift, 5-minute noise, spikes and local events
    run, minutes = rt_run(market)
    grid = local_day(market, day)
    starts = grid.interval_starts(minutes)
    t = len(starts)
    gen = rng(spec.seed, market, "rt", day.toordinal())
    pos = (starts - grid.start_us) / US_PER_HOUR
    hour = pos.astype(np.int64)
    frac = pos - hour
    net_t = d.net[hour]
    clock_t = d.clock[hour] + frac

    def smooth(rows: int) -> np.ndarray:  # hourly knots, linearly interpolated: noise that persists
        knots = gen.standard_normal((rows, h + 1))
        return knots[:, hour] * (1 - frac) + knots[:, hour + 1] * frac

    oversupplied = 1.0 + 2.0 * (net_t < e.oversupply)  # curtailment hours are the most erratic
    drift = fc * e.rt_vol * oversupplied * (smooth(1)[0] + 0.6 * gen.standard_t(3, t) / np.sqrt(3))
    rt_energy = np.clip(energy[hour] + drift + _rt_spikes(e, gen, d, net_t, clock_t, minutes), e.floor, e.cap)
    rt_own = (0.8 * net.sigma[:, None] * (0.5 + net_t)[None, :]) * (
        smooth(net.size) + 0.5 * gen.standard_normal((net.size, t))
    )
    rt_congestion = congestion[:, hour] + _chain(net, rt_own) + _local_events(gen, net, t, minutes)
    rt_congestion = _clip(e, rt_energy, rt_congestion, net.loss_factor)
    rt_known = starts + minutes * US_PER_MINUTE + gen.integers(30, 300, t) * US_PER_SECOND
    rt_rows = _grid(net, starts, rt_energy, rt_congestion)
    rt = _table(
        net, run, minutes, *rt_rows, np.tile(rt_known, net.size), file_sha(spec.seed, market, run, day)
    )
    if day in plan.rt_days:
        fix = rng(spec.seed, market, "rt-revision", day.toordinal())
        cols = np.sort(fix.choice(t, size=max(1, round(0.01 * t)), replace=False))
        sha = file_sha(spec.seed, market, run, "revisions")
        fixed = _revised(net, fix, run, minutes, starts, rt_energy, rt_congestion, rt_known, cols, sha)
        revisions.append((run, fixed))
    return DayPrices(da, rt, tuple(revisions))
