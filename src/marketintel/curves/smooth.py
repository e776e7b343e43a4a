"""Maximum-smoothness forward curves (Benth, Koekebakker & Ollmar 2007), discretely on a grid of periods.

Each block series s ∈ {PEAK, OFFPEAK} of the curve is a seasonal prior plus an adjustment ε_s: the
smoothest adjustment under which every contract's hour-weighted average equals its price (or lies inside its
bid/ask band). Pure numerics: the caller supplies hour counts and contract weights; no calendars, no I/O.

Unknowns. x = ε.ravel() for the (n, 2) adjustment, period-major: x[2·i + b] is period i, block b
(PEAK = 0, OFFPEAK = 1). Contract row j of A has the same layout and sums to 1, so (A x)_j is the
hour-weighted average of x over contract j's delivery; a contract must cover whole periods.

Objective. Periods i = 0…n−1 have lengths h_i (hours), midpoints t_i = h_0 + … + h_{i−1} + h_i/2 and
gaps g_i = t_{i+1} − t_i = (h_i + h_{i+1})/2. At each interior midpoint (i = 1…n−2) the second divided
difference

    δ²ε_i = 2 / (g_{i−1} + g_i) · [ (ε_{i+1} − ε_i) / g_i − (ε_i − ε_{i−1}) / g_{i−1} ]

is exact for quadratics (so it is ε''(t_i) there) and is weighted by w_i = (g_{i−1} + g_i)/2, the length
of the cell the midpoint stands for (halfway to each neighbouring midpoint): Σ_i w_i f(t_i) is a Riemann
sum of ∫ f dt over the midpoints' span. With tension α, spread weight σ and spread tension ρ,

    J(ε) = Σ_s Σ_i w_i (δ²ε_{s,i})²  +  σ Σ_i w_i (δ²d_i)²  +  α Σ_s Σ_{i ≥ L} h_i ε_{s,i}²  +  ρ Σ_i h_i d_i²

with d = ε_PEAK − ε_OFFPEAK, ≈ ∫ ε_P''² + ε_O''² + σ d''² dt + α ∫_{t ≥ T_L} ε_P² + ε_O² dt + ρ ∫ d² dt,
L = liquid_end. Units: hours and $/MWh, so J is in ($/MWh)²/h³ and α, ρ in 1/h⁴. Beyond L the
adjustment obeys ε'''' + α ε = 0, decaying to the prior with e-folding length √2 / α^¼ hours
(`tension_for_decay` inverts this); ε, ε' and ε'' stay continuous across L, so the long end bends
smoothly onto the anchor. The spread tension is a weak ridge on the peak/off-peak split: where no
PEAK or OFFPEAK quote pins it (ATC quotes only see the hour-weighted blend) d obeys
(½ + σ) d'''' + ρ d = 0 and relaxes to the prior's split instead of running off along a straight line
(`spread_tension_for_decay` sets its length).

Solving. The KKT system [[2Q, Aᵀ], [A, 0]] [ε; λ] = [0; r], r = p − A·prior, over the independent
contract rows (redundant ones — a quarter and its months — are dropped after a rank check; inconsistent
ones are an error). When the tension makes Q positive definite (it pins every linear trend) the system
is solved through its Schur complement: the contract-free tail is condensed out of Q (a band-preserving
update of its last block), Q̃ = UᵀU by banded Cholesky, S = A Q̃⁻¹ Aᵀ = (U⁻ᵀAᵀ)ᵀ(U⁻ᵀAᵀ),
ε = Q̃⁻¹AᵀS⁻¹r and the tail from it, checked for reproduction and stationarity. Otherwise (no tension, or under two periods
of it) the whole KKT matrix is assembled in CSC and factorised by SuperLU. Linear trends that neither
the contracts nor the tension pin (one ATC contract; ATC quotes only with one peak/off-peak hour split)
leave it singular: extra rows hold them at the prior, which leaves J unchanged and picks, among the
equally smooth curves, the one nearest the prior (ℓ-weighted least squares).

Band case: Clarabel on the same problem written in the contracts' averages s (J*(s) = sᵀHs: a few dozen
unknowns instead of 2n), then an exact active-set finish on the curve with the KKT solve above.
Internally time is in units of the mean period length so Q's entries are O(1); J and the multipliers
are reported in hours.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import clarabel
import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
from scipy.linalg.blas import dsbmv
from scipy.linalg.lapack import dgeqp3, dpbtrf, dpbtrs, dpotrf, dpotrs, dtbtrs
from scipy.sparse.linalg import splu

from marketintel.curves.memo import Memo

PEAK, OFFPEAK = 0, 1
BLOCK_COLUMNS: dict[str, tuple[int, ...]] = {"ATC": (PEAK, OFFPEAK), "PEAK": (PEAK,), "OFFPEAK": (OFFPEAK,)}
Block = Literal["ATC", "PEAK", "OFFPEAK"]
Triplets = tuple[np.ndarray, np.ndarray, np.ndarray]  # a sparse matrix as COO (rows, columns, values)

ROW_SUM_TOL = 1e-9  # a contract row's weights must sum to 1 (an average)
RANK_RTOL = 1e-9  # a contract row this close (relative) to the span of others is redundant
PRICE_TOL = 1e-6  # $/MWh: a redundant row's price may differ this much from the one its span implies
FREE_TREND_RTOL = 1e-10  # a linear trend seen this little by contracts and tension is free
POLISH_ROUNDS = 8  # active-set rounds after Clarabel (plus two per band) before keeping its own answer
QUOTE_TOL = 1e-6  # $/MWh: how far outside its band an unpolished Clarabel solution may leave a contract
CLARABEL_TOL = 1e-9  # gap and feasibility tolerances: the polish makes the answer exact
# Clarabel ends whose last iterate still names the binding constraints well enough for the polish to try
USABLE_STATUSES = ("Solved", "AlmostSolved", "InsufficientProgress", "MaxIterations", "NumericalError")


class InconsistentContracts(ValueError):
    """Linearly dependent contracts whose prices disagree (the caller reconciles prices first)."""

    def __init__(self, message: str, contracts: Sequence[int]) -> None:
        super().__init__(message)
        self.contracts = tuple(int(j) for j in contracts)


class InfeasibleBands(ValueError):
    """No curve reproduces every equality price and stays inside every bid/ask band."""


def contract_row(periods: slice | Sequence[int] | np.ndarray, block: Block, hours: np.ndarray) -> np.ndarray:
    """A contract's (2n,) weights: the hours of `block` in each of `periods` over their total, placed at
    the (period, block) unknowns, so that row @ x is the contract's hour-weighted average price."""
    hours = np.asarray(hours, dtype=float)
    if hours.ndim != 2 or hours.shape[1] != 2:
        raise ValueError(f"hours must have shape (n, 2), not {hours.shape}")
    if block not in BLOCK_COLUMNS:
        raise ValueError(f"block must be one of {', '.join(BLOCK_COLUMNS)}, not {block!r}")
    covered = np.zeros_like(hours)
    covered[periods] = hours[periods]
    covered[:, [b for b in (PEAK, OFFPEAK) if b not in BLOCK_COLUMNS[block]]] = 0.0
    total = covered.sum()
    if not total > 0:
        raise ValueError(f"a {block} contract over periods {periods} has no delivery hours")
    return (covered / total).ravel()


