"""Curves benchmark: the max-smoothness forward curve solver against the same problem in cvxpy + Clarabel.

A monthly grid from the day after the as-of date to Dec 2050 (a balance-of-month cell, then ~290 months)
with ~35 overlapping quotes: balance-of-month, 12 months, 4 quarters, 2 seasons, calendar strips 2027–2035
(ATC), PEAK and OFFPEAK on the first three months and PEAK on Cal-27. Prices come from one synthetic curve,
so overlapping quotes are consistent (Cal-28 and its quarters, ATC and its PEAK/OFFPEAK pair: redundant
rows the solver drops). The calendar is synthetic (24-hour days, 16 peak hours on weekdays, no holidays):
the solver takes hour counts, not dates.

Timed: `solve(problem)` — objective assembly, rank check, factorisation, solve — over many repeats (Q's
factor, the whitened contracts, the Schur factor and the rank check are cached per grid, parameters and
contract matrix, none of which prices change; "ours_cold_caches_ms" clears them each call), and
the same with building the validated `SmoothProblem`; the cvxpy formulation (weighted second differences,
sum of squares, Clarabel) built once outside the timing with its `solve()` timed, and built + solved each
time. Also a band case (bid/ask on quarters, seasons and late calendars, some binding) and, for
information, a daily grid to 2050.

The headline case, "monthly-from-quotes", is the production path on the same quotes as `Quote`s for MISO
(real 5x16 calendar with NERC holidays and DST): `curve_values` — quote checks, grid and calendar hours,
contract matrix, reconciliation, prior, `SmoothProblem`, solve (with the peak/off-peak spread tension)
and the monthly ATC/PEAK/OFFPEAK values. What prices do not change — the grid, the contract set's
layout (matrix, reconciliation projection, anchor weights) and the solver's factorisations — is cached
per market, first day and contract set, as daily rebuilds of a curve share them; "ours_new_prices_ms"
gives every call other prices (the same contracts) to show the caches do not hold the answer, and
"ours_cold_caches_ms" clears them all each call. Against cvxpy built + solved on the problem that path
produced, and against what a cvxpy user pays from the same quotes (the same front end, then cvxpy build
+ solve). `build_curve` (the same plus ~870 `CurvePoint` output rows) is timed for information.

    python -m bench.curves [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import gc
import itertools
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import cvxpy as cp
import numpy as np
import scipy.sparse as sp
from rich.console import Console
from rich.table import Table

from bench.common import latency_stats, load_average, machine_info, ratio, write_results
from marketintel.curves import layout, service, smooth
from marketintel.curves.models import Quote
from marketintel.curves.service import build_curve, curve_problem, curve_values
from marketintel.curves.smooth import SmoothProblem, contract_row, objective_value, solve, tension_for_decay

AS_OF = dt.date(2026, 11, 22)
HORIZON_END = dt.date(2051, 1, 1)  # exclusive: delivery to Dec 2050
DECAY_HOURS = 2 * 8766.0  # the long end relaxes to the anchor over ~2 years
TARGET_P50_MS = 5.0
TARGET_SPEEDUP = 20.0
console = Console(stderr=True, width=150)


# --- the synthetic market -----------------------------------------------------------------------------


def _month(day: dt.date, months: int = 0) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Grid:
    starts: list[dt.date]  # cell boundaries: n + 1 dates
    lengths: np.ndarray
    hours: np.ndarray

    @classmethod
    def of(cls, bounds: list[dt.date]) -> Grid:
        first, last = (
            np.array(bounds[:-1], dtype="datetime64[D]"),
            np.array(bounds[1:], dtype="datetime64[D]"),
        )
        days = (last - first).astype(float)
        peak = 16.0 * np.busday_count(first, last)
        lengths = 24.0 * days
        return cls(bounds, lengths, np.stack([peak, lengths - peak], axis=1))

    def cells(self, start: dt.date, end: dt.date) -> slice:
        return slice(self.starts.index(start), self.starts.index(end))


def monthly_grid() -> Grid:
    first = AS_OF + dt.timedelta(days=1)
    bounds = [first]
    month = _month(first, 1)
    while month <= HORIZON_END:
        bounds.append(month)
        month = _month(month, 1)
    return Grid.of(bounds)


def daily_grid() -> Grid:
    first = AS_OF + dt.timedelta(days=1)
    days = (HORIZON_END - first).days
    return Grid.of([first + dt.timedelta(days=d) for d in range(days + 1)])


def quotes() -> list[tuple[str, dt.date, dt.date, str]]:
    """(name, start, end exclusive, product)."""
    first = AS_OF + dt.timedelta(days=1)
    out = [("BOM", first, _month(first, 1), "ATC")]
    for k in range(1, 13):
        start = _month(first, k)
        out.append((f"{start:%b-%y}", start, _month(start, 1), "ATC"))
    out += [
        (f"Q{q + 1}-28", dt.date(2028, 3 * q + 1, 1), _month(dt.date(2028, 3 * q + 1, 1), 3), "ATC")
        for q in range(4)
    ]
    out += [("SUM-29", dt.date(2029, 4, 1), dt.date(2029, 10, 1), "ATC")]
    out += [("WIN-29", dt.date(2029, 10, 1), dt.date(2030, 4, 1), "ATC")]
    out += [(f"CAL-{y % 100}", dt.date(y, 1, 1), dt.date(y + 1, 1, 1), "ATC") for y in range(2027, 2036)]
    for k in range(1, 4):
        start = _month(first, k)
        out += [(f"{start:%b-%y}-{p}", start, _month(start, 1), p) for p in ("PEAK", "OFFPEAK")]
    out.append(("CAL-27-PEAK", dt.date(2027, 1, 1), dt.date(2028, 1, 1), "PEAK"))
    return out


def true_curve(grid: Grid) -> np.ndarray:
    """A seasonal curve with a gentle contango and noise, PEAK above OFFPEAK, $/MWh."""
    rng = np.random.default_rng(11)
    starts = np.array(grid.starts[:-1], dtype="datetime64[D]")
    years = (starts - np.datetime64(AS_OF)).astype(float) / 365.25
    month = (starts.astype("datetime64[M]").astype(int) % 12).astype(float)
    base = (
        42
        + 1.1 * years
        + 9 * np.cos(2 * np.pi * (month - 0.5) / 12)
        + 4 * np.cos(4 * np.pi * (month - 7) / 12)
    )
    base += rng.normal(0, 1.5, years.size).cumsum() * 0.05
    return np.stack([1.35 * base, 0.78 * base], axis=1)


def seasonal_prior(grid: Grid, level: float, liquid_until: dt.date) -> np.ndarray:
    """The lead's prior shape: calendar-month factors × a level, escalated 2 %/year beyond the traded end."""
    starts = np.array(grid.starts[:-1], dtype="datetime64[D]")
    month = (starts.astype("datetime64[M]").astype(int) % 12).astype(float)
    shape = 1 + 0.18 * np.cos(2 * np.pi * (month - 0.5) / 12)
    beyond = np.maximum(0.0, (starts - np.datetime64(liquid_until)).astype(float) / 365.25)
    levels = level * 1.02**beyond
    return np.stack([1.3 * shape * levels, 0.8 * shape * levels], axis=1)


