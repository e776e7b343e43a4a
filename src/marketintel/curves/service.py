"""Building a forward curve: quotes → grid → reconciliation → max-smoothness solve → points.

The grid's cells are the months to Dec 2050, split wherever a contract starts or ends inside a month
(a balance-of-month, a day), so every contract covers whole cells and the cells are few (~300). Each cell
has a PEAK and an OFFPEAK value; a contract's price is the hour-weighted average of the cells and blocks
its product covers (ATC: both blocks), with real hour counts (23/25-hour DST days) from the calendar.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.sparse as sp

from marketintel.curves import calendar
from marketintel.curves.basis import Basis, nodal_curves
from marketintel.curves.models import HORIZON_END, METHOD, CurveBuild, CurvePoint, Quote, QuoteError
from marketintel.curves.prior import prior_values
from marketintel.curves.reconcile import reconcile
from marketintel.curves.shape import ShapeFactors, hourly_curve
from marketintel.curves.smooth import (
    InconsistentContracts,
    InfeasibleBands,
    SmoothProblem,
    SmoothSolution,
    solve,
    spread_tension_for_decay,
    tension_for_decay,
)

DEFAULT_ESCALATION = 0.02  # a year, beyond the traded horizon
DEFAULT_DECAY_HOURS = 365 * 24.0  # beyond the last contract the curve bends onto the anchor over ~a year
# where no PEAK/OFFPEAK quote pins the split it relaxes to the prior's: e-folding ~a quarter, so a
# month's PEAK premium informs its season, and the split cannot run off (issue 5)
DEFAULT_SPREAD_DECAY_HOURS = 0.25 * 365 * 24.0
PRODUCT_BLOCKS = {"ATC": (0, 1), "PEAK": (0,), "OFFPEAK": (1,)}
PRODUCTS = ("ATC", "PEAK", "OFFPEAK")
EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


@lru_cache(maxsize=64)
def _month_bounds(first_day: dt.date) -> frozenset[dt.date]:
    """The first delivery day, every month start after it and the horizon end."""
    bounds = {first_day, HORIZON_END}
    month = _next_month(first_day)
    while month < HORIZON_END:
        bounds.add(month)
        month = _next_month(month)
    return frozenset(bounds)


@dataclass(frozen=True, eq=False)
class Grid:
    """A curve's cells with their calendar facts: a pure function of the market, the first delivery day
    and the contract dates inside the horizon, so built once and shared by every build that has them."""

    bounds: tuple[dt.date, ...]  # n + 1 cell boundaries, local dates
    days: np.ndarray  # (n + 1,) epoch days of the boundaries
    hours: np.ndarray  # (n, 2) PEAK and OFFPEAK hours of each cell (real DST hours)
    lengths: np.ndarray  # (n,) hours of each cell
    months: np.ndarray  # (n,) calendar month (Jan = 0) of each cell's start


@lru_cache(maxsize=256)
def cell_grid(market: str, first_day: dt.date, inner: frozenset[dt.date]) -> Grid:
    """The grid from `first_day` to the horizon end, split at every month start and at each date of
    `inner` (contract starts and ends) that lies inside."""
    bounds = tuple(sorted(_month_bounds(first_day) | {d for d in inner if first_day < d < HORIZON_END}))
    days = np.fromiter((d.toordinal() for d in bounds), dtype=np.int64, count=len(bounds)) - EPOCH_ORDINAL
    hours = calendar.block_hours(market, days.astype("datetime64[D]")).astype(float)
    months = np.fromiter((d.month - 1 for d in bounds[:-1]), dtype=np.int64, count=len(bounds) - 1)
    lengths = hours.sum(axis=1)
    for array in (days, hours, lengths, months):
        array.setflags(write=False)
    return Grid(bounds, days, hours, lengths, months)


def grid(first_day: dt.date, quotes: Sequence[Quote]) -> list[dt.date]:
    """Cell boundaries: the first delivery day, every month start after it to the horizon end, and
    every contract start and end in between."""
    inner = {d for q in quotes for d in (q.start, q.end) if first_day < d < HORIZON_END}
    return sorted(_month_bounds(first_day) | inner)


def contract_matrix(
    quotes: Sequence[Quote], bounds: Sequence[dt.date] | np.ndarray, hours: np.ndarray
) -> tuple[sp.csr_array, np.ndarray]:
    """Rows: each contract's hour weights over the (cell, block) unknowns (cell-major: 2·cell + block),
    summing to 1; and each contract's total hours. `bounds` as dates or their epoch days."""
    days = (
        bounds
        if isinstance(bounds, np.ndarray)
        else np.fromiter((d.toordinal() - EPOCH_ORDINAL for d in bounds), dtype=np.int64)
    )
    m = len(quotes)
    edges = np.fromiter(
        (d.toordinal() - EPOCH_ORDINAL for q in quotes for d in (q.start, q.end)), dtype=np.int64, count=2 * m
    )
    first, last = np.searchsorted(days, edges).reshape(m, 2).T
    product = np.fromiter((PRODUCTS.index(q.product) for q in quotes), dtype=np.int64, count=m)
    # every unknown of the contracts' cells in order, then only those of the product's blocks
    span = 2 * (last - first)
    owner = np.repeat(np.arange(m), span)
    column = np.arange(span.sum()) - np.repeat(np.cumsum(span) - span, span) + np.repeat(2 * first, span)
    wanted = product[owner]
    keep = (wanted == 0) | (column % 2 == wanted - 1)
    owner, column = owner[keep], column[keep]
    weight = hours.ravel()[column]
    totals = np.bincount(owner, weights=weight, minlength=m)
    for j in np.flatnonzero(~(totals > 0)):
        quote = quotes[j]
        raise QuoteError(
            f"{quote.where()}: {quote.product} has no delivery hours in {quote.start}..{quote.end}"
        )
    indptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.bincount(owner, minlength=m), out=indptr[1:])
    matrix = sp.csr_array((weight / totals[owner], column, indptr), shape=(m, hours.size))
    return matrix, totals


