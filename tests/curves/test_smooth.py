"""The max-smoothness curve solver: reproduction, the objective against an independent cvxpy formulation,
the long end, redundant and inconsistent contracts, bands, and the sensitivities lineage reads."""

from __future__ import annotations

from collections.abc import Callable

import cvxpy as cp
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from marketintel.curves import smooth
from marketintel.curves.smooth import (
    OFFPEAK,
    PEAK,
    InconsistentContracts,
    InfeasibleBands,
    SmoothProblem,
    contract_row,
    objective_matrix,
    objective_value,
    solve,
    spread_tension_for_decay,
    tension_for_decay,
)

MONTH_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=float)
YEAR_HOURS = 8760.0


def month_grid(months: int, first_days: float = 12.0) -> tuple[np.ndarray, np.ndarray]:
    """Lengths and PEAK/OFFPEAK hours of a balance-of-month cell then `months` calendar months (from Jan):
    a non-uniform grid, 16 peak hours on ~5/7 of the days."""
    days = np.concatenate([[first_days], np.resize(MONTH_DAYS, months)])
    lengths = 24.0 * days
    peak = 16.0 * np.round(days * 5 / 7)
    return lengths, np.stack([peak, lengths - peak], axis=1)


def seasonal(n: int, level: float = 40.0) -> np.ndarray:
    """A prior with a seasonal swing and a peak premium."""
    month = np.arange(n) % 12
    swing = 1.0 + 0.15 * np.cos(2 * np.pi * month / 12)
    return np.stack([1.25 * level * swing, 0.85 * level * swing], axis=1)


def truth(n: int, rng: np.random.Generator) -> np.ndarray:
    """A curve to price contracts from, so that every set of them is consistent."""
    t = np.arange(n)
    base = 45 + 8 * np.sin(2 * np.pi * t / 12) + 0.1 * t + rng.normal(0, 2, n)
    return np.stack([base * 1.3, base * 0.8], axis=1)


def mixed_contracts(hours: np.ndarray) -> tuple[sp.csr_array, list[str]]:
    """BOM, six months, two quarters, a season and a calendar year (ATC), PEAK and OFFPEAK on month 2 —
    the ATC month 2 is then their hour-weighted blend, a redundant row — and PEAK on the calendar year."""
    specs = [
        ("BOM", slice(0, 1), "ATC"),
        *[(f"M{i}", slice(i, i + 1), "ATC") for i in range(1, 7)],
        ("Q3", slice(7, 10), "ATC"),
        ("Q4", slice(10, 13), "ATC"),
        ("SUM", slice(16, 22), "ATC"),
        ("CAL", slice(13, 25), "ATC"),
        ("M2-PEAK", slice(2, 3), "PEAK"),
        ("M2-OFFPEAK", slice(2, 3), "OFFPEAK"),
        ("CAL-PEAK", slice(13, 25), "PEAK"),
    ]
    rows = [contract_row(periods, block, hours) for _, periods, block in specs]
    return sp.csr_array(np.vstack(rows)), [name for name, _, _ in specs]


def mixed_problem(**overrides: object) -> SmoothProblem:
    lengths, hours = month_grid(36)
    contracts, _ = mixed_contracts(hours)
    fields = {
        "lengths": lengths,
        "hours": hours,
        "prior": seasonal(lengths.size),
        "contracts": contracts,
        "prices": contracts @ truth(lengths.size, np.random.default_rng(5)).ravel(),
        "tension": tension_for_decay(YEAR_HOURS),
        "spread_smoothness": 0.1,
        "spread_tension": spread_tension_for_decay(YEAR_HOURS / 2, 0.1),
    }
    return SmoothProblem(**{**fields, **overrides})


def banded_problem() -> SmoothProblem:
    """Bands on M1, M4, Q3, SUM: wide around the fair price (inactive) or off it (must bind)."""
    problem = mixed_problem()
    fair = problem.prices
    bid = np.full(fair.size, np.nan)
    ask = np.full(fair.size, np.nan)
    bid[1], ask[1] = fair[1] - 5.0, fair[1] + 5.0  # loose: inactive
    bid[4], ask[4] = fair[4] + 1.0, fair[4] + 2.0  # above the fair price: the bid binds
    bid[7], ask[7] = fair[7] - 3.0, fair[7] - 1.5  # below: the ask binds
    bid[9], ask[9] = fair[9] - 0.2, fair[9] + 0.2
    return mixed_problem(bid=bid, ask=ask)


