"""Turning a source's local clock into UTC instants, vectorised, with DST handled explicitly.

Sources label time in many ways: hour-ending 1..24 (25 on a fall-back day, or "02X" for the repeated
hour), interval ends, fixed standard time all year, a DST flag column. These functions take naive local
wall-clock times plus what the source says about ambiguity, and return UTC `timestamp[us, tz=UTC]`
(`wall_clock_to_utc`: a polars UTC datetime column, and the row of a time that cannot be placed, so that
the connector's ParseError can name its line). `incomplete_day` checks hourly series against the length
of their local day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pyarrow as pa

from marketintel.connectors.checks import first_row

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
    if series.len() == 0:  # polars panics resolving per-row ambiguity on an empty column
        return pa.array([], UTC_US)
    if first_occurrence is None:
        ambiguous: str | pl.Series = "raise"
    else:
        flags = pl.Series("first", first_occurrence, dtype=pl.Boolean)
        ambiguous = flags.replace_strict({True: "earliest", False: "latest"}, return_dtype=pl.String)
    frame = pl.DataFrame({"local": series})
    expression = pl.col("local").dt.replace_time_zone(timezone, ambiguous=ambiguous, non_existent="raise")
    utc = frame.select(expression.dt.convert_time_zone("UTC")).to_series()
    return utc.to_arrow().cast(UTC_US)


class WallClockError(ValueError):
    """A wall-clock time that cannot be placed: `row` is its index in the input, for the caller's line."""

    def __init__(self, message: str, row: int) -> None:
        super().__init__(message)
        self.row = row


def wall_clock_to_utc(
    local: pl.Series, repeat: pl.Series, timezone: str, *, check_repeat: bool = True
) -> pl.Series:
    """UTC instants (`Datetime("us", "UTC")`) of naive wall-clock times; `repeat` marks the rows meant as the
    second (standard-time) pass of a fall-back hour, every other row of that hour is the first pass.

    WallClockError, with the first offending row, for a time in the spring-forward gap and, with
    `check_repeat`, for a row marked as repeated whose hour does not repeat. A source that only infers the
    mark (NYISO: the second time a name has a stamp) passes check_repeat=False and reports duplicates itself.
    """
    if local.len() == 0:
        return pl.Series("utc", [], dtype=pl.Datetime("us", "UTC"))
    repeat = repeat.fill_null(False)
    passes = repeat.replace_strict({True: "latest", False: "earliest"}, return_dtype=pl.String)
    # one pass for all rows: a time in the gap comes back null instead of failing the whole column
    utc = (
        pl.DataFrame({"local": local.cast(pl.Datetime("us"))})
        .select(
            pl.col("local")
            .dt.replace_time_zone(timezone, ambiguous=passes, non_existent="null")
            .dt.convert_time_zone("UTC")
        )
        .to_series()
        .alias("utc")
    )
    skipped = first_row(utc.is_null() & local.is_not_null())
    if skipped is not None:
        raise WallClockError(f"{local[skipped]} does not exist in {timezone} (clocks skip it)", skipped)
    if check_repeat and repeat.any():
        # a repeated time is one whose two passes differ; only the marked rows need the first pass too
        marked = repeat.arg_true()
        first_pass = local.gather(marked).dt.replace_time_zone(timezone, ambiguous="earliest")
        same = first_row(first_pass.dt.convert_time_zone("UTC") == utc.gather(marked))
        if same is not None:
            row = int(marked[same])
            raise WallClockError(
                f"marked as the repeated hour, but {local[row]} is not repeated in {timezone}", row
            )
    return utc


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


def incomplete_day(
    frame: pl.DataFrame, series: str, day: str, order: str, timezone: str, by: Sequence[str] = ()
) -> tuple[dict[str, Any], str] | None:
    """The hourly `series` (e.g. a location; within each `by` group) that does not have exactly the hours of
    its local operating `day` in `timezone` (23 or 25 on DST days), and a message saying so. Of several, the
    one whose last row (largest `order`, e.g. the line) comes first; it is returned as a named row with its
    `hours`, the `expected` count and that largest `order`. None if every series is whole.

    A file cut at a line end is still well-formed CSV: this is what catches it."""
    counts = frame.group_by(*by, series, day).agg(pl.len().alias("hours"), pl.col(order).max())
    days = counts.get_column(day).unique()
    expected = pl.DataFrame(
        {day: days, "expected": pl.Series([hours_in_local_day(d, timezone) for d in days], dtype=pl.UInt32)}
    )
    short = counts.join(expected, on=day).filter(pl.col("hours") != pl.col("expected"))
    if not short.height:
        return None
    row = short.sort(order).row(0, named=True)
    message = (
        f"incomplete: {row[series]} has {row['hours']} hours on {row[day]:%m/%d/%Y}, "
        f"which has {row['expected']}"
    )
    return row, message