def anchor_level(quotes: Sequence[Quote], liquid_until: dt.date) -> float:
    """The hour-weighted ATC level of the last traded year's contracts (any product if no ATC)."""
    last_year = [q for q in quotes if q.end > liquid_until - dt.timedelta(days=366)]
    chosen = [q for q in last_year if q.product == "ATC"] or last_year
    days = np.array([(q.end - q.start).days for q in chosen], dtype=float)
    return float(np.average([q.price for q in chosen], weights=days))


@dataclass(frozen=True, eq=False)
class CurveValues:
    """A built curve as numbers: the solver's cells and each calendar month's ATC, PEAK and OFFPEAK."""

    quotes: list[Quote]  # the quotes used (delivering after the as-of date, inside the horizon)
    grid: Grid
    problem: SmoothProblem
    solution: SmoothSolution
    adjustments: list  # reconciliation's moves (models.Adjustment)
    liquid_until: dt.date
    month_starts: np.ndarray  # (k,) index of the first cell of each calendar month (the BOM cell first)
    monthly: np.ndarray  # (k, 3) ATC, PEAK, OFFPEAK of each month; NaN where a block has no hours


@dataclass(frozen=True, eq=False)
class CurveProblem:
    """The solver's problem for a set of quotes, with what the build reports alongside."""

    quotes: list[Quote]
    grid: Grid
    problem: SmoothProblem
    adjustments: list  # reconciliation's moves (models.Adjustment)
    liquid_until: dt.date


