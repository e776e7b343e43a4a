"""A quote set's layout: everything about a set of quotes on the curve's grid that their prices do not
change — the grid, the (checked) contract matrix, the reconciliation's projection, the long end's start
and escalation horizon, the anchor's weights and the calendar months' cells.

Daily rebuilds of a curve keep their contracts (dates, products, which carry a bid/ask band) while prices
move, so a layout is built once per market, first delivery day and contract set, and shared."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from marketintel.curves.grid import EPOCH_ORDINAL, Grid, cell_grid, contract_matrix
from marketintel.curves.memo import Memo
from marketintel.curves.models import Quote, QuoteError
from marketintel.curves.reconcile import projection
from marketintel.curves.smooth import checked_contracts

BAND_SLACK = 1e-9  # $/MWh: a price may sit this far outside its band (as Quote.check allows)


@dataclass(frozen=True, eq=False)
class Layout:
    grid: Grid
    matrix: sp.csr_array  # (m, 2n) contract weights, checked (smooth.checked_contracts), read-only
    totals: np.ndarray  # (m,) each contract's delivery hours
    banded: np.ndarray  # (m,) the quote has a bid/ask band
    fixed: np.ndarray  # the contracts without a band: reconciliation's rows
    projector: np.ndarray | None  # reconcile.projection of the fixed rows (None: independent)
    liquid_until: dt.date  # the last contract's end
    liquid_end: int  # the first cell beyond every contract
    years_beyond: np.ndarray  # (n,) years from liquid_until to each cell's start, 0 inside the horizon
    anchor: np.ndarray  # (m,) weights: the long-term level is anchor @ quoted prices
    month_starts: np.ndarray  # index of the first cell of each calendar month


_LAYOUTS: Memo[Layout] = Memo(256)


def layout(market: str, first_day: dt.date, quotes: Sequence[Quote]) -> Layout:
    """The layout of `quotes` (all delivering from `first_day` inside the horizon), checking each quote
    when the contract set is new; a known set's prices still need `quote_prices`."""
    key = (market, first_day, *((q.start, q.end, q.product, q.bid is None, q.ask is None) for q in quotes))
    return _LAYOUTS.get(key, lambda: _build(market, first_day, quotes))


def clear_layouts() -> None:
    _LAYOUTS.clear()


def quote_prices(quotes: Sequence[Quote], banded: np.ndarray) -> np.ndarray:
    """(m, 3) price, bid and ask of each quote (NaN: none), checked as `Quote.check` checks them: the
    first bad quote raises its QuoteError naming it."""
    try:
        values = np.array([(q.price, q.bid, q.ask) for q in quotes], dtype=float)
        price, bid, ask = values[:, 0], values[banded, 1], values[banded, 2]
        sound = (
            np.isfinite(price).all()
            and np.isfinite(bid).all()
            and np.isfinite(ask).all()
            and (bid <= ask).all()
            and (bid - BAND_SLACK <= price[banded]).all()
            and (price[banded] <= ask + BAND_SLACK).all()
        )
    except (TypeError, ValueError):  # not numbers: Quote.check says which
        sound = False
    if not sound:
        for quote in quotes:
            quote.check()
        raise QuoteError("a quote's price, bid or ask is not usable")  # not reached: check raises
    return values


def _build(market: str, first_day: dt.date, quotes: Sequence[Quote]) -> Layout:
    for quote in quotes:
        quote.check()
    cells = cell_grid(market, first_day, frozenset(d for q in quotes for d in (q.start, q.end)))
    matrix, totals = contract_matrix(quotes, cells.days, cells.hours)
    matrix = checked_contracts(matrix)
    banded = np.fromiter((q.banded for q in quotes), dtype=bool, count=len(quotes))
    fixed = np.flatnonzero(~banded)
    liquid_until = max(q.end for q in quotes)
    liquid_day = liquid_until.toordinal() - EPOCH_ORDINAL
    years_beyond = np.maximum(0.0, (cells.days[:-1] - liquid_day) / 365.25)
    month_starts = np.flatnonzero(np.diff(cells.months, prepend=-1) != 0)
    for array in (totals, banded, fixed, years_beyond, month_starts):
        array.setflags(write=False)
    return Layout(
        grid=cells,
        matrix=matrix,
        totals=totals,
        banded=banded,
        fixed=fixed,
        projector=projection(matrix, totals, fixed),
        liquid_until=liquid_until,
        liquid_end=int(np.searchsorted(cells.days, liquid_day)),
        years_beyond=years_beyond,
        anchor=anchor_weights(quotes, liquid_until),
        month_starts=month_starts,
    )


def anchor_weights(quotes: Sequence[Quote], liquid_until: dt.date) -> np.ndarray:
    """(m,) weights whose product with the prices is the long-term anchor's level: the day-weighted
    average of the last traded year's ATC quotes (any product if none is ATC)."""
    last_year = np.fromiter(
        (q.end > liquid_until - dt.timedelta(days=366) for q in quotes), dtype=bool, count=len(quotes)
    )
    atc = last_year & np.fromiter((q.product == "ATC" for q in quotes), dtype=bool, count=len(quotes))
    chosen = atc if atc.any() else last_year
    days = np.fromiter(((q.end - q.start).days for q in quotes), dtype=float, count=len(quotes))
    weights = np.where(chosen, days, 0.0)
    weights /= weights.sum()
    weights.setflags(write=False)
    return weights
