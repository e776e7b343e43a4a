"""The curve's grid: cells from the first delivery day to the horizon end, split at every month start and
every contract date inside, with each cell's PEAK and OFFPEAK hours from the market's calendar; and the
contract matrix over its (cell, block) unknowns. Pure calendar facts, cached per market and dates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.sparse as sp

from marketintel.curves import calendar
from marketintel.curves.models import HORIZON_END, Quote, QuoteError

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