def build(grid: Grid, bands: bool) -> tuple[SmoothProblem, list[str]]:
    specs = quotes()
    rows = [contract_row(grid.cells(start, end), product, grid.hours) for _, start, end, product in specs]  # type: ignore[arg-type]
    contracts = sp.csr_array(np.vstack(rows))
    prices = contracts @ true_curve(grid).ravel()
    liquid_until = max(end for _, _, end, _ in specs)
    names = [name for name, *_ in specs]
    bid = ask = None
    if bands:  # quarters, seasons and the last calendars trade in a band; some off the fair price
        bid, ask = np.full(prices.size, np.nan), np.full(prices.size, np.nan)
        rng = np.random.default_rng(3)
        for j, name in enumerate(names):
            if name.startswith(("Q", "SUM", "WIN", "CAL-33", "CAL-34", "CAL-35")):
                centre = prices[j] + rng.choice([0.0, 0.0, 1.2, -1.2])
                bid[j], ask[j] = centre - 0.6, centre + 0.6
    problem = SmoothProblem(
        lengths=grid.lengths,
        hours=grid.hours,
        prior=seasonal_prior(grid, float(prices[names.index("CAL-35")]), liquid_until),
        contracts=contracts,
        prices=prices,
        bid=bid,
        ask=ask,
        liquid_end=grid.starts.index(liquid_until),
        tension=tension_for_decay(DECAY_HOURS),
    )
    return problem, names