def curve_problem(
    market: str,
    as_of_date: dt.date,
    quotes: Sequence[Quote],
    *,
    shape: np.ndarray | None = None,
    escalation: float = DEFAULT_ESCALATION,
    decay_hours: float = DEFAULT_DECAY_HOURS,
    spread_decay_hours: float | None = DEFAULT_SPREAD_DECAY_HOURS,
) -> CurveProblem:
    """Quotes to the max-smoothness problem: validation, grid, contract matrix, reconciliation, prior."""
    first_day = as_of_date + dt.timedelta(days=1)
    used = [q for q in quotes if q.start >= first_day and q.end <= HORIZON_END]
    if not used:
        raise QuoteError(f"no quote delivers after {as_of_date} (of {len(quotes)} given)")
    for quote in used:
        quote.check()
    cells = cell_grid(market, first_day, frozenset(d for q in used for d in (q.start, q.end)))
    hours = cells.hours
    matrix, totals = contract_matrix(used, cells.days, hours)
    prices, adjustments = reconcile(used, matrix, totals)
    liquid_until = max(q.end for q in used)
    liquid_day = liquid_until.toordinal() - EPOCH_ORDINAL
    prior = prior_values(
        cells.months,
        np.maximum(0.0, (cells.days[:-1] - liquid_day) / 365.25),
        np.ones((12, 2)) if shape is None else shape,
        anchor_level(used, liquid_until),
        escalation,
    )
    bid = np.fromiter((np.nan if q.bid is None else q.bid for q in used), dtype=float, count=len(used))
    ask = np.fromiter((np.nan if q.ask is None else q.ask for q in used), dtype=float, count=len(used))
    problem = SmoothProblem(
        lengths=cells.lengths,
        hours=hours,
        prior=prior,
        contracts=matrix,
        prices=prices,
        bid=bid,
        ask=ask,
        liquid_end=int(np.searchsorted(cells.days, liquid_day)),
        tension=tension_for_decay(decay_hours),
        spread_tension=0.0 if spread_decay_hours is None else spread_tension_for_decay(spread_decay_hours),
    )
    return CurveProblem(used, cells, problem, adjustments, liquid_until)


def curve_values(
    market: str,
    as_of_date: dt.date,
    quotes: Sequence[Quote],
    *,
    shape: np.ndarray | None = None,
    escalation: float = DEFAULT_ESCALATION,
    decay_hours: float = DEFAULT_DECAY_HOURS,
    spread_decay_hours: float | None = DEFAULT_SPREAD_DECAY_HOURS,
) -> CurveValues:
    """Quotes to curve: `curve_problem`, the max-smoothness solve and the monthly ATC/PEAK/OFFPEAK
    values — everything but the output rows."""
    setup = curve_problem(
        market,
        as_of_date,
        quotes,
        shape=shape,
        escalation=escalation,
        decay_hours=decay_hours,
        spread_decay_hours=spread_decay_hours,
    )
    used, cells, problem = setup.quotes, setup.grid, setup.problem
    try:
        solution = solve(problem)
    except InfeasibleBands:
        banded = ", ".join(q.where() for q in used if q.banded)
        raise QuoteError(f"the bid/ask bands cannot all hold with the other quotes: {banded}") from None
    except InconsistentContracts as exc:
        named = ", ".join(used[j].where() for j in exc.contracts)
        raise QuoteError(f"contracts contradict each other: {named}") from None
    month_starts = np.flatnonzero(np.diff(cells.months, prepend=-1) != 0)
    monthly = _blend(solution.values, cells.hours, month_starts)
    return CurveValues(
        used, cells, problem, solution, setup.adjustments, setup.liquid_until, month_starts, monthly
    )


def build_curve(
    market: str,
    location: str,
    as_of_date: dt.date,
    quotes: Sequence[Quote],
    *,
    shape: np.ndarray | None = None,
    escalation: float = DEFAULT_ESCALATION,
    decay_hours: float = DEFAULT_DECAY_HOURS,
    spread_decay_hours: float | None = DEFAULT_SPREAD_DECAY_HOURS,
    granularity: str = "month",
) -> tuple[CurveBuild, SmoothSolution, list[dt.date]]:
    """The curve as of `as_of_date` (delivery from the next day to Dec 2050), with its reconciliation
    report; also the solution and grid, which lineage reads. `spread_decay_hours` None: no pull of the
    peak/off-peak split towards the prior's (runs built before it existed)."""
    curve = curve_values(
        market,
        as_of_date,
        quotes,
        shape=shape,
        escalation=escalation,
        decay_hours=decay_hours,
        spread_decay_hours=spread_decay_hours,
    )
    bounds = list(curve.grid.bounds)
    if granularity == "month":
        points = _monthly_points(curve)
    else:
        points = _points(bounds, curve.grid.hours, curve.solution.values, curve.liquid_until, granularity)
    parameters: dict[str, object] = {
        "escalation": escalation,
        "decay_hours": decay_hours,
        "method": METHOD,
        "granularity": granularity,
    }
    if spread_decay_hours is not None:
        parameters["spread_decay_hours"] = spread_decay_hours
    build = CurveBuild(
        market=market,
        location=location,
        as_of_date=as_of_date,
        granularity=granularity,
        points=points,
        adjustments=curve.adjustments,
        quotes=curve.quotes,
        liquid_until=curve.liquid_until,
        parameters=parameters,
        objective=float(curve.solution.objective),
        solver=curve.solution.method,
    )
    return build, curve.solution, bounds


