"""Turning a source's local clock into UTC instants, vectorised, with DST handled explicitly.

Sources label time in many ways: hour-ending 1..24 (25 on a fall-back day, or "02X" for the repeated
hour), interval ends, fixed standard time all year, a DST flag column. These functions take naive local
wall-clock times plus what the source says about ambiguity, and return UTC `timestamp[us, tz=UTC]`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pyarrow as pa

UTC_US = pa.timestamp("us", tz="UTC")


def local_to_utc(
    local: pa.Array | pa.ChunkedArray | np.ndarray | pl.Series,
    timezone: str,
    *,
    first_occurrence: pa.Array | np.ndarray | Sequence[bool] | None = None,
) -> pa.Array:
    """UTC instants of naive local wall-clock times in `timezone`.

    In the repeated hour of a fall-back day a wall-clock time happens twice; `first_occurrence` says, per
    row, whether the earlier (still daylight-saving) one is meant. Without it an ambiguous time is an
    error, as is a wall-clock time that does not exist (the skipped spring-forward hour).
    """
    series = pl.Series("local", local).cast(pl.Datetime("us"))
    if first_occurrence is None:
        ambiguous: str | pl.Series = "raise"
    else:
        flags = pl.Series("first", first_occurrence, dtype=pl.Boolean)
        ambiguous = flags.replace_strict({True: "earliest", False: "latest"}, return_dtype=pl.String)
    frame = pl.DataFrame({"local": series})
    expression = pl.col("local").dt.replace_time_zone(timezone, ambiguous=ambiguous, non_existent="raise")
    utc = frame.select(expression.dt.convert_time_zone("UTC")).to_series()
    return utc.to_arrow().cast(UTC_US)


def fixed_offset_to_utc(local: pa.Array | np.ndarray | pl.Series, offset_hours: float) -> pa.Array:
    """UTC instants of naive times on a clock that never changes (MISO's EST, AEMO's NEM time)."""
    series = pl.Series("local", local).cast(pl.Datetime("us"))
    shifted = series - dt.timedelta(hours=offset_hours)
    return shifted.to_arrow().cast(pa.timestamp("us")).cast(UTC_US)


def local_day_starts(day: dt.date, timezone: str, minutes: int) -> pa.Array:
    """The UTC starts of every `minutes`-long interval of one local day: 23 or 25 hours on DST days."""
    zone = ZoneInfo(timezone)
    start = dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
    count = int((end - start).total_seconds() // (minutes * 60))
    base = np.datetime64(start.replace(tzinfo=None), "us")
    return pa.array(base + np.arange(count) * np.timedelta64(minutes, "m")).cast(UTC_US)


def hours_in_local_day(day: dt.date, timezone: str) -> int:
    return len(local_day_starts(day, timezone, 60))