# --- cvxpy ------------------------------------------------------------------------------------------


def cvxpy_problem(problem: SmoothProblem) -> tuple[cp.Problem, cp.Variable, float]:
    """The same QP written in cvxpy: weighted second divided differences of each series (and of the
    spread), tension beyond liquid_end, the contracts as equalities or two-sided bands. Time in units of
    the mean period length, so the objective is J × scale³."""
    n = problem.periods
    scale = float(problem.lengths.mean())
    ell = problem.lengths / scale
    t = np.cumsum(ell) - ell / 2
    left, right = t[1:-1] - t[:-2], t[2:] - t[1:-1]
    root = np.sqrt((left + right) / 2)
    operator = sp.diags_array(
        [root * 2 / (left * (left + right)), -root * 2 / (left * right), root * 2 / (right * (left + right))],
        offsets=[0, 1, 2],
        shape=(n - 2, n),
    )
    x = cp.Variable(2 * n)
    peak, offpeak = x[0::2], x[1::2]
    pull = np.sqrt(problem.tension * scale**4 * ell * (np.arange(n) >= problem.liquid_end))
    objective = (
        cp.sum_squares(operator @ peak)
        + cp.sum_squares(operator @ offpeak)
        + cp.sum_squares(cp.multiply(pull, peak))
        + cp.sum_squares(cp.multiply(pull, offpeak))
    )
    if problem.spread_smoothness:
        objective += problem.spread_smoothness * cp.sum_squares(operator @ (peak - offpeak))
    if problem.spread_tension:
        ridge = np.sqrt(problem.spread_tension * scale**4 * ell)
        objective += cp.sum_squares(cp.multiply(ridge, peak - offpeak))
    a = problem.contracts
    offset = a @ problem.prior.ravel()
    banded = ~np.isnan(problem.bid)
    constraints = []
    if (~banded).any():
        constraints.append(a[~banded] @ x == (problem.prices - offset)[~banded])
    if banded.any():
        constraints += [
            a[banded] @ x >= (problem.bid - offset)[banded],
            a[banded] @ x <= (problem.ask - offset)[banded],
        ]
    return cp.Problem(cp.Minimize(objective), constraints), x, scale**3


# --- timing -------------------------------------------------------------------------------------------


def clear_caches() -> None:
    """Forget what depends only on a grid or a contract set: grids, layouts, factorisations, rank checks."""
    service.cell_grid.cache_clear()
    layout.clear_layouts()
    smooth.clear_caches()


