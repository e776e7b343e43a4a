"""The quality checks as pure functions over canonical price batches: gaps on normal and DST days,
duplicates, the price envelope, robust spikes, freshness and staleness, and their speed at CAISO scale."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from marketintel.catalog.markets import market as market_named
from marketintel.connectors.clock import local_day_starts
from marketintel.quality import checks
from marketintel.quality.models import PRICE_BOUNDS, Gates
from marketintel.store.models import PRICES

UTC = dt.UTC
LEARNED = dt.datetime(2024, 11, 5, tzinfo=UTC)
PACIFIC = "America/Los_Angeles"
T = TypeVar("T")


def day_prices(
    market: str,
    run: str,
    day: dt.date,
    minutes: int,
    locations: Sequence[str],
    *,
    lmp: float | Sequence[float] = 30.0,
    learned: dt.datetime = LEARNED,
    source: str = "test",
) -> pa.Table:
    """Every interval of one market-local day at each location (location-major order); `lmp` is one
    price for all rows or one per row."""
    starts = local_day_starts(day, market_named(market).timezone, minutes).to_numpy(zero_copy_only=False)
    n = len(starts) * len(locations)
    prices = np.full(n, lmp, dtype=float) if isinstance(lmp, float | int) else np.asarray(lmp, dtype=float)
    return pa.table(
        {
            "market": pa.array([market] * n),
            "location": pa.array(np.repeat(np.asarray(locations, dtype=object), len(starts)), pa.string()),
            "run": pa.array([run] * n),
            "interval_start": pa.array(np.tile(starts, len(locations))).cast(
                PRICES.schema.field("interval_start").type
            ),
            "interval_minutes": pa.array(np.full(n, minutes, dtype=np.int16)),
            "lmp": prices,
            "energy": prices,
            "congestion": np.zeros(n),
            "loss": np.zeros(n),
            "knowledge_time": pa.array([learned] * n, PRICES.schema.field("knowledge_time").type),
            "source": pa.array([source] * n),
            "source_file_sha256": pa.array(["0" * 64] * n),
        },
        schema=PRICES.schema,
    )


def without(table: pa.Table, location: str, starts: Sequence[dt.datetime]) -> pa.Table:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    gone = (pl.col("location") == location) & pl.col("interval_start").is_in(list(starts))
    return frame.filter(~gone).to_arrow().cast(PRICES.schema)


def one(results: list[T]) -> T:
    assert len(results) == 1
    return results[0]


# --- gaps and completeness --------------------------------------------------------------------------


def test_a_complete_normal_day_has_no_gaps() -> None:
    batch = day_prices("MISO", "DA", dt.date(2024, 11, 5), 60, ["A", "B", "C"])
    gaps = one(checks.gaps(batch, "Etc/GMT+5"))
    assert (gaps.value, gaps.passed, gaps.details["expected"]) == (0.0, True, 72)
    assert one(checks.completeness(batch, "Etc/GMT+5", 0.995)).value == 1.0


def test_gaps_on_a_normal_day_name_the_missing_intervals() -> None:
    day = dt.date(2024, 11, 5)
    full = day_prices("MISO", "DA", day, 60, ["A", "B", "C"])
    # MISO runs on EST all year: HE 1 of Nov 5 starts 05:00Z
    lost = [dt.datetime(2024, 11, 5, 5, tzinfo=UTC), dt.datetime(2024, 11, 5, 17, tzinfo=UTC)]
    gaps = one(checks.gaps(without(full, "B", lost), "Etc/GMT+5"))
    assert (gaps.run, gaps.value, gaps.passed) == ("DA", 2.0, False)
    assert gaps.details["missing"] == [
        {"location": "B", "interval_start": "2024-11-05T05:00:00Z"},
        {"location": "B", "interval_start": "2024-11-05T17:00:00Z"},
    ]
    assert gaps.details["locations"] == [{"location": "B", "missing": 2}]
    completeness = one(checks.completeness(without(full, "B", lost), "Etc/GMT+5", 0.995))
    assert completeness.value == pytest.approx(1 - 2 / 72)
    assert not completeness.passed


def test_the_fall_back_day_expects_300_five_minute_intervals() -> None:
    day = dt.date(2024, 11, 3)  # 25 hours in California
    locations = ["TH_NP15_GEN-APND", "TH_SP15_GEN-APND", "TH_ZP26_GEN-APND"]
    full = day_prices("CAISO", "RT5", day, 5, locations)
    assert full.num_rows == 300 * len(locations)
    # the second 01:00-01:15 (PST, 09:00Z), after the first (PDT, 08:00Z)
    lost = [dt.datetime(2024, 11, 3, 9, m, tzinfo=UTC) for m in (0, 5, 10)]
    batch = without(full, "TH_SP15_GEN-APND", lost)
    gaps = one(checks.gaps(batch, PACIFIC))
    assert gaps.value == 3
    assert gaps.details["expected"] == 300 * len(locations)
    assert [m["interval_start"] for m in gaps.details["missing"]] == [
        "2024-11-03T09:00:00Z",
        "2024-11-03T09:05:00Z",
        "2024-11-03T09:10:00Z",
    ]
    assert {m["location"] for m in gaps.details["missing"]} == {"TH_SP15_GEN-APND"}
    completeness = one(checks.completeness(batch, PACIFIC, 0.995))
    assert completeness.value == pytest.approx(1 - 3 / (300 * len(locations)))
    assert completeness.passed  # 0.33 % missing: under the gate's 0.5 %


def test_the_spring_forward_day_expects_23_hours_and_a_utc_day_would_be_wrong() -> None:
    day = dt.date(2024, 3, 10)
    batch = day_prices("CAISO", "DA", day, 60, ["TH_NP15_GEN-APND"])
    assert batch.num_rows == 23
    gaps = one(checks.gaps(batch, PACIFIC))
    assert (gaps.value, gaps.details["expected"]) == (0.0, 23)
    rt = day_prices("CAISO", "RT5", day, 5, ["TH_NP15_GEN-APND"])
    assert one(checks.gaps(rt, PACIFIC)).details["expected"] == 276


def test_a_location_absent_from_part_of_a_multi_day_batch_has_gaps_there() -> None:
    first = day_prices("MISO", "DA", dt.date(2024, 11, 4), 60, ["A", "B"])
    second = day_prices("MISO", "DA", dt.date(2024, 11, 5), 60, ["A"])
    gaps = one(checks.gaps(pa.concat_tables([first, second]), "Etc/GMT+5"))
    assert (gaps.value, gaps.details["expected"]) == (24.0, 96)
    assert gaps.details["locations"] == [{"location": "B", "missing": 24}]


def test_a_partial_day_file_is_judged_on_its_span_not_its_day() -> None:
    hour = day_prices("CAISO", "RT5", dt.date(2024, 7, 1), 5, ["N1", "N2"]).slice(0, 12)  # N1's first hour
    hour = pa.concat_tables([hour, day_prices("CAISO", "RT5", dt.date(2024, 7, 1), 5, ["N2"]).slice(0, 11)])
    assert one(checks.gaps(hour, PACIFIC, "day")).value == 288 * 2 - 23
    spanned = one(checks.gaps(hour, PACIFIC, "span"))
    assert (spanned.value, spanned.details["expected"]) == (1.0, 24)
    assert spanned.details["missing"] == [{"location": "N2", "interval_start": "2024-07-01T07:55:00Z"}]
    assert checks.gaps(hour, PACIFIC, "none") == []


def test_repeats_count_once_and_off_grid_intervals_not_at_all() -> None:
    batch = day_prices("MISO", "DA", dt.date(2024, 11, 5), 60, ["A"])
    first = pl.from_arrow(batch.slice(0, 1))
    assert isinstance(first, pl.DataFrame)
    odd = (
        first.with_columns(pl.col("interval_start") + dt.timedelta(minutes=30)).to_arrow().cast(PRICES.schema)
    )
    batch = pa.concat_tables(
        [without(batch, "A", [dt.datetime(2024, 11, 5, 6, tzinfo=UTC)]), batch.slice(0, 1), odd]
    )
    cov = one(checks.coverage(batch, "Etc/GMT+5"))
    assert (cov.expected, cov.present) == (24, 23)


def test_prepared_and_polars_batches_give_the_same_results() -> None:
    batch = without(
        day_prices("MISO", "DA", dt.date(2024, 11, 5), 60, ["A", "B"]),
        "A",
        [dt.datetime(2024, 11, 5, 9, tzinfo=UTC)],
    )
    frame = pl.from_arrow(batch)
    assert isinstance(frame, pl.DataFrame)
    expected = checks.gaps(batch, "Etc/GMT+5")
    assert checks.gaps(frame, "Etc/GMT+5") == expected
    assert checks.gaps(checks.prepare(batch), "Etc/GMT+5") == expected


# --- duplicates and range ----------------------------------------------------------------------------


def test_duplicates_are_counted_by_key_with_the_extra_rows() -> None:
    batch = day_prices("MISO", "DA", dt.date(2024, 11, 5), 60, ["A", "B"])
    clean = one(checks.duplicates(batch))
    assert (clean.value, clean.passed) == (0.0, True)
    repeated = pa.concat_tables([batch, batch.slice(3, 1), batch.slice(3, 1), batch.slice(30, 1)])
    found = one(checks.duplicates(repeated))
    assert (found.value, found.passed, found.details["extra_rows"]) == (2.0, False, 3)
    assert found.details["keys"][0] == {"location": "A", "interval_start": "2024-11-05T08:00:00Z", "rows": 3}


def test_prices_outside_the_envelope_are_flagged_and_legal_negatives_are_not() -> None:
    lmp = [30.0] * 24
    lmp[1], lmp[2], lmp[3] = -140.0, 6_000.0, -2_500.0  # legal negative; above the cap; below the floor
    batch = day_prices("CAISO", "DA", dt.date(2024, 7, 1), 60, ["TH_NP15_GEN-APND"], lmp=lmp)
    result = one(checks.out_of_range(batch, PRICE_BOUNDS))
    assert (result.value, result.passed) == (2.0, False)
    assert [r["lmp"] for r in result.details["rows"]] == [6_000.0, -2_500.0]
    assert result.details["bounds"] == {"CAISO": [-2_000.0, 5_000.0]}
    assert one(checks.out_of_range(batch.slice(0, 2), PRICE_BOUNDS)).passed


def test_a_market_without_bounds_is_said_so() -> None:
    batch = day_prices("MISO", "DA", dt.date(2024, 7, 1), 60, ["A"], lmp=1e6)
    result = one(checks.out_of_range(batch, {"CAISO": (-150.0, 2_000.0)}))
    assert (result.value, result.details["unbounded_markets"]) == (0.0, ["MISO"])


# --- spikes ---------------------------------------------------------------------------------------


def history(days: int = 7, outlier: float | None = None) -> pa.Table:
    """A week of hourly prices around 30 at A (noisy), B (flat) and C (two days only)."""
    rng = np.random.default_rng(7)
    parts = []
    for i in range(days):
        day = dt.date(2024, 6, 24) + dt.timedelta(days=i)
        parts.append(day_prices("MISO", "DA", day, 60, ["A"], lmp=list(30 + rng.normal(0, 3, 24))))
        parts.append(day_prices("MISO", "DA", day, 60, ["B"], lmp=25.0))
    parts.append(
        day_prices("MISO", "DA", dt.date(2024, 6, 30), 60, ["C"], lmp=list(30 + rng.normal(0, 3, 24)))
    )
    table = pa.concat_tables(parts)
    if outlier is not None:
        lmp = table.column("lmp").to_numpy().copy()
        lmp[48 + 16] = outlier  # one of A's hours on the second day
        table = table.set_column(5, "lmp", pa.array(lmp))
    return table


def spike_batch() -> pa.Table:
    lmp = [31.0] * 24 * 3
    lmp[5] = 400.0  # A, HE 6: a spike
    lmp[6] = 36.0  # A, HE 7: a high but ordinary price
    lmp[24 + 5] = 26.0  # B moves off a flat history: not judged (MAD = 0)
    lmp[48 + 5] = 400.0  # C has one day of history: not judged
    return day_prices("MISO", "DA", dt.date(2024, 7, 1), 60, ["A", "B", "C"], lmp=lmp)


def test_robust_stats_are_median_and_mad_per_location() -> None:
    stats = checks.robust_stats(history()).sort("location")
    assert stats.get_column("location").to_list() == ["A", "B", "C"]
    assert stats.get_column("n").to_list() == [168, 168, 24]
    a = stats.row(0, named=True)
    assert a["median"] == pytest.approx(30, abs=1)
    assert a["mad"] == pytest.approx(3 / 1.4826, rel=0.25)  # the MAD of N(0, 3)
    assert stats.row(1, named=True)["mad"] == 0


def test_a_spike_is_flagged_against_history_and_a_normal_price_is_not() -> None:
    result = one(checks.spikes(spike_batch(), checks.robust_stats(history()), 8.0, 48))
    assert (result.value, result.passed) == (1.0, False)
    (spike,) = result.details["spikes"]
    assert (spike["location"], spike["interval_start"], spike["lmp"]) == ("A", "2024-07-01T10:00:00Z", 400.0)
    assert spike["z"] > 50
    assert result.details["unjudged_locations"] == 2  # B (flat history), C (too little)


def test_one_earlier_outlier_in_the_history_changes_nothing() -> None:
    calm = checks.robust_stats(history())
    shocked = checks.robust_stats(history(outlier=9_000.0))
    a = shocked.filter(pl.col("location") == "A").row(0, named=True)
    assert a["median"] == pytest.approx(calm.filter(pl.col("location") == "A")["median"][0], abs=0.2)
    result = one(checks.spikes(spike_batch(), shocked, 8.0, 48))
    assert [s["lmp"] for s in result.details["spikes"]] == [400.0]
    # the mean and standard deviation would have missed it: the outlier inflates the deviation
    a_history = pl.from_arrow(history(outlier=9_000.0)).filter(pl.col("location") == "A")["lmp"]  # type: ignore[index]
    assert abs(400 - a_history.mean()) / a_history.std() < 8  # type: ignore[operator]


# --- freshness, staleness and gates -------------------------------------------------------------------


NOW = dt.datetime(2024, 11, 5, 18, 0, tzinfo=UTC)


def test_freshness_holds_the_newest_interval_end_to_the_5_minute_gate() -> None:
    limit = Gates().freshness_limit("caiso-oasis", "RT5", NOW, PACIFIC)
    assert limit == 300
    fresh = checks.freshness("RT5", NOW - dt.timedelta(minutes=4), NOW, limit)
    assert (fresh.value, fresh.passed, fresh.details["newest_end"]) == (240.0, True, "2024-11-05T17:56:00Z")
    late = checks.freshness("RT5", NOW - dt.timedelta(minutes=6), NOW, limit)
    assert (late.value, late.passed) == (360.0, False)
    assert not checks.freshness("RT5", None, NOW, limit).passed


def test_cadence_gates_and_a_publication_lag() -> None:
    gates = Gates(publication_lag={"spp-lmp:RT5": dt.timedelta(days=6)})
    assert gates.freshness_limit("ercot-spp", "RT15", NOW, "America/Chicago") == 20 * 60
    assert gates.freshness_limit("miso-rt", "RT", NOW, "Etc/GMT+5") == 75 * 60
    assert gates.freshness_limit("spp-lmp", "RT5", NOW, "America/Chicago") == 6 * 86_400 + 300
    assert gates.freshness_limit("jepx-spot", "ID", NOW, "Asia/Tokyo") is None
    assert gates.stale_limit("caiso-oasis", "RT5", 5) == 15 * 60
    assert gates.stale_limit("miso-da", "DA", 60) == 3 * 86_400


def test_day_ahead_freshness_is_measured_against_the_expected_publication() -> None:
    gates = Gates()
    # 09:00 Pacific on Nov 5: only Nov 5 is due (it ends Nov 6 08:00Z); from 15:00, Nov 6 too
    morning = dt.datetime(2024, 11, 5, 17, 0, tzinfo=UTC)
    afternoon = dt.datetime(2024, 11, 5, 23, 30, tzinfo=UTC)
    assert gates.expected_da_end(morning, PACIFIC) == dt.datetime(2024, 11, 6, 8, tzinfo=UTC)
    assert gates.expected_da_end(afternoon, PACIFIC) == dt.datetime(2024, 11, 7, 8, tzinfo=UTC)
    have_nov_5 = dt.datetime(2024, 11, 6, 8, tzinfo=UTC)
    for now, passed in ((morning, True), (afternoon, False)):
        result = checks.freshness(
            "DA", have_nov_5, now, gates.freshness_limit("caiso-oasis", "DA", now, PACIFIC)
        )
        assert result.passed is passed
        assert result.value < 0  # the newest DA interval ends in the future


def test_a_feed_that_learned_nothing_new_for_three_cadences_is_stale() -> None:
    assert checks.stale("RT5", NOW - dt.timedelta(minutes=14), NOW, 900).passed
    stale = checks.stale("RT5", NOW - dt.timedelta(minutes=20), NOW, 900)
    assert (stale.value, stale.passed) == (1200.0, False)
    assert stale.details == {"last_new_interval_at": "2024-11-05T17:40:00Z"}


# --- speed ------------------------------------------------------------------------------------------


def test_a_caiso_real_time_day_of_4000_nodes_is_checked_well_under_a_second() -> None:
    nodes = [f"NODE_{i:05d}" for i in range(4000)]
    rng = np.random.default_rng(1)
    batch = day_prices("CAISO", "RT5", dt.date(2024, 7, 1), 5, nodes, lmp=list(rng.normal(40, 5, 288 * 4000)))
    batch = batch.slice(3)  # NODE_00000 misses its first three intervals
    stats = checks.robust_stats(batch)
    gates = Gates()
    started = time.perf_counter()
    prepared = checks.prepare(batch)
    covered = checks.coverage(prepared, PACIFIC)
    results = [
        *checks.gaps(prepared, PACIFIC, covered=covered),
        *checks.completeness(prepared, PACIFIC, gates.completeness_min, covered=covered),
        *checks.duplicates(prepared),
        *checks.out_of_range(prepared, gates.bounds),
        *checks.spikes(prepared, stats, gates.spike_z, gates.spike_min_history),
    ]
    elapsed = time.perf_counter() - started
    print(f"\n{batch.num_rows:,} rows checked in {elapsed:.3f} s")
    assert [(r.check, r.value) for r in results][:3] == [
        ("gaps", 3.0),
        ("completeness", 1 - 3 / 1_152_000),
        ("duplicates", 0.0),
    ]
    assert elapsed < 1.0
