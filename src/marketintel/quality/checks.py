"""The checks themselves: pure, vectorised functions over a batch of PRICES facts.

Every check takes the facts (Arrow or polars) or, to share the work, a `Prepared` batch, and returns one
`CheckResult` per run in the batch (a file rarely mixes runs, but nothing forbids it). Details carry the
first few offending rows as JSON-ready values, so a recorded check says *where*.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from marketintel.connectors.clock import local_day_starts
from marketintel.quality.models import (
    COMPLETENESS,
    DUPLICATES,
    FRESHNESS,
    GAPS,
    OUT_OF_RANGE,
    SPIKES,
    STALE,
    CheckResult,
    Expect,
)

SHOWN = 10  # offending rows kept in a result's details
MAD_SCALE = 1.4826  # MAD x 1.4826 estimates the standard deviation of normal data
UTC_US = pl.Datetime("us", "UTC")

Facts = pa.Table | pl.DataFrame


# --- a batch, encoded once ------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """A batch's facts encoded for the checks: each location as an integer code, since hashing a
    million location strings would otherwise be most of the cost of every check."""

    data: pl.DataFrame  # market, run (categorical), loc (UInt32), interval_start, interval_minutes, lmp
    names: pl.Series  # the location of each code

    @property
    def runs(self) -> list[str]:
        return sorted(self.data.get_column("run").unique().cast(pl.String).to_list())

    def only(self, run: str) -> Prepared:
        return Prepared(self.data.filter(pl.col("run") == run), self.names)

    def named(self, rows: pl.DataFrame) -> pl.DataFrame:
        """`rows` with their `loc` codes turned back into location names."""
        location = self.names.gather(rows.get_column("loc")).alias("location")
        return rows.with_columns(location).select("location", pl.exclude("loc", "location"))


def prepare(facts: Facts | Prepared) -> Prepared:
    if isinstance(facts, Prepared):
        return facts
    table = facts.to_arrow(compat_level=pl.CompatLevel.oldest()) if isinstance(facts, pl.DataFrame) else facts
    codes = {c: pc.dictionary_encode(table.column(c)).combine_chunks() for c in ("market", "run", "location")}
    location = codes["location"]
    data = pl.DataFrame(
        {
            "market": pl.from_arrow(codes["market"]),
            "run": pl.from_arrow(codes["run"]),
            "loc": pl.from_arrow(location.indices).cast(pl.UInt32),
            "interval_start": pl.from_arrow(table.column("interval_start")).cast(UTC_US),
            "interval_minutes": pl.from_arrow(table.column("interval_minutes")).cast(pl.Int32),
            "lmp": pl.from_arrow(table.column("lmp")).cast(pl.Float64),
        }
    )
    names = pl.from_arrow(location.dictionary)
    assert isinstance(names, pl.Series)
    return Prepared(data, names.cast(pl.String).alias("location"))


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _rows(rows: pl.DataFrame) -> list[dict[str, object]]:
    """The first rows of a frame as JSON-ready dicts (timestamps as ISO-8601 UTC)."""
    return [
        {k: _iso(v) if isinstance(v, dt.datetime) else v for k, v in row.items()}
        for row in rows.head(SHOWN).iter_rows(named=True)
    ]


# --- gaps and completeness ------------------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    """How much of what a run's files should hold the batch holds: intervals per location on the grid."""

    run: str
    expect: Expect
    expected: int
    present: int
    missing: pl.DataFrame  # location, interval_start of each missing interval

    @property
    def completeness(self) -> float:
        return self.present / self.expected if self.expected else 1.0


def _grid(starts: pl.Series, timezone: str, minutes: int, expect: Expect) -> pl.Series:
    """The interval starts the files should hold, in UTC."""
    if expect == "span":
        lo, hi = starts.min(), starts.max()
        assert isinstance(lo, dt.datetime)
        assert isinstance(hi, dt.datetime)
        span = pl.datetime_range(lo, hi, dt.timedelta(minutes=minutes), time_unit="us", eager=True)
        return span.cast(UTC_US).alias("interval_start")
    # local_day_starts builds DST days right: 23 or 25 hours of intervals
    days = sorted(starts.unique().dt.convert_time_zone(timezone).dt.date().unique().to_list())
    parts = [local_day_starts(day, timezone, minutes) for day in days]
    return pl.Series("interval_start", pa.concat_arrays(parts)).cast(UTC_US)