def tension_for_decay(hours: float) -> float:
    """The tension α under which the long end's adjustment decays with e-folding length `hours`."""
    if not hours > 0:
        raise ValueError(f"the decay length must be positive, not {hours}")
    return 4.0 / hours**4


def spread_tension_for_decay(hours: float, spread_smoothness: float = 0.0) -> float:
    """The spread tension ρ under which an unpinned peak/off-peak split relaxes to the prior's with
    e-folding length `hours`: d = ε_P − ε_O carries (½ + σ)∫d''² of the curvature, so ρ = (½ + σ)·4/hours⁴."""
    return (0.5 + spread_smoothness) * tension_for_decay(hours)


# --- the problem ------------------------------------------------------------------------------------


def _frozen(name: str, value: object, shape: tuple[int, ...]) -> np.ndarray:
    array = np.array(value, dtype=float)  # a copy: the caller's array may change later
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, not {array.shape}")
    array.setflags(write=False)
    return array


@dataclass(frozen=True)
class _CheckedRows:
    """A validated contract matrix's rows as COO triplets (read-only), and the exact key of them."""

    row: np.ndarray
    col: np.ndarray
    weight: np.ndarray  # also the matrix's data array
    indices: np.ndarray  # the matrix's own index arrays: the checks hold while it keeps these
    indptr: np.ndarray
    key: tuple  # (shape, row bytes, column bytes, weight bytes)


def _checked_rows(contracts: object) -> _CheckedRows | None:
    """The checked rows of a matrix `checked_contracts` made, while it still holds the read-only arrays it
    was checked with."""
    checked = getattr(contracts, "_checked_rows", None) if isinstance(contracts, sp.csr_array) else None
    if (
        checked is not None
        and contracts.data is checked.weight  # type: ignore[union-attr]
        and contracts.indices is checked.indices  # type: ignore[union-attr]
        and contracts.indptr is checked.indptr  # type: ignore[union-attr]
    ):
        return checked
    return None


def checked_contracts(contracts: object) -> sp.csr_array:
    """A validated, read-only CSR copy of a contract matrix (rows: non-negative hour weights summing to 1),
    or `contracts` itself when it already is one. Problems built on the same checked matrix — daily
    rebuilds of a curve whose contract set stays while prices move — skip the copy and the checks, and
    the solver's caches find its rows by `_checked_rows.key` without hashing them again."""
    if _checked_rows(contracts) is not None:
        return contracts  # type: ignore[return-value]
    matrix = sp.csr_array(contracts, dtype=float, copy=True)
    if matrix.ndim != 2 or matrix.shape[0] < 1:
        raise ValueError(f"contracts must have shape (m ≥ 1, 2n), not {matrix.shape}")
    matrix.sum_duplicates()
    m = matrix.shape[0]
    if not (np.isfinite(matrix.data).all() and (matrix.data >= 0).all()):
        raise ValueError("contract weights must be finite and non-negative")
    row = np.repeat(np.arange(m), np.diff(matrix.indptr))
    sums = np.bincount(row, weights=matrix.data, minlength=m)
    off = np.flatnonzero(np.abs(sums - 1.0) > ROW_SUM_TOL)
    if off.size:
        raise ValueError(f"contract rows must sum to 1 (hour-weighted averages); {off.tolist()} do not")
    col = matrix.indices.astype(np.int64)
    for array in (row, col, matrix.data, matrix.indices, matrix.indptr):
        array.setflags(write=False)
    key = (matrix.shape, row.tobytes(), col.tobytes(), matrix.data.tobytes())
    matrix._checked_rows = _CheckedRows(row, col, matrix.data, matrix.indices, matrix.indptr, key)  # type: ignore[attr-defined]
    return matrix