def spread_tension_only() -> SmoothProblem:
    """The service's configuration: tension and spread tension, no spread smoothness."""
    return mixed_problem(spread_smoothness=0.0, spread_tension=spread_tension_for_decay(YEAR_HOURS / 2))


def without_spread_terms() -> SmoothProblem:
    return mixed_problem(spread_smoothness=0.0, spread_tension=0.0)


def cvxpy_curve(problem: SmoothProblem) -> tuple[float, np.ndarray]:
    """The same problem written independently in cvxpy, the divided differences built point by point,
    solved by Clarabel through cvxpy. Time in units of the mean period length (J scales by its cube)."""
    n = problem.periods
    scale = problem.lengths.mean()
    ell = problem.lengths / scale
    t = np.cumsum(ell) - ell / 2
    operator = np.zeros((n - 2, n))
    for i in range(1, n - 1):
        left, right = t[i] - t[i - 1], t[i + 1] - t[i]
        weight = (left + right) / 2
        operator[i - 1, i - 1] = 2 / (left * (left + right))
        operator[i - 1, i] = -2 / (left * right)
        operator[i - 1, i + 1] = 2 / (right * (left + right))
        operator[i - 1] *= np.sqrt(weight)
    x = cp.Variable(2 * n)
    peak, offpeak = x[0::2], x[1::2]
    tail = np.arange(n) >= problem.liquid_end
    pull = np.sqrt(problem.tension * scale**4 * ell * tail)
    ridge = np.sqrt(problem.spread_tension * scale**4 * ell)  # on the split, everywhere
    objective = (
        cp.sum_squares(operator @ peak)
        + cp.sum_squares(operator @ offpeak)
        + problem.spread_smoothness * cp.sum_squares(operator @ (peak - offpeak))
        + cp.sum_squares(cp.multiply(pull, peak))
        + cp.sum_squares(cp.multiply(pull, offpeak))
        + cp.sum_squares(cp.multiply(ridge, peak - offpeak))
    )
    a = problem.contracts.toarray()
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
    model = cp.Problem(cp.Minimize(objective), constraints)
    model.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    assert model.status == cp.OPTIMAL
    return float(model.value) / scale**3, np.asarray(x.value).reshape(n, 2)


# --- reproduction and simple curves ---------------------------------------------------------------


def test_flat_quotes_give_a_flat_curve() -> None:
    lengths, hours = month_grid(30)
    contracts, _ = mixed_contracts(hours)
    flat = np.full((lengths.size, 2), 38.0)
    problem = SmoothProblem(lengths, hours, flat, contracts, np.full(contracts.shape[0], 42.5))
    solution = solve(problem)
    np.testing.assert_allclose(solution.values, 42.5, atol=1e-9)
    assert solution.objective == pytest.approx(0.0, abs=1e-18)


def test_prior_at_the_quoted_level_is_left_alone() -> None:
    lengths, hours = month_grid(30)
    contracts, _ = mixed_contracts(hours)
    flat = np.full((lengths.size, 2), 42.5)
    problem = SmoothProblem(
        lengths, hours, flat, contracts, np.full(contracts.shape[0], 42.5), tension=tension_for_decay(5000.0)
    )
    np.testing.assert_allclose(solve(problem).adjustment, 0.0, atol=1e-9)


def test_a_constant_shift_of_prior_and_prices_shifts_the_curve() -> None:
    base = mixed_problem()
    moved = mixed_problem(prior=base.prior + 7.0, prices=base.prices + 7.0)
    np.testing.assert_allclose(solve(moved).values, solve(base).values + 7.0, atol=1e-8)
    # without tension a constant in the prior costs no curvature: the adjustment absorbs it
    loose = mixed_problem(tension=0.0)
    shifted = mixed_problem(tension=0.0, prior=loose.prior + 7.0)
    np.testing.assert_allclose(solve(shifted).values, solve(loose).values, atol=1e-8)


def test_every_equality_contract_is_reproduced() -> None:
    problem = mixed_problem()
    solution = solve(problem)
    assert solution.method == "kkt"
    np.testing.assert_allclose(problem.contracts @ solution.values.ravel(), problem.prices, rtol=0, atol=1e-6)