def _missing(have: np.ndarray, short: np.ndarray, grid: pl.Series) -> pl.DataFrame:
    """The (loc, interval_start) pairs of the `short` locations absent from `have` (keys loc * G + slot)."""
    size = len(grid)
    wanted = (short[:, None].astype(np.int64) * size + np.arange(size)).ravel()
    mine = have[np.isin(have // size, short)]
    absent = np.setdiff1d(wanted, mine, assume_unique=True)
    return pl.DataFrame(
        {"loc": pl.Series(absent // size, dtype=pl.UInt32), "interval_start": grid.gather(absent % size)}
    )


def coverage(facts: Facts | Prepared, timezone: str, expect: Expect = "day") -> list[Coverage]:
    """Per run: the intervals each location should have (the grid of every market-local day the batch
    touches, or of its span) against those it has. Repeats count once; intervals off the grid not at all."""
    if expect == "none":
        return []
    batch = prepare(facts)
    found = []
    for run in batch.runs:
        rows = batch.only(run).data
        expected = present = 0
        missing = []
        for minutes in sorted(rows.get_column("interval_minutes").unique().to_list()):
            part = rows.filter(pl.col("interval_minutes") == minutes).select("loc", "interval_start")
            grid = _grid(part.get_column("interval_start"), timezone, int(minutes), expect)
            size = len(grid)
            slots = part.join(grid.to_frame().with_row_index("slot"), on="interval_start", how="inner")
            keys = (pl.col("loc").cast(pl.Int64) * size + pl.col("slot").cast(pl.Int64)).alias("key")
            have = slots.select(keys).get_column("key").unique().to_numpy()
            locations = part.get_column("loc").unique().to_numpy()
            per_location = np.bincount(have // size, minlength=len(batch.names))[locations]
            expected += len(locations) * size
            present += len(have)
            short = locations[per_location < size]
            if len(short):  # only short locations get a list of what they miss
                missing.append(_missing(have, short, grid))
        lost = (
            batch.named(pl.concat(missing)).sort("location", "interval_start")
            if missing
            else pl.DataFrame(schema={"location": pl.String, "interval_start": UTC_US})
        )
        found.append(Coverage(run, expect, expected, present, lost))
    return found


def gaps(
    facts: Facts | Prepared, timezone: str, expect: Expect = "day", covered: list[Coverage] | None = None
) -> list[CheckResult]:
    """Missing intervals per (location, run): value = how many; details name the first ones."""
    results = []
    for cov in coverage(facts, timezone, expect) if covered is None else covered:
        per_location = cov.missing.group_by("location").agg(missing=pl.len())
        per_location = per_location.sort("missing", "location", descending=[True, False])
        details = {
            "expect": cov.expect,
            "expected": cov.expected,
            "present": cov.present,
            "locations_with_gaps": per_location.height,
            "locations": _rows(per_location),
            "missing": _rows(cov.missing),
        }
        n = cov.missing.height
        results.append(CheckResult(GAPS, cov.run, float(n), 0.0, n == 0, details=details))
    return results


def completeness(
    facts: Facts | Prepared,
    timezone: str,
    minimum: float,
    expect: Expect = "day",
    covered: list[Coverage] | None = None,
) -> list[CheckResult]:
    """Present / expected intervals (a ratio, 0..1), held to `minimum`."""
    results = []
    for cov in coverage(facts, timezone, expect) if covered is None else covered:
        value = cov.completeness
        details = {"expect": cov.expect, "expected": cov.expected, "present": cov.present}
        results.append(CheckResult(COMPLETENESS, cov.run, value, minimum, value >= minimum, details=details))
    return results


# --- duplicates and range ---------------------------------------------------------------------------


def duplicates(facts: Facts | Prepared) -> list[CheckResult]:
    """The same (location, run, interval_start) more than once in the batch: value = how many keys."""
    batch = prepare(facts)
    results = []
    for run in batch.runs:
        rows = batch.only(run).data
        # one integer per (location, second): counting distinct integers is the cheap first look
        key = pl.col("loc").cast(pl.Int64) * (1 << 32) + pl.col("interval_start").dt.epoch("s")
        repeated = pl.DataFrame(schema={"loc": pl.UInt32, "interval_start": UTC_US, "rows": pl.UInt32})
        if rows.select(key.n_unique()).item() < rows.height:
            repeated = (
                rows.filter(key.is_duplicated())
                .group_by("loc", "interval_start")
                .agg(rows=pl.len())
                .sort("loc", "interval_start")
            )
        details = {
            "extra_rows": int(repeated.get_column("rows").sum() - repeated.height),
            "keys": _rows(batch.named(repeated)),
        }
        n = repeated.height
        results.append(CheckResult(DUPLICATES, run, float(n), 0.0, n == 0, details=details))
    return results


def out_of_range(facts: Facts | Prepared, bounds: Mapping[str, tuple[float, float]]) -> list[CheckResult]:
    """LMPs outside their market's plausibility envelope; negative prices inside it are legal."""
    batch = prepare(facts)
    markets = sorted(batch.data.get_column("market").unique().cast(pl.String).to_list())
    unbounded = [m for m in markets if m not in bounds]
    outside = pl.lit(False)
    for m in markets:
        if m in bounds:
            lo, hi = bounds[m]
            outside = outside | ((pl.col("market") == m) & ((pl.col("lmp") < lo) | (pl.col("lmp") > hi)))
    results = []
    for run in batch.runs:
        rows = batch.only(run).data.filter(outside).sort("loc", "interval_start")
        shown = batch.named(
            rows.head(SHOWN).select("loc", pl.col("market").cast(pl.String), "interval_start", "lmp")
        )
        details: dict[str, object] = {
            "bounds": {m: list(bounds[m]) for m in markets if m in bounds},
            "rows": _rows(shown),
        }
        if unbounded:
            details["unbounded_markets"] = unbounded  # said, not silently passed
        n = rows.height
        results.append(CheckResult(OUT_OF_RANGE, run, float(n), 0.0, n == 0, details=details))
    return results


# --- spikes -----------------------------------------------------------------------------------------


def robust_stats(history: Facts) -> pl.DataFrame:
    """Per (run, location) of recent history: the median LMP, its median absolute deviation and the
    count. The monitor has the store compute the same in SQL (`service.history_stats`)."""
    data = pl.from_arrow(history) if isinstance(history, pa.Table) else history
    assert isinstance(data, pl.DataFrame)
    data = data.select("run", "location", "lmp")
    centre = data.group_by("run", "location").agg(median=pl.col("lmp").median(), n=pl.len())
    deviation = (
        data.join(centre, on=["run", "location"])
        .group_by("run", "location")
        .agg(mad=(pl.col("lmp") - pl.col("median")).abs().median())
    )
    return centre.join(deviation, on=["run", "location"]).select("run", "location", "median", "mad", "n")


def spikes(
    facts: Facts | Prepared, stats: pl.DataFrame, threshold: float, min_history: int
) -> list[CheckResult]:
    """LMPs whose robust z-score |x - median| / (1.4826 MAD) against the same location's recent history
    (`stats`: run, location, median, mad, n) exceeds `threshold`. A location with fewer than `min_history`
    past values, or a MAD of 0 (a flat history, on which any move is infinitely many sigmas), is not
    judged; the details count those. Either sign counts: a price far below its history is as suspect."""
    batch = prepare(facts)
    codes = batch.names.to_frame().with_row_index("loc").with_columns(pl.col("loc").cast(pl.UInt32))
    usable = (pl.col("n").fill_null(0) >= min_history) & (pl.col("mad").fill_null(0) > 0)
    z = (pl.col("lmp") - pl.col("median")).abs() / (MAD_SCALE * pl.col("mad"))
    results = []
    for run in batch.runs:
        mine = (
            stats.filter(pl.col("run") == run).join(codes, on="location").select("loc", "median", "mad", "n")
        )
        judged = batch.only(run).data.join(mine, on="loc", how="left")
        judged = judged.with_columns(usable.alias("usable"), pl.when(usable).then(z).alias("z"))
        hits = judged.filter(pl.col("z") > threshold).sort("z", descending=True)
        shown = hits.head(SHOWN).select("loc", "interval_start", "lmp", "median", pl.col("z").round(1))
        details = {
            "z_threshold": threshold,
            "unjudged_locations": judged.filter(~pl.col("usable")).get_column("loc").n_unique(),
            "spikes": _rows(batch.named(shown)),
        }
        n = hits.height
        results.append(CheckResult(SPIKES, run, float(n), 0.0, n == 0, details=details))
    return results


# --- a source's freshness and staleness ------------------------------------------------------------


def freshness(run: str, newest_end: dt.datetime | None, now: dt.datetime, limit: float | None) -> CheckResult:
    """Seconds from the end of the newest stored interval to now (negative while it is in the future, as
    day-ahead prices are), held to `limit`; a source with no data at all fails any limit."""
    if newest_end is None:
        return CheckResult(FRESHNESS, run, float("inf"), limit, limit is None, details={"newest_end": None})
    age = (now - newest_end).total_seconds()
    passed = limit is None or age <= limit
    return CheckResult(FRESHNESS, run, age, limit, passed, details={"newest_end": _iso(newest_end)})


def stale(run: str, last_new: dt.datetime | None, now: dt.datetime, limit: float) -> CheckResult:
    """Seconds since a new interval was last learned (the newest interval's first knowledge time)."""
    if last_new is None:
        return CheckResult(STALE, run, float("inf"), limit, False, details={"last_new_interval_at": None})
    waited = (now - last_new).total_seconds()
    details = {"last_new_interval_at": _iso(last_new)}
    return CheckResult(STALE, run, waited, limit, waited <= limit, details=details)
