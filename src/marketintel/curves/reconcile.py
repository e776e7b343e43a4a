"""Tenor reconciliation: overlapping contracts must not offer an arbitrage.

Q1 at one price and Jan/Feb/Mar at others, or a calendar strip against its quarters, are only consistent
when the longer contract's price is the hour-weighted average of the shorter ones (and ATC the blend of
PEAK and OFFPEAK). Any set of contracts is consistent exactly when its prices lie in the range of the
contract matrix A (rows: each contract's hour weights over the curve's cells). An inconsistent set is
moved to the nearest consistent one in the hour-weighted least-squares sense — the projection of the
prices onto range(A) — and every quote that moved is reported.

Quotes with a bid/ask band are not moved here: the band already gives them room, and the curve solver
keeps them inside it (or says the bands cannot all hold).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from marketintel.curves.models import Adjustment, Quote
from marketintel.curves.smooth import dependencies

TOLERANCE = 1e-6  # $/MWh: below this a difference is rounding, not arbitrage


def reconcile(
    quotes: list[Quote], contracts: sp.csr_array, contract_hours: np.ndarray
) -> tuple[np.ndarray, list[Adjustment]]:
    """The prices to build from (one per quote) and the adjustments made to reach them."""
    prices = np.fromiter((q.price for q in quotes), dtype=float, count=len(quotes))
    rows = np.flatnonzero(np.fromiter((not q.banded for q in quotes), dtype=bool, count=len(quotes)))
    return reconciled(quotes, prices, rows, projection(contracts, contract_hours, rows))


def projection(contracts: sp.csr_array, contract_hours: np.ndarray, rows: np.ndarray) -> np.ndarray | None:
    """P with the consistent prices of contracts `rows` = P @ their quoted prices, or None when those
    contracts are independent (every set of prices is consistent). It depends on the contracts' hours
    only, not on prices: the layout of a contract set keeps it."""
    if rows.size < 2:
        return None
    independent, dependent, combination = dependencies(contracts, rows)
    if not dependent.size:
        return None
    # consistent prices are [y; combinationᵀy] (independent rows, then dependent): the hour-weighted
    # least-squares y solves a small normal system, linear in the prices
    weight_free, weight_tied = contract_hours[rows[independent]], contract_hours[rows[dependent]]
    normal = np.diag(weight_free) + (combination * weight_tied) @ combination.T
    gather = np.zeros((independent.size, rows.size))  # the normal system's right-hand side, per price
    gather[np.arange(independent.size), independent] = weight_free
    gather[:, dependent] = combination * weight_tied
    free = np.linalg.solve(normal, gather)
    out = np.empty((rows.size, rows.size))
    out[independent], out[dependent] = free, combination.T @ free
    return out


def reconciled(
    quotes: list[Quote], prices: np.ndarray, rows: np.ndarray, projector: np.ndarray | None
) -> tuple[np.ndarray, list[Adjustment]]:
    """The quoted `prices` with those of contracts `rows` made consistent by `projector` (`projection`),
    and the adjustments that are more than rounding."""
    if projector is None:
        return prices, []
    used = prices.copy()
    # build from the consistent prices throughout (sub-tolerance residuals of a long dependent chain would
    # add up); report only the moves that are more than rounding
    used[rows] = projector @ prices[rows]
    adjustments = []
    for row in rows[np.abs(used[rows] - prices[rows]) > TOLERANCE].tolist():
        quote = quotes[row]
        adjustments.append(Adjustment(quote.contract, quote.product, quote.price, float(used[row])))
    return used, adjustments