def test_peak_and_offpeak_blend_to_the_atc_price() -> None:
    problem = mixed_problem()
    _, names = mixed_contracts(problem.hours)
    solution = solve(problem)
    month = 2
    weights = problem.hours[month] / problem.hours[month].sum()
    blend = weights @ solution.values[month]
    assert blend == pytest.approx(problem.prices[names.index("M2")], abs=1e-6)
    assert solution.values[month, PEAK] == pytest.approx(problem.prices[names.index("M2-PEAK")], abs=1e-6)
    # the three quotes on month 2 are dependent: one of them is left out, consistently
    assert solution.redundant.size == 1
    assert names[solution.redundant[0]] in {"M2", "M2-PEAK", "M2-OFFPEAK"}


def test_bands_hold_and_the_off_fair_ones_bind() -> None:
    problem = banded_problem()
    solution = solve(problem)
    assert solution.method == "clarabel"
    assert solution.polished
    averages = problem.contracts @ solution.values.ravel()
    banded = ~np.isnan(problem.bid)
    assert np.all(averages[banded] >= problem.bid[banded] - 1e-6)
    assert np.all(averages[banded] <= problem.ask[banded] + 1e-6)
    np.testing.assert_allclose(averages[~banded], problem.prices[~banded], rtol=0, atol=1e-6)
    assert solution.binding.tolist().count(0) == len(problem.prices) - 3
    assert solution.binding[4] == -1  # the bid binds exactly
    assert averages[4] == pytest.approx(problem.bid[4], abs=1e-9)
    assert solution.binding[7] == 1
    assert averages[7] == pytest.approx(problem.ask[7], abs=1e-9)
    assert problem.bid[1] + 0.1 < averages[1] < problem.ask[1] - 0.1  # the loose band does not
    # fixing every contract at the average the band solution gave it changes nothing
    fixed = solve(mixed_problem(prices=averages))
    assert fixed.objective == pytest.approx(solution.objective, rel=1e-9)
    np.testing.assert_allclose(fixed.values, solution.values, atol=1e-8)


def test_bid_equal_to_ask_is_an_equality() -> None:
    problem = mixed_problem()
    bid = np.full(problem.prices.size, np.nan)
    bid[3] = problem.prices[3] + 0.25
    solution = solve(mixed_problem(bid=bid, ask=bid))
    assert solution.method == "kkt"
    assert (problem.contracts @ solution.values.ravel())[3] == pytest.approx(bid[3], abs=1e-6)


