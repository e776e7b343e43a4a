"""Where demo curve builds read from: the store's forward quotes (per hub and trade date) and its
day-ahead history (for the seasonal shape)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from marketintel.curves import calendar
from marketintel.curves.basis import Basis, basis_table
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


def day_ahead_history(store: TimeSeriesStore, market: str, locations: list[str] | None = None) -> pa.Table:
    """Day-ahead prices of the last three years of the market's history (every location by default)."""
    newest = (
        store.query(
            f"SELECT max(interval_start) AS last FROM price_facts "
            f"WHERE market = {store.dialect.string(market)} AND run = 'DA'"
        )
        .column("last")[0]
        .as_py()
    )
    if newest is None:
        return pa.table(
            {
                "location": pa.array([], pa.string()),
                "interval_start": pa.array([], pa.timestamp("us", "UTC")),
                "lmp": pa.array([], pa.float64()),
            }
        )
    return store.prices(
        market=market,
        run="DA",
        start=newest - HISTORY,
        end=newest + dt.timedelta(hours=1),
        locations=locations,
    )


def nodal_basis(market: str, location: str, history: pa.Table) -> Basis:
    """Every other location's basis to the hub, by calendar month and block, from `history`."""
    hub = history.filter(pc.equal(history.column("location"), location))
    nodes = history.filter(pc.not_equal(history.column("location"), location))
    return basis_table(
        market,
        hub.column("interval_start"),
        hub.column("lmp"),
        nodes.column("interval_start"),
        nodes.column("lmp"),
        nodes.column("location"),
    )


def history_shape(store: TimeSeriesStore, market: str, location: str) -> np.ndarray:
    """Seasonal factors (12 × PEAK/OFFPEAK) from the hub's day-ahead prices of the last three years."""
    prices = day_ahead_history(store, market, [location])
    if not prices.num_rows:
        return seasonal_shape(None)
    instants = prices.column("interval_start").to_numpy().astype("datetime64[s]")
    months, is_peak = calendar.classify_hours(market, instants)
    return seasonal_shape(
        pa.table({"month": months, "is_peak": is_peak, "lmp": prices.column("lmp").to_numpy()})
    )
