"""Small canonical batches for the store tests, built the way a connector would build them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pyarrow as pa

from marketintel.store.models import INSTRUMENTS_SCHEMA, PRICES

UTC = dt.UTC
T0 = dt.datetime(2024, 3, 9, 8, 0, tzinfo=UTC)  # 2024-03-09 00:00 in California
LEARNED = dt.datetime(2024, 3, 12, tzinfo=UTC)

LOCATIONS = {
    "MISO": [("INDIANA.HUB", "hub"), ("ILLINOIS.HUB", "hub"), ("AMIL.BGS6", "node")],
    "CAISO": [("TH_NP15_GEN-APND", "hub"), ("TH_SP15_GEN-APND", "hub")],
}
TIMEZONES = {"MISO": "Etc/GMT+5", "CAISO": "America/Los_Angeles"}


def instruments() -> pa.Table:
    rows = [
        {
            "market": m,
            "location": loc,
            "location_type": kind,
            "timezone": TIMEZONES[m],
            "currency": "USD",
            "unit": "USD/MWh",
            "name": None,
        }
        for m, locations in LOCATIONS.items()
        for loc, kind in locations
    ]
    return pa.Table.from_pylist(rows, schema=INSTRUMENTS_SCHEMA)


def prices(
    *,
    market: str = "MISO",
    locations: Sequence[str] = ("INDIANA.HUB",),
    run: str = "RT5",
    start: dt.datetime = T0,
    count: int = 12,
    minutes: int = 5,
    learned: dt.datetime = LEARNED,
    base: float = 30.0,
) -> pa.Table:
    """`count` consecutive intervals per location; lmp = base + interval index + location index / 100."""
    rows = []
    for li, location in enumerate(locations):
        for i in range(count):
            lmp = base + i + li / 100
            rows.append(
                {
                    "market": market,
                    "location": location,
                    "run": run,
                    "interval_start": start + dt.timedelta(minutes=minutes * i),
                    "interval_minutes": minutes,
                    "lmp": lmp,
                    "energy": lmp - 1.5,
                    "congestion": 1.0,
                    "loss": 0.5,
                    "knowledge_time": learned,
                    "source": "test",
                    "source_file_sha256": "0" * 64,
                }
            )
    return pa.Table.from_pylist(rows, schema=PRICES.schema)