@pytest.mark.parametrize(
    "make",
    [mixed_problem, banded_problem, spread_tension_only],
    ids=["equality", "band", "spread-tension-only"],
)
def test_the_schur_and_sparse_lu_solves_agree(
    make: Callable[[], SmoothProblem], monkeypatch: pytest.MonkeyPatch
) -> None:
    problem = make()
    fast = solve(problem)
    assert fast.factorisation == "schur-banded"  # the tension makes Q positive definite
    monkeypatch.setattr(smooth._Setup, "factor", property(lambda self: None))
    general = solve(problem)
    assert general.factorisation == "sparse-lu"
    np.testing.assert_allclose(fast.values, general.values, atol=1e-8)
    assert fast.objective == pytest.approx(general.objective, rel=1e-9)
    np.testing.assert_allclose(fast.multipliers, general.multipliers, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(fast.influences(), general.influences(), atol=1e-8)


# --- the objective ------------------------------------------------------------------------------------


def test_divided_differences_are_exact_for_quadratics() -> None:
    lengths, hours = month_grid(20)
    problem = SmoothProblem(lengths, hours, np.zeros((lengths.size, 2)), np.eye(1, 2 * lengths.size), [0.0])
    t = np.cumsum(lengths) - lengths / 2
    quadratic = np.stack([t**2, 3 * t**2], axis=1)  # second derivatives 2 and 6
    cells = (t[2:] - t[:-2]) / 2  # each interior midpoint's share of the time axis
    expected = cells.sum() * (2.0**2 + 6.0**2)
    assert objective_value(problem, quadratic) == pytest.approx(expected, rel=1e-9)


def test_objective_matrix_matches_the_formula() -> None:
    problem = mixed_problem()
    x = np.random.default_rng(2).normal(size=2 * problem.periods)
    q = objective_matrix(problem)
    assert (q != q.T).nnz == 0
    assert x @ (q @ x) == pytest.approx(objective_value(problem, x), rel=1e-10)


@pytest.mark.parametrize(
    "make",
    [mixed_problem, banded_problem, spread_tension_only, without_spread_terms],
    ids=["equality", "band", "spread-tension-only", "no-spread-terms"],
)
def test_objective_equals_an_independent_cvxpy_formulation(make: Callable[[], SmoothProblem]) -> None:
    problem = make()
    solution = solve(problem)
    theirs, adjustment = cvxpy_curve(problem)
    assert solution.objective == pytest.approx(theirs, rel=1e-6)
    assert solution.objective <= theirs * (1 + 1e-9)
    np.testing.assert_allclose(solution.adjustment, adjustment, atol=1e-4)


# --- the long end -------------------------------------------------------------------------------------


def test_the_long_end_converges_smoothly_to_the_prior() -> None:
    lengths, hours = month_grid(180)
    contracts, _ = mixed_contracts(hours)
    prices = contracts @ truth(lengths.size, np.random.default_rng(8)).ravel()
    problem = SmoothProblem(
        lengths, hours, seasonal(lengths.size), contracts, prices, tension=tension_for_decay(YEAR_HOURS)
    )
    assert problem.liquid_end == 25
    epsilon = solve(problem).adjustment
    scale = np.abs(epsilon[:25]).max()
    assert np.abs(epsilon[-60:]).max() < 1e-3 * scale  # a decay length of a year: ~10 years on, gone
    # no kink at liquid_end: the curvature there is the mean of its neighbours', up to the local trend
    t = np.cumsum(lengths) - lengths / 2
    slopes = np.diff(epsilon, axis=0) / np.diff(t)[:, None]
    curvature = np.diff(slopes, axis=0)
    end = problem.liquid_end - 1
    bend = curvature[end] - 0.5 * (curvature[end - 1] + curvature[end + 1])
    assert np.all(np.abs(bend) < 0.05 * np.abs(curvature).max(axis=0))
    jump = np.abs(slopes[end + 1] - slopes[end])
    assert np.all(jump < 0.1 * np.abs(slopes).max(axis=0))


def test_without_tension_the_long_end_is_a_straight_line() -> None:
    problem = mixed_problem(tension=0.0, spread_tension=0.0)
    epsilon = solve(problem).adjustment
    t = np.cumsum(problem.lengths) - problem.lengths / 2
    tail = slice(problem.liquid_end - 1, None)
    slopes = np.diff(epsilon[tail], axis=0) / np.diff(t[tail])[:, None]
    np.testing.assert_allclose(slopes, np.broadcast_to(slopes[0], slopes.shape), rtol=1e-6)


def sparse_peak_problem(spread_tension: float) -> SmoothProblem:
    """Monthly grid over six years: PEAK quoted on months 1–3 only, with a split far from the prior's and
    steeply falling; ATC months, quarters and calendars further out — they see only the blend."""
    lengths, hours = month_grid(72)
    specs = [
        *[(slice(i, i + 1), "ATC") for i in range(0, 7)],
        *[(slice(i, i + 1), "PEAK") for i in (1, 2, 3)],
    ]
    specs += [(slice(7, 10), "ATC"), (slice(10, 13), "ATC")]
    specs += [(slice(13 + 12 * k, 25 + 12 * k), "ATC") for k in range(4)]
    contracts = sp.csr_array(np.vstack([contract_row(cells, block, hours) for cells, block in specs]))
    prior = seasonal(lengths.size)
    prices = contracts @ prior.ravel()
    prices[7:10] += [14.0, 22.0, 6.0]  # PEAK premia over the prior's of +14, +22, +6 $/MWh
    return SmoothProblem(
        lengths,
        hours,
        prior,
        contracts,
        prices,
        liquid_end=61,
        tension=tension_for_decay(YEAR_HOURS),
        spread_tension=spread_tension,
    )


def test_spread_tension_keeps_an_unquoted_peak_offpeak_split_near_the_priors() -> None:
    drifting = solve(sparse_peak_problem(0.0))
    held = solve(sparse_peak_problem(spread_tension_for_decay(YEAR_HOURS / 4)))  # the service's default
    problem = sparse_peak_problem(0.0)
    for solution in (drifting, held):  # every quote reproduced either way
        np.testing.assert_allclose(
            problem.contracts @ solution.values.ravel(), problem.prices, rtol=0, atol=1e-6
        )
    split = held.adjustment[:, PEAK] - held.adjustment[:, OFFPEAK]  # the split less the prior's
    loose = drifting.adjustment[:, PEAK] - drifting.adjustment[:, OFFPEAK]
    quoted = np.abs(split[1:4]).max()  # how far the PEAK quotes move the split (~42 $/MWh)
    unquoted = slice(4, 61)  # after the last PEAK quote, to the end of the traded calendars
    assert np.abs(loose[unquoted]).max() > 2 * quoted  # without it the split runs off along a line
    assert np.abs(split[unquoted]).max() < quoted / 2  # with it, a damped swing back
    assert np.abs(split[16:61]).max() < 1.0  # and a year after the last PEAK quote, the prior's
    assert held.objective > drifting.objective  # the ridge costs something: it is in J


def test_spread_tension_is_in_the_objective_and_free_trends() -> None:
    lengths, hours = month_grid(24)
    contracts = sp.csr_array(contract_row(slice(2, 5), "ATC", hours)[None, :])
    # without tension an ATC quote leaves three trends free; the spread tension pins the two of the split
    held = SmoothProblem(
        lengths,
        hours,
        seasonal(lengths.size),
        contracts,
        [50.0],
        spread_tension=tension_for_decay(YEAR_HOURS),
    )
    solution = solve(held)
    assert solution.free_trends == 1
    assert (contracts @ solution.values.ravel())[0] == pytest.approx(50.0, abs=1e-6)
    assert solution.objective == pytest.approx(objective_value(held, solution.adjustment), rel=1e-9)
    x = np.random.default_rng(4).normal(size=2 * lengths.size)
    assert x @ (objective_matrix(held) @ x) == pytest.approx(objective_value(held, x), rel=1e-10)


# --- redundant, inconsistent and infeasible contracts ------------------------------------------------------


def quarter_and_months(q1_price_offset: float = 0.0) -> SmoothProblem:
    lengths, hours = month_grid(12, first_days=31.0)
    rows = [contract_row(slice(i, i + 1), "ATC", hours) for i in range(0, 3)]
    rows.append(contract_row(slice(0, 3), "ATC", hours))
    rows.append(contract_row(slice(3, 12), "ATC", hours))
    contracts = sp.csr_array(np.vstack(rows))
    prices = contracts @ truth(lengths.size, np.random.default_rng(3)).ravel()
    prices[3] += q1_price_offset
    return SmoothProblem(lengths, hours, seasonal(lengths.size), contracts, prices)


def test_a_quarter_with_its_months_is_redundant_and_fine() -> None:
    problem = quarter_and_months()
    solution = solve(problem)
    assert solution.redundant.size == 1
    np.testing.assert_allclose(problem.contracts @ solution.values.ravel(), problem.prices, atol=1e-6)
    assert solution.multipliers[solution.redundant[0]] == 0.0


def test_an_inconsistent_quarter_is_named() -> None:
    with pytest.raises(InconsistentContracts, match=r"differs .* by") as raised:
        solve(quarter_and_months(q1_price_offset=0.5))
    assert set(raised.value.contracts) == {0, 1, 2, 3}


@pytest.mark.parametrize("january_banded", [False, True], ids=["determined", "two-bands"])
def test_bands_that_cannot_hold_are_an_error(january_banded: bool) -> None:
    problem = quarter_and_months()
    bid = np.full(problem.prices.size, np.nan)
    ask = bid.copy()
    bid[3], ask[3] = problem.prices[3] + 1.0, problem.prices[3] + 2.0  # Q1 band above its months' blend
    if january_banded:  # Q1 no longer fixed by its months, but January's band cannot lift it far enough
        bid[0], ask[0] = problem.prices[0] - 0.5, problem.prices[0] + 0.5
    banded = SmoothProblem(
        problem.lengths, problem.hours, problem.prior, problem.contracts, problem.prices, bid, ask
    )
    with pytest.raises(InfeasibleBands, match="band"):
        solve(banded)


def test_one_contract_leaves_trends_free_and_they_are_held_at_the_prior() -> None:
    lengths, hours = month_grid(24)
    contracts = sp.csr_array(contract_row(slice(2, 5), "ATC", hours)[None, :])
    problem = SmoothProblem(lengths, hours, seasonal(lengths.size), contracts, [50.0])
    solution = solve(problem)
    assert solution.free_trends == 3  # of constant and slope in each series, the contract sees one blend
    assert (contracts @ solution.values.ravel())[0] == pytest.approx(50.0, abs=1e-6)
    assert solution.objective < 1e-15  # a linear adjustment fits: no curvature
    # among those, the one nearest the prior: ℓ-orthogonal to every trend the contract cannot see
    t = np.cumsum(lengths) - lengths / 2
    trends = [np.zeros((lengths.size, 2)) for _ in range(4)]
    trends[0][:, PEAK], trends[1][:, PEAK], trends[2][:, OFFPEAK], trends[3][:, OFFPEAK] = 1, t, 1, t
    seen = [float((contracts @ d.ravel())[0]) for d in trends]
    for d in trends[1:]:
        unseen = seen[0] * d - float((contracts @ d.ravel())[0]) * trends[0]
        assert (solution.adjustment * lengths[:, None] * unseen).sum() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lengths": [720.0, 0.0, 744.0]}, "positive"),
        ({"prices": [1.0, 2.0]}, "shape"),
        ({"bid": [40.0], "ask": None}, "both"),
        ({"bid": [41.0], "ask": [40.0]}, "bid above ask"),
        ({"contracts": np.full((1, 6), 0.2)}, "sum to 1"),
        ({"liquid_end": 4}, "liquid_end"),
        ({"tension": -1.0}, "tension"),
        ({"spread_tension": np.nan}, "spread_tension"),
    ],
)
def test_invalid_problems_are_refused(change: dict, message: str) -> None:
    lengths = np.array([720.0, 672.0, 744.0])
    hours = np.stack([lengths * 0.45, lengths * 0.55], axis=1)
    fields = {
        "lengths": lengths,
        "hours": hours,
        "prior": np.zeros((3, 2)),
        "contracts": contract_row(slice(0, 3), "ATC", hours)[None, :],
        "prices": [40.0],
    }
    with pytest.raises(ValueError, match=message):
        SmoothProblem(**{**fields, **change})


