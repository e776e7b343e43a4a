"""Where demo curve builds read from: the store's forward quotes (per hub and trade date) and its
day-ahead history (for the seasonal shape)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from marketintel.curves import calendar
from marketintel.curves.models import Quote
from marketintel.curves.prior import seasonal_shape
from marketintel.curves.quotes import quotes_from_store
from marketintel.store.engines.base import TimeSeriesStore
from marketintel.store.models import FORWARD_QUOTES

HISTORY = dt.timedelta(days=3 * 366)


def demo_hubs(store: TimeSeriesStore) -> list[tuple[str, str, dt.date]]:
    """(market, hub, latest trade date) for every hub with forward quotes in the store."""
    rows = store.query(
        f"SELECT market, location, max(trade_date) AS trade_date FROM {FORWARD_QUOTES.name} "
        "GROUP BY market, location ORDER BY market, location"
    )
    return [(r["market"], r["location"], r["trade_date"]) for r in rows.to_pylist()]


def store_quotes(store: TimeSeriesStore, market: str, location: str, trade_date: dt.date) -> list[Quote]:
    return quotes_from_store(
        market, store.forward_quotes(market=market, location=location, trade_date=trade_date)
    )


def history_shape(store: TimeSeriesStore, market: str, location: str) -> np.ndarray:
    """Seasonal factors (12 × PEAK/OFFPEAK) from the hub's day-ahead prices of the last three years."""
    newest = (
        store.query(
            f"SELECT max(interval_start) AS last FROM price_facts WHERE market = '{market}' AND run = 'DA'"
        )
        .column("last")[0]
        .as_py()
    )
    if newest is None:
        return seasonal_shape(None)
    prices = store.prices(
        market=market,
        run="DA",
        start=newest - HISTORY,
        end=newest + dt.timedelta(hours=1),
        locations=[location],
    )
    if not prices.num_rows:
        return seasonal_shape(None)
    instants = prices.column("interval_start").to_numpy().astype("datetime64[s]")
    months, is_peak = calendar.classify_hours(market, instants)
    return seasonal_shape_from(months, is_peak, prices.column("lmp").to_numpy())


def seasonal_shape_from(months: np.ndarray, is_peak: np.ndarray, lmp: np.ndarray) -> np.ndarray:
    return seasonal_shape(pa.table({"month": months, "is_peak": is_peak, "lmp": lmp}))