def nodal_points(
    build: CurveBuild, solution: SmoothSolution, bounds: list[dt.date], basis: Basis
) -> dict[str, list[CurvePoint]]:
    """Each node's curve: the hub curve plus the node's basis by calendar month and block."""
    hours = calendar.block_hours(build.market, bounds).astype(float)
    nodes = nodal_curves(bounds[:-1], solution.values[:, 0], solution.values[:, 1], basis)
    return {
        str(node): _points(
            bounds,
            hours,
            np.column_stack([nodes.peak[k], nodes.offpeak[k]]),
            build.liquid_until,
            build.granularity,
        )
        for k, node in enumerate(nodes.nodes)
    }


def hourly_values(
    market: str, bounds: list[dt.date], solution: SmoothSolution, factors: ShapeFactors
) -> tuple[np.ndarray, np.ndarray]:
    """The hourly curve: UTC hour starts and values that average back to every cell's PEAK and OFFPEAK."""
    hours, values = hourly_curve(market, bounds, solution.values[:, 0], solution.values[:, 1], factors)
    return hours.utc_start, values


def _blend(values: np.ndarray, hours: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """(k, 3) hour-weighted ATC, PEAK and OFFPEAK of the cell runs beginning at `starts`; NaN where a
    block has no hours in the run."""
    weighted = np.add.reduceat(values * hours, starts, axis=0)
    block_hours = np.add.reduceat(hours, starts, axis=0)
    out = np.empty((starts.size, 3))
    out[:, 0] = weighted.sum(axis=1) / block_hours.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[:, 1:] = np.where(block_hours > 0, weighted / block_hours, np.nan)
    return out


def _monthly_points(curve: CurveValues) -> list[CurvePoint]:
    bounds, liquid_until = curve.grid.bounds, curve.liquid_until
    ends = [*curve.month_starts[1:].tolist(), len(bounds) - 1]
    return [
        CurvePoint(bounds[i], bounds[j], product, value, modelled=bounds[i] >= liquid_until)
        for i, j, row in zip(curve.month_starts.tolist(), ends, curve.monthly.tolist(), strict=True)
        for product, value in zip(PRODUCTS, row, strict=True)
        if value == value  # not NaN: the block has hours in the month
    ]


def _points(
    bounds: list[dt.date], hours: np.ndarray, values: np.ndarray, liquid_until: dt.date, granularity: str
) -> list[CurvePoint]:
    if granularity == "day":
        spans = []
        for i, start in enumerate(bounds[:-1]):
            day = start
            while day < bounds[i + 1]:
                spans.append((day, day + dt.timedelta(days=1), slice(i, i + 1)))
                day += dt.timedelta(days=1)
    elif granularity == "month":
        spans = []
        i = 0
        while i < len(bounds) - 1:
            end = _next_month(bounds[i])
            j = i
            while j < len(bounds) - 1 and bounds[j + 1] <= end:
                j += 1
            spans.append((bounds[i], bounds[j], slice(i, j)))
            i = j
    else:
        raise ValueError(f"granularity must be 'month' or 'day', not {granularity!r}")
    starts = np.array([cells.start for _, _, cells in spans])
    blended = _blend(values, hours, starts).tolist()
    return [
        CurvePoint(start, end, product, value, modelled=start >= liquid_until)
        for (start, end, _), row in zip(spans, blended, strict=True)
        for product, value in zip(PRODUCTS, row, strict=True)
        if value == value
    ]