@dataclass(frozen=True, eq=False)
class SmoothProblem:
    """A max-smoothness curve problem on n consecutive periods and m contracts, validated on creation.

    `prices` hold contracts without a band; a contract with finite `bid` < `ask` is held inside the band
    instead (NaN in both: no band; bid == ask: an equality at that price). `liquid_end` defaults to the
    period after the last one any contract delivers in."""

    lengths: np.ndarray  # (n,) hours of each period
    hours: np.ndarray  # (n, 2) PEAK and OFFPEAK hours of each period
    prior: np.ndarray  # (n, 2) seasonal prior, $/MWh
    contracts: sp.csr_array  # (m, 2n) hour weights over x = ε.ravel(), each row summing to 1
    prices: np.ndarray  # (m,) $/MWh
    bid: np.ndarray | None = None  # (m,) NaN where the contract has no band
    ask: np.ndarray | None = None
    liquid_end: int | None = None
    tension: float = 0.0  # α, 1/h⁴: pull of the adjustment towards 0 from liquid_end on
    spread_smoothness: float = 0.0  # σ: weight of the curvature of PEAK − OFFPEAK
    spread_tension: float = 0.0  # ρ, 1/h⁴: pull of the adjustment's PEAK − OFFPEAK towards 0 throughout
    # the contracts as COO triplets, sorted by row: the solver assembles from these
    _row: np.ndarray = field(init=False, repr=False)
    _col: np.ndarray = field(init=False, repr=False)
    _weight: np.ndarray = field(init=False, repr=False)
    _contracts_key: tuple = field(init=False, repr=False)  # the contract rows exactly, as a cache key

    def __post_init__(self) -> None:
        lengths = np.array(self.lengths, dtype=float)
        if lengths.ndim != 1 or lengths.size < 3:
            raise ValueError(f"lengths must be a 1-D array of at least 3 periods, not shape {lengths.shape}")
        if not (np.isfinite(lengths).all() and (lengths > 0).all()):
            raise ValueError("lengths must be finite and positive")
        lengths.setflags(write=False)
        n = lengths.size
        hours = _frozen("hours", self.hours, (n, 2))
        if not (np.isfinite(hours).all() and (hours >= 0).all()):
            raise ValueError("hours must be finite and non-negative")
        prior = _frozen("prior", self.prior, (n, 2))
        if not np.isfinite(prior).all():
            raise ValueError("prior must be finite")
        contracts = checked_contracts(self.contracts)
        if contracts.shape[1] != 2 * n:
            raise ValueError(f"contracts must have shape (m ≥ 1, {2 * n}), not {contracts.shape}")
        checked: _CheckedRows = contracts._checked_rows  # type: ignore[attr-defined]
        m = contracts.shape[0]
        prices = _frozen("prices", self.prices, (m,))
        if not np.isfinite(prices).all():
            raise ValueError("prices must be finite")
        bid = _frozen("bid", np.full(m, np.nan) if self.bid is None else self.bid, (m,))
        ask = _frozen("ask", np.full(m, np.nan) if self.ask is None else self.ask, (m,))
        lone = np.flatnonzero(np.isnan(bid) != np.isnan(ask))
        if lone.size:
            raise ValueError(f"contracts {lone.tolist()} have only one of bid and ask; give both or neither")
        if np.isinf(bid).any() or np.isinf(ask).any():
            raise ValueError("bid and ask must be finite or NaN")
        crossed = np.flatnonzero(bid > ask)
        if crossed.size:
            raise ValueError(f"contracts {crossed.tolist()} have bid above ask")
        liquid_end = self.liquid_end
        if liquid_end is None:
            liquid_end = int(contracts.indices.max()) // 2 + 1
        if not 0 <= int(liquid_end) <= n:
            raise ValueError(f"liquid_end must be in 0..{n}, not {liquid_end}")
        for name in ("tension", "spread_smoothness", "spread_tension"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be finite and ≥ 0, not {value}")
        for name, value in (
            ("lengths", lengths),
            ("hours", hours),
            ("prior", prior),
            ("contracts", contracts),
            ("prices", prices),
            ("bid", bid),
            ("ask", ask),
            ("liquid_end", int(liquid_end)),
            ("tension", float(self.tension)),
            ("spread_smoothness", float(self.spread_smoothness)),
            ("spread_tension", float(self.spread_tension)),
            ("_row", checked.row),
            ("_col", checked.col),
            ("_weight", checked.weight),
            ("_contracts_key", checked.key),
        ):
            object.__setattr__(self, name, value)

    @property
    def periods(self) -> int:
        return int(self.lengths.size)

    @functools.cached_property
    def banded(self) -> np.ndarray:
        """(m,) True where the contract is held inside a band rather than at its price (read-only)."""
        banded = ~np.isnan(self.bid) & (self.bid < self.ask)
        banded.setflags(write=False)
        return banded


# --- the objective ------------------------------------------------------------------------------------


def _second_differences(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients (a, b, c) of δ²ε_i = a·ε_{i−1} + b·ε_i + c·ε_{i+1} and the weights w, i = 1…n−2."""
    g = 0.5 * (lengths[:-1] + lengths[1:])  # gaps between neighbouring midpoints
    span = g[:-1] + g[1:]
    return 2.0 / (g[:-1] * span), -2.0 / (g[:-1] * g[1:]), 2.0 / (g[1:] * span), 0.5 * span


def _band_key(problem: SmoothProblem, scale: float) -> tuple:
    """What Q depends on: the grid's lengths and the parameters, not the contracts nor their prices."""
    return (
        problem.lengths.tobytes(),
        problem.liquid_end,
        problem.tension,
        problem.spread_smoothness,
        problem.spread_tension,
        scale,
    )


def _objective_band(problem: SmoothProblem, scale: float) -> np.ndarray:
    """Q's band (`_compute_objective_band`), read-only: cached, as every build on a grid shares it."""
    return _band_of(*_band_key(problem, scale))


@functools.lru_cache(maxsize=64)
def _band_of(
    lengths: bytes, liquid_end: int, tension: float, sigma: float, spread_tension: float, scale: float
) -> np.ndarray:
    band = _compute_objective_band(np.frombuffer(lengths), liquid_end, tension, sigma, spread_tension, scale)
    band.setflags(write=False)
    return band


def _compute_objective_band(
    lengths: np.ndarray, liquid_end: int, tension: float, sigma: float, spread_tension: float, scale: float
) -> np.ndarray:
    """Q in LAPACK upper band storage (band[u − d, j] = Q[j − d, j]), with J = scale⁻³ · xᵀQx: time in
    units of `scale` hours. Q = K ⊗ [[1 + σ, −σ], [−σ, 1 + σ]] + α·scale⁴·diag(ℓ_i for i ≥ L) ⊗ I
    + ρ·scale⁴·diag(ℓ) ⊗ [[1, −1], [−1, 1]], with K = Σ_i w_i d_i d_iᵀ the pentadiagonal curvature
    matrix of one series (d_i: row i of the second differences). In the period-major layout a period
    step is two unknowns: u = 4, or 5 with σ > 0."""
    ell = lengths / scale
    n = ell.size
    a, b, c, w = _second_differences(ell)
    main = np.zeros(n)
    main[:-2] += w * a * a
    main[1:-1] += w * b * b
    main[2:] += w * c * c
    first = np.zeros(n - 1)
    first[:-1] += w * a * b
    first[1:] += w * b * c
    pull = np.zeros(n)
    pull[liquid_end:] = tension * scale**4 * ell[liquid_end:]
    ridge = spread_tension * scale**4 * ell
    pull += ridge
    top = 5 if sigma else 4
    band = np.zeros((top + 1, 2 * n), order="F")
    for distance, diagonal in enumerate((main, first, w * a * c)):
        row = top - 2 * distance
        same = (1.0 + sigma) * diagonal + (pull if distance == 0 else 0.0)
        band[row, 2 * distance :: 2] = same  # PEAK of period i with PEAK of i + distance
        band[row, 2 * distance + 1 :: 2] = same  # OFFPEAK with OFFPEAK
        if sigma:
            band[row - 1, 2 * distance + 1 :: 2] = -sigma * diagonal  # PEAK of i with OFFPEAK of i + distance
            if distance:
                band[row + 1, 2 * distance :: 2] = -sigma * diagonal  # OFFPEAK of i with PEAK of i + distance
    band[top - 1, 1::2] -= ridge  # PEAK of period i with OFFPEAK of i
    return band


def _band_triplets(band: np.ndarray) -> Triplets:
    """A symmetric matrix in upper band storage as COO triplets, both triangles."""
    top, size = band.shape[0] - 1, band.shape[1]
    rows, cols, values = [], [], []
    for offset in range(top + 1):
        col = np.arange(offset, size)
        value = band[top - offset, offset:]
        keep = value != 0.0
        rows.append(col[keep] - offset)
        cols.append(col[keep])
        values.append(value[keep])
        if offset:
            rows.append(cols[-1])
            cols.append(rows[-2])
            values.append(value[keep])
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(values)


def objective_matrix(problem: SmoothProblem) -> sp.csc_array:
    """Q (2n × 2n, banded, CSC) with J(ε) = ε.ravel() @ Q @ ε.ravel(), in hours."""
    scale = float(problem.lengths.mean())
    rows, cols, values = _band_triplets(_objective_band(problem, scale))
    size = 2 * problem.periods
    return sp.csc_array((values / scale**3, (rows, cols)), shape=(size, size))


def objective_value(problem: SmoothProblem, adjustment: np.ndarray) -> float:
    """J of an (n, 2) adjustment, straight from the formula (module docstring), in hours."""
    epsilon = np.asarray(adjustment, dtype=float).reshape(-1, 2)
    a, b, c, w = _second_differences(problem.lengths)
    curvature = a[:, None] * epsilon[:-2] + b[:, None] * epsilon[1:-1] + c[:, None] * epsilon[2:]
    spread = curvature[:, PEAK] - curvature[:, OFFPEAK]
    tail = slice(problem.liquid_end, None)
    return float(
        w @ (curvature**2).sum(axis=1)
        + problem.spread_smoothness * (w @ spread**2)
        + problem.tension * (problem.lengths[tail] @ (epsilon[tail] ** 2).sum(axis=1))
        + problem.spread_tension * (problem.lengths @ (epsilon[:, PEAK] - epsilon[:, OFFPEAK]) ** 2)
    )


# --- caches -------------------------------------------------------------------------------------------


_ROW_BASES: Memo[tuple[np.ndarray, np.ndarray, np.ndarray]] = Memo(128)  # rank checks of contract rows
# Q's factor and the whitened contracts, per grid, parameters and contract matrix
_FACTORS: Memo[_BandedCholesky | None] = Memo(16)


def clear_caches() -> None:
    """Forget every cached factorisation and rank check (benchmarks time the solver without them)."""
    _band_of.cache_clear()
    _ROW_BASES.clear()
    _FACTORS.clear()


# --- contract rows and their rank ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Rows:
    """A subset of the contract rows, as COO triplets with local row numbers."""

    names: np.ndarray  # the contracts' indices in the problem
    row: np.ndarray
    col: np.ndarray
    weight: np.ndarray
    key: tuple | None = None  # identifies the rows exactly (their matrix's key and `names`), if known

    @classmethod
    def of(cls, problem: SmoothProblem, names: np.ndarray) -> _Rows:
        return cls.among(
            problem._row, problem._col, problem._weight, problem.prices.size, names, problem._contracts_key
        )

    @classmethod
    def among(
        cls,
        row: np.ndarray,
        col: np.ndarray,
        weight: np.ndarray,
        m: int,
        names: np.ndarray,
        matrix_key: tuple | None = None,
    ) -> _Rows:
        """Rows `names` of the m-row matrix given as COO triplets (exactly identified by `matrix_key`)."""
        local = np.full(m, -1)
        local[names] = np.arange(names.size)
        chosen = local[row] >= 0
        key = None if matrix_key is None else (matrix_key, np.asarray(names, dtype=np.int64).tobytes())
        return cls(names, local[row[chosen]], col[chosen], weight[chosen], key)

    def matrix(self, size: int) -> sp.csc_array:
        return sp.csc_array((self.weight, (self.row, self.col)), shape=(self.names.size, size))


def _row_basis(rows: _Rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(independent, dependent, combination): positions in `rows` of a maximal linearly independent subset
    (QR with column pivoting, LAPACK dgeqp3) and of the others, with
    row[dependent] = combinationᵀ @ row[independent]. A pure function of the rows' weights, so cached on
    them: reconciliation and the solve ask it of the same contracts, and daily rebuilds of a curve keep
    their contract structure while prices move."""
    key = rows.key
    if key is None:
        key = (rows.names.size, *(np.ascontiguousarray(a, dtype=t).tobytes() for a, t in _row_key(rows)))
    return _ROW_BASES.get(key, lambda: _frozen_basis(rows))


def _row_key(rows: _Rows) -> tuple[tuple[np.ndarray, type], ...]:
    return ((rows.row, np.int64), (rows.col, np.int64), (rows.weight, np.float64))


def _frozen_basis(rows: _Rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    basis = _compute_row_basis(rows)
    for array in basis:
        array.setflags(write=False)
    return basis


def _compute_row_basis(rows: _Rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m = rows.names.size
    if m <= 1:
        return np.arange(m), np.zeros(0, dtype=int), np.zeros((m, 0))
    packed, pivots, _, _, _ = dgeqp3(_distinct_columns(rows))
    pivots -= 1
    diagonal = np.abs(np.diag(packed)[:m])
    rank = int(np.count_nonzero(diagonal > RANK_RTOL * diagonal[0]))
    if rank == m:
        return pivots, pivots[:0], np.zeros((m, 0))
    r = np.triu(packed[:rank, :m])
    combination = la.solve_triangular(r[:, :rank], r[:, rank:], check_finite=False)
    return pivots[:rank], pivots[rank:], combination


def _distinct_columns(rows: _Rows) -> np.ndarray:
    """The rows as a dense (columns × rows) matrix with the same row dependencies, in few columns.

    Hour-weighted rows give every unknown covered by the same contracts proportional columns (weight
    hours/total of each contract), so each such group can be summed into one column: a daily grid to 2050
    shrinks from thousands of columns to about twice the number of contract boundaries. Groups are
    found by a random signature of the covering set and kept only if their columns really are
    proportional; otherwise every touched column stays."""
    m = rows.names.size
    width = int(rows.col.max()) + 1
    used = np.zeros(width, dtype=np.intp)
    used[rows.col] = 1
    if np.count_nonzero(used) <= 8 * m:  # few columns already: grouping would cost more than it saves
        return _dense(rows, (np.cumsum(used) - 1)[rows.col])
    keys = np.random.default_rng(20070101).random(m) + 0.5
    signature = np.bincount(rows.col, weights=keys[rows.row], minlength=width)
    total = np.bincount(rows.col, weights=rows.weight, minlength=width)
    _, group = np.unique(signature[rows.col], return_inverse=True)
    cell = group * m + rows.row
    share = rows.weight / total[rows.col]  # a column's weights relative to its sum: equal within a group
    first = np.zeros(cell.max() + 1)
    first[cell] = share
    if np.abs(first[cell] - share).max() > 1e-12:  # not hour-weighted: no grouping
        group = (np.cumsum(used) - 1)[rows.col]
    return _dense(rows, group)


def _dense(rows: _Rows, column: np.ndarray) -> np.ndarray:
    """(columns × rows) dense matrix of the rows' weights, each nonzero placed (summed) in `column`."""
    m = rows.names.size
    size = int(column.max()) + 1
    return np.bincount(column * m + rows.row, weights=rows.weight, minlength=size * m).reshape(size, m)


def dependencies(contracts: sp.csr_array, names: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(independent, dependent, combination) among rows `names` of a contract matrix (rows: hour
    weights): positions in `names` of a maximal linearly independent subset and of the others, with
    row[dependent] = combinationᵀ @ row[independent] — what reconciliation projects prices with."""
    m = contracts.shape[0]
    checked = _checked_rows(contracts)
    if checked is not None:  # rows and their key known
        return _row_basis(
            _Rows.among(checked.row, checked.col, checked.weight, m, np.asarray(names), checked.key)
        )
    row = np.repeat(np.arange(m), np.diff(contracts.indptr))
    return _row_basis(_Rows.among(row, contracts.indices, contracts.data, m, np.asarray(names)))


def independent_rows(rows: _Rows, targets: np.ndarray) -> np.ndarray:
    """The contracts (sorted) of a maximal linearly independent subset of `rows`. Every other row is a
    combination of them, and its target must agree with the combination within PRICE_TOL, else
    InconsistentContracts naming the rows involved. `targets` are indexed by contract."""
    independent, dependent, combination = _row_basis(rows)
    names = rows.names
    gaps = targets[names[dependent]] - combination.T @ targets[names[independent]]
    for k in np.flatnonzero(np.abs(gaps) > PRICE_TOL):
        span = names[independent[np.abs(combination[:, k]) > 1e-12]]
        involved = [int(names[dependent[k]]), *sorted(int(j) for j in span)]
        raise InconsistentContracts(
            f"contract {involved[0]} is an hour-weighted combination of contracts {involved[1:]} but its "
            f"price differs from theirs by {gaps[k]:+.6g} $/MWh; reconcile the prices first",
            involved,
        )
    return np.sort(names[independent])


def _trend_pins(problem: SmoothProblem, rows: _Rows, scale: float) -> np.ndarray:
    """(k, 2n), k ≤ 4: one row per linear trend direction d (a + b·t in either series, or both) that costs
    no curvature (no trend does), no tension, no spread tension and that no row of `rows` sees — the directions that make the
    KKT matrix singular. Row = dᵀ·diag(ℓ): holding it fixed settles d without changing J; held at 0 it
    picks, among the equally smooth curves, the one nearest the prior (ℓ-weighted least squares)."""
    n = problem.periods
    ell = problem.lengths / scale
    midpoints = np.cumsum(ell) - 0.5 * ell
    t = 2.0 * (midpoints - midpoints[0]) / (midpoints[-1] - midpoints[0]) - 1.0  # in [−1, 1]
    block = rows.col % 2
    tc = t[rows.col // 2]
    size = rows.names.size
    seen = np.zeros((size, 4))  # each row's average of (1, t) on PEAK, then of (1, t) on OFFPEAK
    for series in (PEAK, OFFPEAK):
        on = block == series
        seen[:, 2 * series] = np.bincount(rows.row[on], weights=rows.weight[on], minlength=size)
        seen[:, 2 * series + 1] = np.bincount(rows.row[on], weights=(rows.weight * tc)[on], minlength=size)
    energy = seen.T @ seen
    tail = slice(problem.liquid_end, None)
    pull = problem.tension * scale**4 * ell[tail]  # Q's tension diagonal
    held = np.array([[pull.sum(), pull @ t[tail]], [pull @ t[tail], pull @ t[tail] ** 2]])
    energy[:2, :2] += held
    energy[2:, 2:] += held
    ridge = problem.spread_tension * scale**4 * ell  # Q's spread ridge: it sees PEAK trend − OFFPEAK trend
    spread = np.array([[ridge.sum(), ridge @ t], [ridge @ t, ridge @ t**2]])
    energy += np.block([[spread, -spread], [-spread, spread]])
    eigenvalues, vectors = np.linalg.eigh(energy)
    free = eigenvalues <= FREE_TREND_RTOL * max(eigenvalues[-1], 1.0)
    if not free.any():
        return np.zeros((0, 2 * n))
    trends = np.zeros((2 * n, 4))
    trends[0::2, 0], trends[0::2, 1] = 1.0, t
    trends[1::2, 2], trends[1::2, 3] = 1.0, t
    return (trends @ vectors[:, free]).T * np.repeat(ell, 2)


class _SparseKkt:
    """The factorised KKT matrix [[2Q, Cᵀ], [C, 0]] of Q (COO triplets, scaled time) and the constraint
    rows C = [contract rows; trend pins]."""

    def __init__(self, q: Triplets, rows: _Rows, pins: np.ndarray) -> None:
        q_row, q_col, q_value = q
        self.size = int(q_row.max()) + 1
        self.names = rows.names
        self.pins = pins
        pin_row, pin_col = np.nonzero(pins)
        row = np.concatenate([rows.row, rows.names.size + pin_row]) + self.size
        col = np.concatenate([rows.col, pin_col])
        weight = np.concatenate([rows.weight, pins[pin_row, pin_col]])
        total = self.size + rows.names.size + pins.shape[0]
        self.matrix = sp.csc_array(
            (
                np.concatenate([2.0 * q_value, weight, weight]),
                (np.concatenate([q_row, row, col]), np.concatenate([q_col, col, row])),
            ),
            shape=(total, total),
        )
        try:
            self.lu = splu(self.matrix, permc_spec="MMD_AT_PLUS_A")
        except RuntimeError as error:  # SuperLU: "Factor is exactly singular"
            raise ValueError(f"the curve's KKT system is singular ({error})") from error

    def solve(self, targets: np.ndarray, pinned: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """ε and the contract rows' KKT multipliers λ for the rows' targets, the pinned trends held at
        `pinned` (default 0); one step of iterative refinement."""
        pinned = np.zeros(self.pins.shape[0]) if pinned is None else pinned
        rhs = np.concatenate([np.zeros(self.size), targets, pinned])
        solution = self.lu.solve(rhs)
        solution += self.lu.solve(rhs - self.matrix @ solution)
        return solution[: self.size], solution[self.size : self.size + self.names.size]

    def hessian(self) -> np.ndarray:
        """H with J*(s) = sᵀHs for the rows' averages s (pins at 0): −½ ∂λ/∂s, the λλ block of K⁻¹."""
        k = self.names.size
        unit = np.zeros((self.matrix.shape[0], k))
        unit[self.size + np.arange(k), np.arange(k)] = 1.0
        inverse = self.lu.solve(unit)
        inverse += self.lu.solve(unit - self.matrix @ inverse)
        block = -0.5 * inverse[self.size : self.size + k]
        return 0.5 * (block + block.T)

    def sensitivity(self, unknowns: np.ndarray, contracts: int) -> np.ndarray:
        """(len(unknowns), contracts): ∂ε[unknown]/∂target_j, 0 for contracts not in the system. The KKT
        matrix is symmetric, so row k of its inverse is its solve against the k-th unit vector (refined
        once, like `solve`)."""
        unit = np.zeros((self.matrix.shape[0], unknowns.size))
        unit[unknowns, np.arange(unknowns.size)] = 1.0
        rows_of_inverse = self.lu.solve(unit)
        rows_of_inverse += self.lu.solve(unit - self.matrix @ rows_of_inverse)
        out = np.zeros((unknowns.size, contracts))
        out[:, self.names] = rows_of_inverse[self.size : self.size + self.names.size].T
        return out


class _SchurUnavailable(Exception):
    """The banded range-space solve does not apply here (Q singular) or did not verify."""


_LOWER = {kd: np.tril_indices(kd) for kd in range(8)}  # (row, column) of a kd × kd lower triangle


class _BandedCholesky:
    """Q's banded Cholesky factor — possible when the tension pins every linear trend, so Q is positive
    definite — over the periods the contracts reach, and the whitened contract columns U⁻ᵀaⱼ of every
    contract, computed once per problem.

    The tail beyond every contract (the long end to 2050, most of the grid) holds no constraint, so it is
    condensed out first: for ε_L on the first `size` unknowns the best tail is ε_T = −Q_TT⁻¹Q_TL ε_L, and
    J = ε_Lᵀ Q̃ ε_L with Q̃ = Q_LL − Q_LT Q_TT⁻¹ Q_TL. Q_LT couples only the last kd unknowns of L with the
    first kd of T, so Q̃ is Q_LL with its last kd × kd block changed: banded as before, and the work per
    contract column scales with the contracts' reach instead of the horizon."""

    def __init__(self, problem: SmoothProblem, band: np.ndarray) -> None:
        kd = band.shape[0] - 1
        total = band.shape[1]
        reach = 2 * (int(problem._col.max()) // 2 + 1)  # unknowns up to the last period any contract covers
        size = max(2 * problem.liquid_end, reach)
        self.width, self.size, self.total = kd, size, total
        self.tail_gain: np.ndarray | None = None  # G with ε_T = −G · ε_L[−kd:]
        if total - size >= 2 * kd and size >= kd:
            tail, info = dpbtrf(band[:, size:])  # Q_TT (the band's unused corner is not read)
            if info:
                raise _SchurUnavailable(f"Q's tail is not positive definite (LAPACK dpbtrf info {info})")
            # B = Q_LT's only nonzero block: B[r, c] = Q[size − kd + r, size + c] = band[r − c, size + c]
            r, c = _LOWER[kd]
            coupling = np.zeros((kd, kd))
            coupling[r, c] = band[r - c, size + c]
            unit = np.zeros((total - size, kd), order="F")
            unit[np.arange(kd), np.arange(kd)] = 1.0
            self.tail_gain = dpbtrs(tail, unit)[0] @ coupling.T  # Q_TT⁻¹ Q_TL restricted to ε_L[−kd:]
            update = coupling @ self.tail_gain[:kd]  # Q_LT Q_TT⁻¹ Q_TL's nonzero block
            band = np.array(band[:, :size], order="F")
            r, c = _LOWER[kd][::-1]
            band[kd - (c - r), size - kd + c] -= update[r, c]
        else:
            self.size = size = total
            band = np.asfortranarray(band)
        self.band = band
        self.factor, info = dpbtrf(band)
        if info:
            raise _SchurUnavailable(f"Q is not positive definite (LAPACK dpbtrf info {info})")
        self.columns = np.zeros((size, problem.prices.size), order="F")  # Aᵀ, dense, condensed
        self.columns[problem._col, problem._row] = problem._weight
        self.whitened, info = dtbtrs(self.factor, self.columns, uplo="U", trans="T")
        self._schurs: dict[bytes, _SchurKkt] = {}

    @classmethod
    def attempt(cls, problem: SmoothProblem, band: np.ndarray) -> _BandedCholesky | None:
        try:
            return cls(problem, band)
        except _SchurUnavailable:
            return None

    def schur(self, rows: _Rows) -> _SchurKkt:
        """The Schur-complement system of these contract rows, kept for the next solve with them."""
        key = rows.names.tobytes()
        kkt = self._schurs.get(key)
        if kkt is None:
            if len(self._schurs) >= 32:  # the band case's active sets can be many
                self._schurs.clear()
            kkt = self._schurs[key] = _SchurKkt(self, rows)
        return kkt

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """Q̃⁻¹ rhs on the condensed unknowns."""
        return dpbtrs(self.factor, rhs)[0]

    def expand(self, condensed: np.ndarray) -> np.ndarray:
        """Every unknown's value (rows) from the condensed ones: the tail follows from the last kd."""
        if self.tail_gain is None:
            return condensed
        return np.concatenate([condensed, -self.tail_gain @ condensed[self.size - self.width :]])


class _SchurKkt:
    """The KKT system by its Schur complement (range space): ε = Q⁻¹Aᵀz with S z = r, S = A Q⁻¹ Aᵀ =
    (U⁻ᵀAᵀ)ᵀ(U⁻ᵀAᵀ) — a banded Cholesky and an m × m one instead of a sparse LU of the whole system. The
    answer is checked (contracts reproduced, stationarity 2Qε + Aᵀλ = 0) before it is used."""

    pins = np.zeros((0, 0))

    def __init__(self, factor: _BandedCholesky, rows: _Rows) -> None:
        if not rows.names.size:
            raise _SchurUnavailable("no contract rows to hold")
        self.factor = factor
        self.names = rows.names
        self.columns = factor.columns[:, rows.names]
        whitened = factor.whitened[:, rows.names]
        self.schur, info = dpotrf(whitened.T @ whitened)
        if info:
            raise _SchurUnavailable(
                f"the contracts' Schur complement is singular (LAPACK dpotrf info {info})"
            )

    def solve(self, targets: np.ndarray, pinned: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """ε and λ (2Qε + Aᵀλ = 0) for the rows' targets, with one step of iterative refinement."""
        z = dpotrs(self.schur, targets)[0]
        epsilon = self.factor.solve(self.columns @ z)
        correction = dpotrs(self.schur, targets - self.columns.T @ epsilon)[0]
        epsilon += self.factor.solve(self.columns @ correction)
        z += correction
        missed = np.abs(targets - self.columns.T @ epsilon).max(initial=0.0)
        gradient = 2.0 * dsbmv(self.factor.width, 1.0, self.factor.band, epsilon)
        pull = 2.0 * (self.columns @ z)  # the contracts' pull −Aᵀλ, λ = −2z
        unbalanced = np.abs(gradient - pull).max()
        size = 1.0 + np.abs(targets).max(initial=0.0)
        rounding = 1e-12 * self.factor.band[-1].max() * size  # the noise floor of 2Qε for a curve this size
        if (
            missed > 1e-9 * size
            or unbalanced > 1e-7 * (np.abs(gradient).max() + np.abs(pull).max()) + rounding
        ):
            raise _SchurUnavailable(
                f"inaccurate: contracts missed by {missed:.3g}, stationarity off by {unbalanced:.3g}"
            )
        return self.factor.expand(epsilon), -2.0 * z

    def hessian(self) -> np.ndarray:
        """H with J*(s) = sᵀHs for the rows' averages s: S⁻¹."""
        return dpotrs(self.schur, np.eye(self.names.size))[0]

    def sensitivity(self, unknowns: np.ndarray, contracts: int) -> np.ndarray:
        """(len(unknowns), contracts): ∂ε[unknown]/∂target_j = (Q⁻¹AᵀS⁻¹)[unknown, j]."""
        gain = self.factor.solve(self.columns @ dpotrs(self.schur, np.eye(self.names.size))[0])
        out = np.zeros((unknowns.size, contracts))
        out[:, self.names] = self.factor.expand(gain)[unknowns]
        return out


# --- the solution -------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SmoothSolution:
    values: np.ndarray  # (n, 2) the curve: prior + adjustment, $/MWh
    adjustment: np.ndarray  # (n, 2) ε
    objective: float  # J(ε), ($/MWh)²/h³ (module docstring)
    multipliers: np.ndarray  # (m,) ∂J/∂price_j (band case: ∂J/∂ the binding bound; 0 if none binds)
    method: Literal["kkt", "clarabel"]
    redundant: np.ndarray  # contracts left out as combinations of others (multiplier and influence 0)
    binding: np.ndarray  # (m,) −1 at bid, +1 at ask, 0 inside its band or without one
    free_trends: int  # linear trends no contract (nor tension) pins: held at the prior (module docstring)
    polished: bool  # band case: the KKT solve on the binding constraints confirmed the optimum exactly
    factorisation: Literal["schur-banded", "sparse-lu"]  # how the final KKT system was solved
    _kkt: _SchurKkt | _SparseKkt = field(repr=False)
    _hours: np.ndarray = field(repr=False)

    def influence(self, period: int, block: int | Block) -> np.ndarray:
        """(m,) ∂values[period, block]/∂price_j for every contract j (block PEAK/0, OFFPEAK/1, or ATC: the
        hour-weighted blend of both). Exact in the equality case. In the band case it is the derivative
        with respect to each binding bound (bid or ask) on the active set — exact while that set holds —
        and 0 for contracts whose band does not bind. Redundant contracts get 0: their span carries them."""
        n = self.values.shape[0]
        if not -n <= period < n:
            raise IndexError(f"period {period} is outside 0..{n - 1}")
        period %= n
        columns = self._columns(block)
        weights = np.ones(1)
        if len(columns) > 1:
            weights = self._hours[period]
            if not weights.sum() > 0:
                raise ValueError(f"period {period} has no hours to blend ATC from")
            weights = weights / weights.sum()
        unknowns = 2 * period + np.array(columns)
        return weights @ self._kkt.sensitivity(unknowns, self.multipliers.size)

    def influences(self) -> np.ndarray:
        """(n, 2, m): `influence` of every contract on every (period, block) point, in one solve."""
        n, m = self.values.shape[0], self.multipliers.size
        return self._kkt.sensitivity(np.arange(2 * n), m).reshape(n, 2, m)

    @staticmethod
    def _columns(block: int | str) -> tuple[int, ...]:
        if isinstance(block, str):
            if block not in BLOCK_COLUMNS:
                raise ValueError(f"block must be one of {', '.join(BLOCK_COLUMNS)}, not {block!r}")
            return BLOCK_COLUMNS[block]
        if block not in (PEAK, OFFPEAK):
            raise ValueError(f"block must be {PEAK} (PEAK) or {OFFPEAK} (OFFPEAK), not {block!r}")
        return (int(block),)


# --- solving ------------------------------------------------------------------------------------------


class _Setup:
    """What every solve path shares: the time scale, Q (triplets, and its banded Cholesky factor when it
    has one) and each contract's target for ε."""

    def __init__(self, problem: SmoothProblem) -> None:
        self.problem = problem
        self.scale = float(problem.lengths.mean())
        self.band_key = _band_key(problem, self.scale)
        self.band = _band_of(*self.band_key)
        # price (or bid == ask) less the prior's average over the contract
        targets = np.where(np.isnan(problem.bid), problem.prices, problem.bid)
        self.targets = targets - problem.contracts @ problem.prior.ravel()
        self._factor: _BandedCholesky | None = None
        self._factor_tried = False

    @functools.cached_property
    def q(self) -> Triplets:
        """Q as COO triplets, for the sparse LU path."""
        return _band_triplets(self.band)

    @property
    def factor(self) -> _BandedCholesky | None:
        """Q's banded Cholesky factor, or None when Q is singular (no tension, or under two periods of it).
        Cached on the grid, parameters and contract matrix: prices do not enter it."""
        if not self._factor_tried:
            self._factor_tried = True
            problem = self.problem
            if problem.tension > 0 and problem.periods - problem.liquid_end >= 2:
                key = (self.band_key, problem._contracts_key)
                self._factor = _FACTORS.get(key, lambda: _BandedCholesky.attempt(problem, self.band))
        return self._factor

    def kkt(
        self, rows: _Rows, targets: np.ndarray, current: np.ndarray | None = None
    ) -> tuple[_SchurKkt | _SparseKkt, np.ndarray, np.ndarray]:
        """(the factorised system, ε, λ) holding these contract rows at `targets`: the banded range-space
        solve where Q is positive definite and the answer verifies, else the sparse LU of the whole KKT
        matrix with any trend the rows leave free pinned — at the prior, or where `current` has it."""
        if self.factor is not None:
            try:
                banded = self.factor.schur(rows)
                return banded, *banded.solve(targets)
            except _SchurUnavailable:
                pass
        sparse = _SparseKkt(self.q, rows, _trend_pins(self.problem, rows, self.scale))
        pinned = None if current is None else sparse.pins @ current
        return sparse, *sparse.solve(targets, pinned)

    def solution(
        self,
        epsilon: np.ndarray,
        lagrange: np.ndarray,
        kkt: _SchurKkt | _SparseKkt,
        method: Literal["kkt", "clarabel"],
        binding: np.ndarray,
        polished: bool,
    ) -> SmoothSolution:
        problem = self.problem
        adjustment = epsilon.reshape(-1, 2)
        values = problem.prior + adjustment
        for array in (adjustment, values):
            array.setflags(write=False)
        # the Lagrangian J + λᵀ(Aε − r) gives ∂J*/∂r = −λ; scaled time puts J at scale⁻³
        multipliers = -lagrange / self.scale**3
        left_out = ~problem.banded
        left_out[kkt.names] = False
        return SmoothSolution(
            values=values,
            adjustment=adjustment,
            objective=float(epsilon @ dsbmv(self.band.shape[0] - 1, 1.0, self.band, epsilon)) / self.scale**3,
            multipliers=multipliers,
            method=method,
            redundant=np.flatnonzero(left_out),
            binding=binding,
            free_trends=kkt.pins.shape[0],
            polished=polished,
            factorisation="schur-banded" if isinstance(kkt, _SchurKkt) else "sparse-lu",
            _kkt=kkt,
            _hours=problem.hours,
        )


def solve(problem: SmoothProblem) -> SmoothSolution:
    """The max-smoothness curve: KKT when every contract is an equality, Clarabel when any has a band."""
    setup = _Setup(problem)
    if problem.banded.any():
        return _solve_banded(setup)
    return _solve_equalities(setup)


def _solve_equalities(setup: _Setup) -> SmoothSolution:
    problem = setup.problem
    m = problem.prices.size
    fixed = _Rows.of(problem, np.flatnonzero(~problem.banded))
    kept = _Rows.of(problem, independent_rows(fixed, setup.targets))
    kkt, epsilon, lagrange = setup.kkt(kept, setup.targets[kept.names])
    full = np.zeros(m)
    full[kept.names] = lagrange
    return setup.solution(epsilon, full, kkt, "kkt", np.zeros(m, dtype=np.int8), False)


def _clarabel(
    hessian: np.ndarray,
    equal: np.ndarray,
    targets: np.ndarray,
    banded: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
) -> clarabel.DefaultSolution:
    """Clarabel on the QP in the contracts' averages s: min sᵀHs s.t. E s = targets (zero cone) and
    low ≤ B s ≤ high (nonnegative cone, as B s ≤ high and −B s ≤ −low)."""
    size = hessian.shape[0]
    k = equal.shape[0]
    constraint = sp.csc_array(np.vstack([equal, banded, -banded]))
    bounds = np.concatenate([targets, high, -low])
    cones = ([clarabel.ZeroConeT(k)] if k else []) + [clarabel.NonnegativeConeT(2 * banded.shape[0])]
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.max_threads = 1  # a few dozen unknowns: threads only wait for busy cores
    settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = CLARABEL_TOL
    p = sp.csc_array(np.triu(2.0 * hessian))  # Clarabel reads P's upper triangle
    return clarabel.DefaultSolver(p, np.zeros(size), constraint, bounds, cones, settings).solve()


def _free_bands(
    problem: SmoothProblem, equalities: _Rows, targets: np.ndarray, offset: np.ndarray
) -> np.ndarray:
    """The banded contracts the equality contracts do not already determine. A determined one (a
    combination of equality rows: a quarter whose months are all fixed) must have its implied price inside
    its band — else InfeasibleBands naming it and its span — and then needs no constraint: left to the
    solver, such exactly dependent rows can make Clarabel report a wrong "Solved"."""
    banded = np.flatnonzero(problem.banded)
    if not equalities.names.size:
        return banded
    bands = _Rows.of(problem, banded)
    used, col = np.unique(np.concatenate([equalities.col, bands.col]), return_inverse=True)
    fixed = np.zeros((used.size, equalities.names.size))
    fixed[col[: equalities.col.size], equalities.row] = equalities.weight
    wanted = np.zeros((used.size, banded.size))
    wanted[col[equalities.col.size :], bands.row] = bands.weight
    combination, *_ = np.linalg.lstsq(fixed, wanted, rcond=None)
    missing = np.linalg.norm(wanted - fixed @ combination, axis=0)
    determined = missing <= RANK_RTOL * np.linalg.norm(wanted, axis=0)
    implied = combination.T @ targets[equalities.names]
    low, high = (problem.bid - offset)[banded], (problem.ask - offset)[banded]
    for k in np.flatnonzero(determined & ((implied < low - PRICE_TOL) | (implied > high + PRICE_TOL))):
        span = sorted(int(j) for j in equalities.names[np.abs(combination[:, k]) > 1e-12])
        raise InfeasibleBands(
            f"contract {banded[k]} is an hour-weighted combination of contracts {span}, whose prices put it "
            f"at {implied[k] + offset[banded[k]]:.6g} $/MWh, outside its band "
            f"[{problem.bid[banded[k]]:.6g}, {problem.ask[banded[k]]:.6g}]"
        )
    return banded[~determined]


def _solve_banded(setup: _Setup) -> SmoothSolution:
    """Clarabel on the QP in the contracts' averages for a first answer and its binding constraints, then
    an exact active-set finish on the curve."""
    problem = setup.problem
    offset = problem.contracts @ problem.prior.ravel()
    fixed = _Rows.of(problem, np.flatnonzero(~problem.banded))
    equalities = _Rows.of(problem, independent_rows(fixed, setup.targets))
    band_names = _free_bands(problem, equalities, setup.targets, offset)
    if not band_names.size:
        return _solve_equalities(setup)
    low, high = (problem.bid - offset)[band_names], (problem.ask - offset)[band_names]
    # coordinates: the averages s of an independent subset of the contracts (the others are combinations
    # of them); the least curvature with those averages is sᵀHs, and ε(s) one KKT solve
    names = np.concatenate([equalities.names, band_names])
    independent, dependent, combination = _row_basis(_Rows.of(problem, names))
    basis = names[independent]
    mid = setup.targets.copy()
    mid[band_names] = 0.5 * (low + high)
    basis_rows = _Rows.of(problem, basis)
    engine = setup.kkt(basis_rows, mid[basis])[0]
    averages = np.zeros((names.size, basis.size))  # each contract's average in the coordinates
    averages[independent, np.arange(basis.size)] = 1.0
    averages[dependent] = combination.T
    k, b = equalities.names.size, band_names.size
    result = _clarabel(
        engine.hessian(), averages[:k], setup.targets[equalities.names], averages[k:], low, high
    )
    status = str(result.status)
    if "Infeasible" in status:
        raise InfeasibleBands(
            f"no curve holds every equality price and stays inside every bid/ask band (Clarabel: {status}); "
            f"banded contracts {band_names.tolist()}"
        )
    if status not in USABLE_STATUSES:
        raise ValueError(f"the band-constrained curve did not solve (Clarabel: {status})")
    epsilon = setup.kkt(basis_rows, np.asarray(result.x))[1]
    z, s = np.asarray(result.z), np.asarray(result.s)
    # an interior-point constraint is active where its dual exceeds its slack
    at_ask = z[k : k + b] > s[k : k + b]
    at_bid = ~at_ask & (z[k + b :] > s[k + b :])
    finish = _ActiveSet(setup, equalities.names, band_names, low, high)
    polished = finish.run(epsilon, at_bid, at_ask)
    if polished is not None:
        epsilon, lagrange, kkt, at_bid, at_ask = polished
    else:  # Clarabel's own answer, if it converged; influence from the binding constraints it found
        reached = averages @ np.asarray(result.x)
        outside = max(
            float(np.abs(reached[:k] - setup.targets[equalities.names]).max(initial=0.0)),
            float(np.maximum(low - reached[k:], reached[k:] - high).max()),
        )
        if status not in ("Solved", "AlmostSolved") or outside > QUOTE_TOL:
            raise ValueError(
                f"the band-constrained curve did not solve (Clarabel: {status}, a contract {outside:.3g} "
                "$/MWh off its price or band, and the active-set finish did not settle)"
            )
        lagrange = np.zeros(problem.prices.size)
        lagrange[equalities.names] = z[:k]
        lagrange[band_names] = z[k : k + b] - z[k + b :]
        try:
            kkt = finish.kkt(at_bid, at_ask, epsilon)[0]
        except InconsistentContracts:
            kkt = setup.kkt(equalities, setup.targets[equalities.names])[0]
    binding = np.zeros(problem.prices.size, dtype=np.int8)
    binding[band_names[at_bid]], binding[band_names[at_ask]] = -1, 1
    return setup.solution(epsilon, lagrange, kkt, "clarabel", binding, polished is not None)


@dataclass(frozen=True)
class _ActiveSet:
    """A primal active-set finish (Nocedal & Wright, Algorithm 16.3) from Clarabel's answer: each round
    solves the KKT system with the equalities and the working set of bounds held, steps towards that
    solution as far as the other bands allow, and either adds the band that blocks or — at the full step —
    drops the bound whose multiplier has the wrong sign. Usually one round: Clarabel's binding set is
    right, and the round makes the answer exact."""

    setup: _Setup
    fixed: np.ndarray  # the independent equality contracts
    band_names: np.ndarray
    low: np.ndarray
    high: np.ndarray

    def kkt(
        self, at_bid: np.ndarray, at_ask: np.ndarray, current: np.ndarray
    ) -> tuple[_SchurKkt | _SparseKkt, np.ndarray, np.ndarray]:
        """(the factorised system, ε, λ) with the equalities and the working set of bounds held; trends
        the working set leaves free stay where `current` has them (J does not depend on them)."""
        problem = self.setup.problem
        working = self.setup.targets.copy()
        working[self.band_names[at_bid]] = self.low[at_bid]
        working[self.band_names[at_ask]] = self.high[at_ask]
        names = np.sort(np.concatenate([self.fixed, self.band_names[at_bid | at_ask]]))
        active = _Rows.of(problem, independent_rows(_Rows.of(problem, names), working))
        return self.setup.kkt(active, working[active.names], current)

    def run(
        self, epsilon: np.ndarray, at_bid: np.ndarray, at_ask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, _SchurKkt | _SparseKkt, np.ndarray, np.ndarray] | None:
        """(ε, KKT multipliers per contract, the factorisation, at_bid, at_ask) at the exact optimum, or
        None when the working set does not settle."""
        bands = _Rows.of(self.setup.problem, self.band_names).matrix(epsilon.size)
        # multipliers are curvature per $/MWh: below this they are rounding, not a sign
        scale = float(self.setup.band[-1].max()) * max(1.0, float(np.abs(self.setup.targets).max()))
        at_bid, at_ask = at_bid.copy(), at_ask.copy()
        for _ in range(POLISH_ROUNDS + 2 * self.band_names.size):
            try:
                kkt, goal, multipliers = self.kkt(at_bid, at_ask, epsilon)
            except InconsistentContracts:
                return None
            step = goal - epsilon
            level, change = bands @ epsilon, bands @ step
            # how far each free band lets the step go before it reaches a bound
            moving = ~(at_bid | at_ask) & (np.abs(change) > 1e-12 * max(1.0, float(np.abs(step).max())))
            room = np.where(change > 0, self.high - level, level - self.low)
            ratio = np.full(change.size, np.inf)
            ratio[moving] = np.maximum(room[moving], 0.0) / np.abs(change[moving])
            blocking = int(np.argmin(ratio))
            if ratio[blocking] < 1.0:
                epsilon = epsilon + ratio[blocking] * step
                at_ask[blocking], at_bid[blocking] = change[blocking] > 0, change[blocking] < 0
                continue
            epsilon = goal
            lagrange = np.zeros(self.setup.problem.prices.size)
            lagrange[kkt.names] = multipliers
            # at the ask λ ≥ 0 (raising the ask can only lower J), at the bid λ ≤ 0
            wrongness = np.where(at_ask, -lagrange[self.band_names], 0.0)
            wrongness = np.where(at_bid, lagrange[self.band_names], wrongness)
            worst = int(np.argmax(wrongness))
            if wrongness[worst] <= 1e-9 * scale:
                return epsilon, lagrange, kkt, at_bid, at_ask
            at_bid[worst] = at_ask[worst] = False
        return None
