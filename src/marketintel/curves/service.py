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

import numpy as np

from marketintel.curves import calendar
from marketintel.curves.basis import Basis, nodal_curves
from marketintel.curves.grid import (  # noqa: F401  (re-exported: callers name them here)
    EPOCH_ORDINAL,
    PRODUCTS,
    Grid,
    _next_month,
    cell_grid,
    contract_matrix,
    grid,
)
from marketintel.curves.layout import layout, quote_prices
from marketintel.curves.models import HORIZON_END, METHOD, CurveBuild, CurvePoint, Quote, QuoteError
from marketintel.curves.prior import prior_values
from marketintel.curves.reconcile import reconciled
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
    month_starts: np.ndarray  # (k,) index of the first cell of each calendar month (the BOM cell first)


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
    """Quotes to the max-smoothness problem: validation, grid, contract matrix, reconciliation, prior.
    Everything prices do not change is the contract set's `layout`, built once per set."""
    first_day = as_of_date + dt.timedelta(days=1)
    used = [q for q in quotes if q.start >= first_day and q.end <= HORIZON_END]
    if not used:
        raise QuoteError(f"no quote delivers after {as_of_date} (of {len(quotes)} given)")
    known = layout(market, first_day, used)
    cells = known.grid
    values = quote_prices(used, known.banded)
    prices, adjustments = reconciled(used, values[:, 0], known.fixed, known.projector)
    prior = prior_values(
        cells.months,
        known.years_beyond,
        np.ones((12, 2)) if shape is None else shape,
        float(known.anchor @ values[:, 0]),
        escalation,
    )
    problem = SmoothProblem(
        lengths=cells.lengths,
        hours=cells.hours,
        prior=prior,
        contracts=known.matrix,
        prices=prices,
        bid=values[:, 1],
        ask=values[:, 2],
        liquid_end=known.liquid_end,
        tension=tension_for_decay(decay_hours),
        spread_tension=0.0 if spread_decay_hours is None else spread_tension_for_decay(spread_decay_hours),
    )
    return CurveProblem(used, cells, problem, adjustments, known.liquid_until, known.month_starts)


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
    monthly = _blend(solution.values, cells.hours, setup.month_starts)
    return CurveValues(
        used, cells, problem, solution, setup.adjustments, setup.liquid_until, setup.month_starts, monthly
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
