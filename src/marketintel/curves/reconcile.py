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

TOLERANCE = 1e-6  # $/MWh: below this a difference is rounding, not arbitrage


def reconcile(
    quotes: list[Quote], contracts: sp.csr_matrix, contract_hours: np.ndarray
) -> tuple[np.ndarray, list[Adjustment]]:
    """The prices to build from (one per quote) and the adjustments made to reach them."""
    prices = np.array([q.price for q in quotes], dtype=float)
    fixed = np.array([not q.banded for q in quotes])
    if fixed.sum() < 2:
        return prices, []
    rows = np.flatnonzero(fixed)
    weights = np.sqrt(contract_hours[rows])
    matrix = contracts[rows].toarray() * weights[:, None]
    solution, *_ = np.linalg.lstsq(matrix, prices[rows] * weights, rcond=None)
    fitted = contracts[rows] @ solution
    used = prices.copy()
    # build from the consistent prices throughout (sub-tolerance residuals of a long dependent chain would
    # add up); report only the moves that are more than rounding
    used[rows] = fitted
    adjustments = []
    for row, value in zip(rows, fitted, strict=True):
        if abs(value - prices[row]) > TOLERANCE:
            quote = quotes[row]
            adjustments.append(Adjustment(quote.contract, quote.product, quote.price, float(value)))
    return used, adjustments
