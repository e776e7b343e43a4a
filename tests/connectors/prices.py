"""Test helper for sources that publish a price and no energy/congestion/loss split (JEPX, Nord Pool...)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc


def price_only(table: pa.Table, location: str, start: dt.datetime) -> float:
    """The LMP of the one row at `location` and `start`, checking that its components are null."""
    mask = pc.and_(pc.equal(table["location"], location), pc.equal(table["interval_start"], start))
    rows = table.filter(mask).to_pylist()
    assert len(rows) == 1, rows
    assert rows[0]["energy"] is None
    assert rows[0]["congestion"] is None
    assert rows[0]["loss"] is None
    return rows[0]["lmp"]