def timed(call: Callable[[], object], repeats: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        call()
    gc.collect()
    gc.disable()
    try:
        seconds = []
        for _ in range(repeats):
            started = time.perf_counter()
            call()
            seconds.append(time.perf_counter() - started)
    finally:
        gc.enable()
    return seconds


def reproduction(problem: SmoothProblem, values: np.ndarray) -> dict[str, float]:
    """How far the curve's contract averages are from the prices (equalities) or outside the bands."""
    averages = problem.contracts @ values.ravel()
    banded = ~np.isnan(problem.bid)
    off_price = np.abs(averages - problem.prices)[~banded]
    outside = np.maximum(problem.bid - averages, averages - problem.ask)[banded]
    return {
        "max_price_error": float(off_price.max(initial=0.0)),
        "max_band_excess": float(np.maximum(outside, 0.0).max(initial=0.0)),
    }


def case(name: str, problem: SmoothProblem, repeats: int, cvxpy_repeats: int, build_repeats: int) -> dict:
    solution = solve(problem)
    ours = timed(lambda: solve(problem), repeats)
    fields = {
        f: getattr(problem, f) for f in ("lengths", "hours", "prior", "contracts", "prices", "bid", "ask")
    }
    fields |= {"liquid_end": problem.liquid_end, "tension": problem.tension}
    with_problem = timed(lambda: solve(SmoothProblem(**fields)), repeats)

    def cold() -> None:
        smooth.clear_caches()
        solve(problem)

    cold_ms = timed(cold, max(repeats // 5, 20))
    result: dict = {
        "case": name,
        "periods": problem.periods,
        "unknowns": 2 * problem.periods,
        "contracts": int(problem.prices.size),
        "banded_contracts": int(problem.banded.sum()),
        "redundant_contracts": int(solution.redundant.size),
        "binding_bands": int(np.count_nonzero(solution.binding)),
        "method": solution.method,
        "factorisation": solution.factorisation,
        "polished": solution.polished,
        "objective": solution.objective,
        "objective_from_formula": objective_value(problem, solution.adjustment),
        **reproduction(problem, solution.values),
        "ours_ms": latency_stats(ours),
        "ours_with_problem_ms": latency_stats(with_problem),
        "ours_cold_caches_ms": latency_stats(cold_ms),
        "cold_caches_what": "solve with smooth.clear_caches() each call (Q's factor, Schur factors, rank checks)",
    }
    if cvxpy_repeats:
        model, x, factor = cvxpy_problem(problem)
        model.solve(solver=cp.CLARABEL)  # compiles the problem once, outside the timing
        solve_only = timed(lambda: model.solve(solver=cp.CLARABEL), cvxpy_repeats, warmup=1)
        theirs = float(model.value) / factor
        built = timed(lambda: cvxpy_problem(problem)[0].solve(solver=cp.CLARABEL), build_repeats, warmup=0)
        theirs_values = problem.prior + np.asarray(x.value).reshape(-1, 2)
        speedup = ratio(np.median(solve_only), np.median(ours))
        speedup_built = ratio(np.median(built), np.median(ours))
        speedup_cold = ratio(np.median(built), np.median(cold_ms))
        relative = (solution.objective - theirs) / abs(theirs)
        result |= {
            "cvxpy": {
                "what": "cp.Problem(sum_squares(weighted second differences) + tension, contracts) + CLARABEL, defaults",
                "status": model.status,
                "objective": theirs,
                "objective_from_formula": objective_value(problem, theirs_values - problem.prior),
                **reproduction(problem, theirs_values),
                "solve_ms": latency_stats(solve_only),
                "build_and_solve_ms": latency_stats(built),
            },
            "speedup_vs_cvxpy_solve": speedup,
            "speedup_vs_cvxpy_build_and_solve": speedup_built,
            "speedup_cold_caches_vs_cvxpy_build_and_solve": speedup_cold,
            "objective_relative_to_cvxpy": relative,
            "targets": {
                "p50_ms_max": TARGET_P50_MS,
                "speedup_min": TARGET_SPEEDUP,
                "p50_pass": result["ours_ms"]["p50_ms"] <= TARGET_P50_MS,
                "speedup_vs_solve_pass": bool(speedup and speedup >= TARGET_SPEEDUP),
                "speedup_vs_build_and_solve_pass": bool(speedup_built and speedup_built >= TARGET_SPEEDUP),
                "objective_pass": relative <= 1e-9,
            },
        }
    return result


def market_quotes() -> list[Quote]:
    """The benchmark's quotes as a user hands them in, priced from the synthetic curve."""
    problem, _ = build(monthly_grid(), bands=False)
    return [
        Quote(name, product, start, end, float(price))
        for (name, start, end, product), price in zip(quotes(), problem.prices, strict=True)
    ]


def from_quotes_case(repeats: int, cvxpy_repeats: int) -> dict:
    """Quotes to curve values on the production path, against cvxpy + Clarabel from the same quotes."""
    market, given = "MISO", market_quotes()
    curve = curve_values(market, AS_OF, given)
    ours = timed(lambda: curve_values(market, AS_OF, given), repeats)
    with_rows = timed(lambda: build_curve(market, "INDIANA.HUB", AS_OF, given), max(repeats // 5, 20))

    def cold() -> None:  # without the grid, layout and solver caches; the calendar's stay
        clear_caches()
        curve_values(market, AS_OF, given)

    cold_ms = timed(cold, max(repeats // 5, 20))
    # the same contracts at other (consistent: scaled) prices each call, as on the next trading days
    days = [[dataclasses.replace(q, price=q.price * (1.0 + 0.003 * k)) for q in given] for k in range(1, 64)]
    turn = itertools.cycle(days)
    new_prices = timed(lambda: curve_values(market, AS_OF, next(turn)), repeats)
    problem, solution = curve.problem, curve.solution

    solve_only = timed(lambda: solve(problem), repeats)
    # what a cvxpy user also needs from quotes: the same path up to the problem
    front = timed(lambda: curve_problem(market, AS_OF, given), repeats)
    model, x, factor = cvxpy_problem(problem)
    model.solve(solver=cp.CLARABEL)
    theirs = float(model.value) / factor
    theirs_values = problem.prior + np.asarray(x.value).reshape(-1, 2)
    built = timed(lambda: cvxpy_problem(problem)[0].solve(solver=cp.CLARABEL), cvxpy_repeats, warmup=1)
    p50 = float(np.median(ours))
    front_p50 = float(np.median(front))
    built_p50 = float(np.median(built))
    speedup_built = ratio(built_p50, p50)
    speedup_from_quotes = ratio(front_p50 + built_p50, p50)
    relative = (solution.objective - theirs) / abs(theirs)
    return {
        "case": "monthly-from-quotes",
        "market": market,
        "periods": problem.periods,
        "unknowns": 2 * problem.periods,
        "contracts": int(problem.prices.size),
        "redundant_contracts": int(solution.redundant.size),
        "method": solution.method,
        "factorisation": solution.factorisation,
        "spread_tension": problem.spread_tension,
        "objective": solution.objective,
        "objective_from_formula": objective_value(problem, solution.adjustment),
        **reproduction(problem, solution.values),
        "ours_what": (
            "curve_values(): quote checks, grid + calendar hours (cached per market/first day/contract "
            "dates), contract matrix, reconciliation, prior, SmoothProblem, solve, monthly ATC/PEAK/OFFPEAK "
            "values; not CSV parsing nor CurvePoint output rows (build_curve_ms)"
        ),
        "ours_ms": latency_stats(ours),
        "solve_only_ms": latency_stats(solve_only),
        "front_end_ms_p50": round(front_p50 * 1e3, 3),
        "build_curve_ms": latency_stats(with_rows),
        "ours_new_prices_ms": latency_stats(new_prices),
        "new_prices_what": "curve_values, each call the same contracts at other prices (63 price sets in turn)",
        "ours_cold_caches_ms": latency_stats(cold_ms),
        "cold_caches_what": (
            "curve_values with every cache of a grid or contract set cleared each call (service.cell_grid, "
            "layout.clear_layouts, smooth.clear_caches: Q's band and factor, whitened contracts, Schur "
            "factors, rank checks); the market calendar's stay"
        ),
        "cvxpy": {
            "what": "bench.curves.cvxpy_problem(problem) + CLARABEL defaults, built and solved each time",
            "status": model.status,
            "objective": theirs,
            "objective_from_formula": objective_value(problem, theirs_values - problem.prior),
            **reproduction(problem, theirs_values),
            "build_and_solve_ms": latency_stats(built),
        },
        "speedup_vs_cvxpy_build_and_solve": speedup_built,
        "speedup_vs_cvxpy_from_quotes": speedup_from_quotes,
        "speedup_new_prices_vs_cvxpy_build_and_solve": ratio(built_p50, float(np.median(new_prices))),
        "speedup_cold_caches_vs_cvxpy_build_and_solve": ratio(built_p50, float(np.median(cold_ms))),
        "objective_relative_to_cvxpy": relative,
        "targets": {
            "p50_ms_max": TARGET_P50_MS,
            "speedup_min": TARGET_SPEEDUP,
            "p50_pass": p50 * 1e3 <= TARGET_P50_MS,
            "speedup_vs_cvxpy_build_and_solve_pass": bool(speedup_built and speedup_built >= TARGET_SPEEDUP),
            "speedup_vs_cvxpy_from_quotes_pass": bool(
                speedup_from_quotes and speedup_from_quotes >= TARGET_SPEEDUP
            ),
            "objective_pass": relative <= 1e-9,
        },
    }


def single_threaded_blas(argv: list[str] | None) -> None:
    """Re-run this benchmark with OpenBLAS on one thread unless it already is: the solver's matrices are
    small, and on a shared machine BLAS threads waiting for busy cores turn 1 ms solves into 10 ms ones.
    Clarabel (cvxpy's solver here) does not use OpenBLAS threads, so the comparison stays fair."""
    if os.environ.get("OPENBLAS_NUM_THREADS") != "1":
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
        args = sys.argv[1:] if argv is None else argv
        os.execve(sys.executable, [sys.executable, "-m", "bench.curves", *args], env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, no daily grid")
    args = parser.parse_args(argv)
    single_threaded_blas(argv)
    repeats, cvxpy_repeats, build_repeats = (50, 5, 2) if args.quick else (1000, 50, 10)
    load_before = load_average()
    monthly = monthly_grid()
    cases = []
    with console.status("monthly curve from quotes (production path)…"):
        cases.append(from_quotes_case(repeats, build_repeats * 3))
    with console.status("monthly grid, equality quotes…"):
        cases.append(case("monthly", build(monthly, bands=False)[0], repeats, cvxpy_repeats, build_repeats))
    with console.status("monthly grid, bid/ask bands…"):
        cases.append(
            case("monthly-bands", build(monthly, bands=True)[0], repeats, cvxpy_repeats, build_repeats)
        )
    if not args.quick:
        with console.status("daily grid (information)…"):
            cases.append(case("daily", build(daily_grid(), bands=False)[0], 20, 0, 0))
    payload = {
        "benchmark": "curves",
        "created": dt.datetime.now(dt.UTC).isoformat(),
        "command": "python -m bench.curves" + (" --quick" if args.quick else ""),
        "machine": machine_info(("numpy", "scipy", "clarabel", "cvxpy")),
        "load_average": {"before": load_before, "after": load_average()},
        "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "as_of": AS_OF,
        "tension_decay_hours": DECAY_HOURS,
        "cases": cases,
    }
    suffix = "-quick" if args.quick else ""
    paths = write_results(
        f"curves-{dt.date.today():%Y%m%d}{suffix}", payload, latest=f"curves-latest{suffix}"
    )

    table = Table(
        "case",
        "grid (solve)",
        "ours p50 / p95 ms",
        "cvxpy solve / build+solve p50 ms",
        "speed-up",
        "objective vs cvxpy",
        "quotes",
        title="curves benchmark",
    )
    for c in cases:
        theirs = c.get("cvxpy")
        if c["case"] == "monthly-from-quotes":
            table.add_row(
                c["case"],
                f"{c['periods']} × 2 ({c['factorisation']})",
                f"{c['ours_ms']['p50_ms']} / {c['ours_ms']['p95_ms']}",
                f"— / {theirs['build_and_solve_ms']['p50_ms']} (+ front end {c['front_end_ms_p50']})",
                f"{c['speedup_vs_cvxpy_build_and_solve']}× / {c['speedup_vs_cvxpy_from_quotes']}× from quotes",
                f"{c['objective_relative_to_cvxpy']:+.1e}",
                f"{c['contracts']}: {c['redundant_contracts']} redundant",
            )
            continue
        table.add_row(
            c["case"],
            f"{c['periods']} × 2 ({c['factorisation']})",
            f"{c['ours_ms']['p50_ms']} / {c['ours_ms']['p95_ms']}",
            f"{theirs['solve_ms']['p50_ms']} / {theirs['build_and_solve_ms']['p50_ms']}" if theirs else "—",
            f"{c['speedup_vs_cvxpy_solve']}× / {c['speedup_vs_cvxpy_build_and_solve']}×" if theirs else "—",
            f"{c['objective_relative_to_cvxpy']:+.1e}" if theirs else "—",
            f"{c['contracts']}: {c['redundant_contracts']} redundant, {c['binding_bands']} bands binding",
        )
    console.print(table)
    console.print(f"results: {', '.join(str(p) for p in paths)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