def test_a_contract_row_without_hours_is_refused() -> None:
    hours = np.array([[0.0, 48.0], [16.0, 8.0], [0.0, 24.0]])
    with pytest.raises(ValueError, match="no delivery hours"):
        contract_row([0, 2], "PEAK", hours)


# --- sensitivities ------------------------------------------------------------------------------------


def test_influence_matches_finite_differences() -> None:
    problem = mixed_problem()
    solution = solve(problem)
    step = 1e-2  # the curve is linear in the prices: the difference quotient is exact up to rounding
    for j in [0, 3, 8, 10, 13]:
        prices = problem.prices.copy()
        prices[j] += step
        moved = solve(mixed_problem(prices=prices)).values
        numeric = (moved - solution.values) / step
        for period in [0, 3, 12, 20, 30]:
            for block in (PEAK, OFFPEAK):
                assert solution.influence(period, block)[j] == pytest.approx(numeric[period, block], abs=1e-6)
    everything = solution.influences()
    np.testing.assert_allclose(everything[20, OFFPEAK], solution.influence(20, OFFPEAK), atol=1e-12)


def test_multipliers_are_the_objectives_price_sensitivities() -> None:
    problem = mixed_problem()
    solution = solve(problem)
    step = 1e-3
    for j in [3, 8, 10, 13]:  # not 2, 11 or 12: dependent, so not free to move alone
        up, down = problem.prices.copy(), problem.prices.copy()
        up[j] += step
        down[j] -= step
        slope = (solve(mixed_problem(prices=up)).objective - solve(mixed_problem(prices=down)).objective) / (
            2 * step
        )
        assert solution.multipliers[j] == pytest.approx(slope, rel=1e-5)


