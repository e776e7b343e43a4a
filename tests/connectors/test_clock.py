"""The SDK's clock: local wall-clock times to UTC with DST explicit, and the row of a time that cannot be placed."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from marketintel.connectors.clock import (
    UTC_US,
    WallClockError,
    incomplete_day,
    local_to_utc,
    wall_clock_to_utc,
)

EASTERN = "America/New_York"
UTC = dt.UTC
FALL_BACK = dt.date(2024, 11, 3)  # 01:00-02:00 happens twice in New York: EDT (UTC-4), then EST (UTC-5)
SPRING_FORWARD = dt.date(2024, 3, 10)  # 02:00-03:00 does not happen in New York


def local(day: dt.date, *times: str) -> pl.Series:
    return pl.Series("local", [dt.datetime.combine(day, dt.time.fromisoformat(t)) for t in times])


def flags(*values: bool | None) -> pl.Series:
    return pl.Series("repeat", values, dtype=pl.Boolean)


# --- local_to_utc -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "first_occurrence", [None, np.array([], dtype=bool), []], ids=["no flags", "numpy flags", "list flags"]
)
def test_local_to_utc_of_nothing_is_an_empty_utc_array(first_occurrence: object) -> None:
    # with per-row flags this used to be a polars PanicException (an index out of bounds on an empty column)
    result = local_to_utc(pl.Series([], dtype=pl.Datetime("us")), EASTERN, first_occurrence=first_occurrence)  # type: ignore[arg-type]
    assert result.type == UTC_US
    assert len(result) == 0


def test_local_to_utc_places_each_pass_of_the_repeated_hour() -> None:
    result = local_to_utc(local(FALL_BACK, "01:30", "01:30"), EASTERN, first_occurrence=[True, False])
    assert result.to_pylist() == [
        dt.datetime(2024, 11, 3, 5, 30, tzinfo=UTC),
        dt.datetime(2024, 11, 3, 6, 30, tzinfo=UTC),
    ]


def test_local_to_utc_still_refuses_an_ambiguous_time_without_flags() -> None:
    with pytest.raises(pl.exceptions.ComputeError):
        local_to_utc(local(FALL_BACK, "01:30"), EASTERN)


# --- wall_clock_to_utc --------------------------------------------------------------------------------


def test_wall_clock_of_nothing_is_an_empty_utc_column() -> None:
    result = wall_clock_to_utc(pl.Series([], dtype=pl.Datetime("us")), flags(), EASTERN)
    assert result.dtype == pl.Datetime("us", "UTC")
    assert result.len() == 0


def test_the_repeat_flag_picks_the_standard_time_pass() -> None:
    result = wall_clock_to_utc(
        local(FALL_BACK, "00:30", "01:30", "01:30", "02:30"), flags(False, False, True, False), EASTERN
    )
    assert result.dtype == pl.Datetime("us", "UTC")
    assert result.to_list() == [
        dt.datetime(2024, 11, 3, 4, 30, tzinfo=UTC),  # EDT
        dt.datetime(2024, 11, 3, 5, 30, tzinfo=UTC),  # 01:30 EDT, the first pass
        dt.datetime(2024, 11, 3, 6, 30, tzinfo=UTC),  # 01:30 EST, the repeat
        dt.datetime(2024, 11, 3, 7, 30, tzinfo=UTC),  # EST
    ]


def test_a_null_repeat_flag_means_the_first_pass() -> None:
    result = wall_clock_to_utc(local(FALL_BACK, "01:30"), flags(None), EASTERN)
    assert result.to_list() == [dt.datetime(2024, 11, 3, 5, 30, tzinfo=UTC)]


def test_a_time_in_the_spring_forward_gap_names_its_first_row() -> None:
    times = local(SPRING_FORWARD, "00:00", "01:00", "03:00", "02:30", "02:15", "02:30")
    with pytest.raises(
        WallClockError, match=r"2024-03-10 02:30:00 does not exist in America/New_York"
    ) as caught:
        wall_clock_to_utc(times, flags(*[False] * 6), EASTERN)
    assert caught.value.row == 3


def test_a_repeat_flag_on_an_hour_that_does_not_repeat_names_its_row() -> None:
    times = local(FALL_BACK, "01:15", "01:15", "03:00", "04:00")
    with pytest.raises(
        WallClockError, match="marked as the repeated hour, but 2024-11-03 04:00:00"
    ) as caught:
        wall_clock_to_utc(times, flags(False, True, False, True), EASTERN)
    assert caught.value.row == 3


def test_without_the_repeat_check_a_flagged_single_hour_keeps_its_only_instant() -> None:
    # NYISO infers the flag from a stamp's second appearance and reports such a duplicate itself
    result = wall_clock_to_utc(
        local(FALL_BACK, "04:00", "04:00"), flags(False, True), EASTERN, check_repeat=False
    )
    assert result.to_list() == [dt.datetime(2024, 11, 3, 9, 0, tzinfo=UTC)] * 2


def test_the_gap_is_reported_even_without_the_repeat_check() -> None:
    with pytest.raises(WallClockError) as caught:
        wall_clock_to_utc(local(SPRING_FORWARD, "02:00"), flags(False), EASTERN, check_repeat=False)
    assert caught.value.row == 0


# --- incomplete_day -----------------------------------------------------------------------------------


def hourly(location: str, day: dt.date, hours: int, first_line: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "location": [location] * hours,
            "day": [day] * hours,
            "line": list(range(first_line, first_line + hours)),
        }
    )


def test_whole_dst_days_are_complete() -> None:
    frame = pl.concat([hourly("A", FALL_BACK, 25, 2), hourly("A", SPRING_FORWARD, 23, 27)])
    assert incomplete_day(frame, "location", "day", "line", EASTERN) is None


def test_the_short_series_that_ends_first_is_named() -> None:
    # both B and C are short; C's last line (4) comes before B's (28), whatever the order of the rows
    frame = pl.concat(
        [hourly("C", FALL_BACK, 3, 2), hourly("B", FALL_BACK, 24, 5), hourly("A", FALL_BACK, 25, 29)]
    ).sort("line", descending=True)
    found = incomplete_day(frame, "location", "day", "line", EASTERN)
    assert found is not None
    row, message = found
    assert message == "incomplete: C has 3 hours on 11/03/2024, which has 25"
    assert (row["location"], row["hours"], row["expected"], row["line"]) == ("C", 3, 25, 4)


def test_series_are_counted_within_their_group() -> None:
    # the same location in two files: each file must hold the whole day on its own
    frame = pl.concat([hourly("A", SPRING_FORWARD, 23, 2), hourly("A", SPRING_FORWARD, 10, 2)])
    frame = frame.with_columns(file=pl.Series(["one"] * 23 + ["two"] * 10))
    found = incomplete_day(frame, "location", "day", "line", EASTERN, by=["file"])
    assert found is not None
    assert (found[0]["file"], found[0]["hours"], found[0]["expected"]) == ("two", 10, 23)
    assert incomplete_day(frame.filter(pl.col("file") == "one"), "location", "day", "line", EASTERN) is None
