"""Building a forward curve: quotes → grid → reconciliation → max-smoothness solve → points.

The grid's cells are the months to Dec 2050, split wherever a contract starts or ends inside a month
(a balance-of-month, a day), so every contract covers whole cells and the cells are few (~300). Each cell
has a PEAK and an OFFPEAK value; a contract's price is the hour-weighted average of the cells and blocks
its product covers (ATC: both blocks), with real hour counts (23/25-hour DST days) from the calendar.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

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
    tension_for_decay,
)

DEFAULT_ESCALATION = 0.02  # a year, beyond the traded horizon
DEFAULT_DECAY_HOURS = 365 * 24.0  # beyond the last contract the curve bends onto the anchor over ~a year
PRODUCT_BLOCKS = {"ATC": (0, 1), "PEAK": (0,), "OFFPEAK": (1,)}


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def grid(first_day: dt.date, quotes: Sequence[Quote]) -> list[dt.date]:
    """Cell boundaries: the first delivery day, every month start after it to the horizon end, and
    every contract start and end in between."""
    bounds = {first_day, HORIZON_END}
    month = _next_month(first_day)
    while month < HORIZON_END:
        bounds.add(month)
        month = _next_month(month)
    for quote in quotes:
        bounds.update(d for d in (quote.start, quote.end) if first_day < d < HORIZON_END)
    return sorted(bounds)


def contract_matrix(
    quotes: Sequence[Quote], bounds: list[dt.date], hours: np.ndarray
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Rows: each contract's hour weights over the (cell, block) unknowns (cell-major: 2·cell + block),
    summing to 1; and each contract's total hours."""
    index = {d: i for i, d in enumerate(bounds)}
    rows, cols, weights, totals = [], [], [], []
    for j, quote in enumerate(quotes):
        first, last = index[quote.start], index[quote.end]
        blocks = PRODUCT_BLOCKS[quote.product]
        cells = np.arange(first, last)
        w = hours[first:last][:, blocks]
        total = float(w.sum())
        if total <= 0:
            raise QuoteError(
                f"{quote.where()}: {quote.product} has no delivery hours in {quote.start}..{quote.end}"
            )
        for k, block in enumerate(blocks):
            rows.append(np.full(cells.size, j))
            cols.append(2 * cells + block)
            weights.append(w[:, k] / total)
        totals.append(total)
    matrix = sp.csr_matrix(
        (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(quotes), 2 * (len(bounds) - 1)),
    )
    return matrix, np.array(totals)


def anchor_level(quotes: Sequence[Quote], liquid_until: dt.date) -> float:
    """The hour-weighted ATC level of the last traded year's contracts (any product if no ATC)."""
    last_year = [q for q in quotes if q.end > liquid_until - dt.timedelta(days=366)]
    chosen = [q for q in last_year if q.product == "ATC"] or last_year
    days = np.array([(q.end - q.start).days for q in chosen], dtype=float)
    return float(np.average([q.price for q in chosen], weights=days))


def build_curve(
    market: str,
    location: str,
    as_of_date: dt.date,
    quotes: Sequence[Quote],
    *,
    shape: np.ndarray | None = None,
    escalation: float = DEFAULT_ESCALATION,
    decay_hours: float = DEFAULT_DECAY_HOURS,
    granularity: str = "month",
) -> tuple[CurveBuild, SmoothSolution, list[dt.date]]:
    """The curve as of `as_of_date` (delivery from the next day to Dec 2050), with its reconciliation
    report; also the solution and grid, which lineage reads."""
    first_day = as_of_date + dt.timedelta(days=1)
    used = [q for q in quotes if q.start >= first_day and q.end <= HORIZON_END]
    if not used:
        raise QuoteError(f"no quote delivers after {as_of_date} (of {len(quotes)} given)")
    for quote in used:
        quote.check()
    bounds = grid(first_day, used)
    hours = calendar.block_hours(market, bounds).astype(float)
    matrix, totals = contract_matrix(used, bounds, hours)
    prices, adjustments = reconcile(used, matrix, totals)
    liquid_until = max(q.end for q in used)
    starts = bounds[:-1]
    prior = prior_values(
        starts,
        np.ones((12, 2)) if shape is None else shape,
        anchor_level(used, liquid_until),
        liquid_until,
        escalation,
    )
    bid = np.array([np.nan if q.bid is None else q.bid for q in used])
    ask = np.array([np.nan if q.ask is None else q.ask for q in used])
    liquid_end = bounds.index(liquid_until) if liquid_until in bounds else len(starts)
    problem = SmoothProblem(
        lengths=hours.sum(axis=1),
        hours=hours,
        prior=prior,
        contracts=matrix,
        prices=prices,
        bid=bid,
        ask=ask,
        liquid_end=liquid_end,
        tension=tension_for_decay(decay_hours),
    )
    try:
        solution = solve(problem)
    except InfeasibleBands:
        banded = ", ".join(q.where() for q in used if q.banded)
        raise QuoteError(f"the bid/ask bands cannot all hold with the other quotes: {banded}") from None
    except InconsistentContracts as exc:
        named = ", ".join(used[j].where() for j in exc.contracts)
        raise QuoteError(f"contracts contradict each other: {named}") from None
    points = _points(bounds, hours, solution.values, liquid_until, granularity)
    build = CurveBuild(
        market=market,
        location=location,
        as_of_date=as_of_date,
        granularity=granularity,
        points=points,
        adjustments=adjustments,
        quotes=used,
        liquid_until=liquid_until,
        parameters={
            "escalation": escalation,
            "decay_hours": decay_hours,
            "method": METHOD,
            "granularity": granularity,
        },
        objective=float(solution.objective),
        solver=solution.method,
    )
    return build, solution, bounds


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


def _blend(values: np.ndarray, hours: np.ndarray) -> dict[str, float]:
    peak_h, off_h = float(hours[:, 0].sum()), float(hours[:, 1].sum())
    peak = float((values[:, 0] * hours[:, 0]).sum() / peak_h) if peak_h else float("nan")
    off = float((values[:, 1] * hours[:, 1]).sum() / off_h) if off_h else float("nan")
    atc = float((values * hours).sum() / (peak_h + off_h))
    return {"ATC": atc, "PEAK": peak, "OFFPEAK": off}


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
    points = []
    for start, end, cells in spans:
        blended = _blend(values[cells], hours[cells])
        for product, value in blended.items():
            if np.isfinite(value):
                points.append(CurvePoint(start, end, product, value, modelled=start >= liquid_until))
    return points