def test_a_point_is_mostly_its_own_contracts() -> None:
    # weekly cells for a year: each month's contract covers four or five cells
    lengths = np.full(52, 168.0)
    hours = np.stack([np.full(52, 80.0), np.full(52, 88.0)], axis=1)
    months = [slice(4 * k, 4 * k + 4) for k in range(12)]
    contracts = sp.csr_array(np.vstack([contract_row(weeks, "ATC", hours) for weeks in months]))
    prices = contracts @ truth(52, np.random.default_rng(1)).ravel()
    solution = solve(SmoothProblem(lengths, hours, seasonal(52), contracts, prices))
    weights = solution.influence(26, "ATC")  # the middle of month 6 (weeks 24–27)
    assert int(np.argmax(np.abs(weights))) == 6
    assert weights[6] > 0.8
    assert np.abs(np.delete(weights, [5, 6, 7])).max() < 0.1
    # without tension, moving every price by 1 moves every point by 1 (ATC quotes with one hour split
    # leave a PEAK − OFFPEAK trend free: it is held at the prior and does not move)
    assert solution.free_trends == 2
    assert weights.sum() == pytest.approx(1.0, abs=1e-9)


def test_band_influence_is_with_respect_to_the_binding_bounds() -> None:
    problem = banded_problem()
    solution = solve(problem)
    step = 1e-3
    bid = problem.bid.copy()
    bid[4] += step  # binding: the curve follows
    moved = solve(mixed_problem(bid=bid, ask=problem.ask)).values
    numeric = (moved - solution.values) / step
    assert solution.influence(5, PEAK)[4] == pytest.approx(numeric[5, PEAK], abs=1e-5)
    assert solution.influence(5, PEAK)[1] == 0.0  # an inactive band has no say


# --- property ---------------------------------------------------------------------------------------


@st.composite
def consistent_sets(draw: st.DrawFn) -> SmoothProblem:
    n = draw(st.integers(5, 30))
    lengths = np.array(draw(st.lists(st.floats(20.0, 800.0), min_size=n, max_size=n)))
    peak_share = np.array(draw(st.lists(st.floats(0.1, 0.7), min_size=n, max_size=n)))
    hours = np.stack([lengths * peak_share, lengths * (1 - peak_share)], axis=1)
    count = draw(st.integers(1, 10))
    rows = []
    for _ in range(count):
        start = draw(st.integers(0, n - 1))
        stop = draw(st.integers(start + 1, min(n, start + 12)))
        block = draw(st.sampled_from(["ATC", "ATC", "PEAK", "OFFPEAK"]))
        rows.append(contract_row(slice(start, stop), block, hours))
    contracts = sp.csr_array(np.vstack(rows))
    seed = draw(st.integers(0, 2**32 - 1))
    prices = contracts @ truth(n, np.random.default_rng(seed)).ravel()
    tension = draw(st.sampled_from([0.0, tension_for_decay(2000.0)]))
    return SmoothProblem(lengths, hours, seasonal(n), contracts, prices, tension=tension)


@settings(max_examples=150, deadline=None)
@given(consistent_sets())
def test_random_consistent_contracts_are_reproduced(problem: SmoothProblem) -> None:
    solution = solve(problem)
    np.testing.assert_allclose(problem.contracts @ solution.values.ravel(), problem.prices, rtol=0, atol=1e-6)
    assert np.all(np.isfinite(solution.values))


@settings(max_examples=100, deadline=None)
@given(consistent_sets(), st.integers(0, 2**32 - 1))
def test_random_bands_hold_or_are_reported_infeasible(problem: SmoothProblem, seed: int) -> None:
    rng = np.random.default_rng(seed)
    m = problem.prices.size
    banded = rng.random(m) < 0.5
    bid = np.where(banded, problem.prices + rng.uniform(-1.0, 0.5, m), np.nan)
    ask = np.where(banded, bid + rng.uniform(0.05, 2.0, m), np.nan)
    with_bands = SmoothProblem(
        problem.lengths,
        problem.hours,
        problem.prior,
        problem.contracts,
        problem.prices,
        bid,
        ask,
        tension=problem.tension,
    )
    try:
        solution = solve(with_bands)
    except InfeasibleBands:
        return
    averages = problem.contracts @ solution.values.ravel()
    np.testing.assert_allclose(averages[~banded], problem.prices[~banded], rtol=0, atol=1e-6)
    assert np.all(averages[banded] >= bid[banded] - 1e-6)
    assert np.all(averages[banded] <= ask[banded] + 1e-6)
