"""The forward delivery calendar: hand-counted hours, DST days, NERC holidays, and two code paths that agree."""

from __future__ import annotations

import datetime as dt
from itertools import pairwise
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from marketintel.catalog.markets import MARKETS
from marketintel.curves.calendar import (
    BLOCKS,
    DAY_TYPES,
    SATURDAY,
    SUNDAY_OR_HOLIDAY,
    WEEKDAY,
    HourCalendar,
    block_hours,
    classify_hours,
    forward_clock,
    hour_calendar,
    month_starts,
    nerc_holidays,
    peak_definition,
    period_hours,
)

UTC = dt.UTC


def one_day(market: str, day: dt.date) -> HourCalendar:
    return hour_calendar(market, day, day + dt.timedelta(days=1))


# --- definitions ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("market", "name", "weekdays", "first_hour", "hours", "nerc"),
    [
        ("MISO", "5x16", {0, 1, 2, 3, 4}, 6, 16, True),
        ("PJM", "5x16", {0, 1, 2, 3, 4}, 6, 16, True),
        ("NYISO", "5x16", {0, 1, 2, 3, 4}, 6, 16, True),
        ("ISONE", "5x16", {0, 1, 2, 3, 4}, 6, 16, True),
        ("ERCOT", "5x16", {0, 1, 2, 3, 4}, 6, 16, True),
        ("SPP", "5x16", {0, 1, 2, 3, 4}, 6, 16, True),
        ("CAISO", "6x16", {0, 1, 2, 3, 4, 5}, 6, 16, True),
        ("ENTSOE", "EU peak 08-20", {0, 1, 2, 3, 4}, 8, 12, False),
        ("NORDPOOL", "EU peak 08-20", {0, 1, 2, 3, 4}, 8, 12, False),
        ("AEMO", "AU peak 07-22", {0, 1, 2, 3, 4}, 7, 15, False),
        ("JEPX", "JP peak 08-20", {0, 1, 2, 3, 4}, 8, 12, False),
    ],
)
def test_peak_definition_per_market(
    market: str, name: str, weekdays: set[int], first_hour: int, hours: int, nerc: bool
) -> None:
    peak = peak_definition(market)
    assert peak.name == name
    assert peak.weekdays == weekdays
    assert peak.hours_beginning == range(first_hour, first_hour + hours)
    assert peak.nerc_holidays_off_peak is nerc


def test_every_catalog_market_has_a_peak_definition_and_a_forward_clock() -> None:
    for code, market in MARKETS.items():
        peak_definition(code)
        expected = "America/New_York" if code == "MISO" else market.timezone
        assert forward_clock(code) == expected


def test_unknown_market_is_a_value_error_listing_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown market 'XYZ'; known markets: AEMO, CAISO"):
        peak_definition("XYZ")
    with pytest.raises(ValueError, match="known markets"):
        hour_calendar("XYZ", dt.date(2026, 1, 1), dt.date(2026, 1, 2))
    with pytest.raises(ValueError, match="known markets"):
        block_hours("XYZ", [dt.date(2026, 1, 1), dt.date(2026, 2, 1)])


def test_blocks() -> None:
    assert BLOCKS == ("ATC", "PEAK", "OFFPEAK")
    assert DAY_TYPES[WEEKDAY] == "weekday"
    assert DAY_TYPES[SATURDAY] == "saturday"
    assert DAY_TYPES[SUNDAY_OR_HOLIDAY] == "sunday_or_holiday"


# --- NERC holidays -----------------------------------------------------------------------------------------


def test_nerc_holidays_2022_christmas_on_sunday_is_observed_monday() -> None:
    assert nerc_holidays(2022) == {
        dt.date(2022, 1, 1),  # a Saturday: not moved
        dt.date(2022, 5, 30),
        dt.date(2022, 7, 4),
        dt.date(2022, 9, 5),
        dt.date(2022, 11, 24),
        dt.date(2022, 12, 26),  # Christmas fell on Sunday
    }


def test_nerc_holidays_2026_saturday_independence_day_is_not_moved() -> None:
    assert nerc_holidays(2026) == {
        dt.date(2026, 1, 1),
        dt.date(2026, 5, 25),  # last Monday in May
        dt.date(2026, 7, 4),  # a Saturday, stays
        dt.date(2026, 9, 7),  # first Monday in September
        dt.date(2026, 11, 26),  # fourth Thursday in November
        dt.date(2026, 12, 25),
    }


def test_nerc_new_year_on_sunday_moves_to_january_second() -> None:
    assert dt.date(2023, 1, 2) in nerc_holidays(2023)
    assert dt.date(2023, 1, 1) not in nerc_holidays(2023)


def test_nerc_holidays_returns_a_fresh_set() -> None:
    nerc_holidays(2026).clear()
    assert len(nerc_holidays(2026)) == 6


# --- days and DST --------------------------------------------------------------------------------------------


def test_pjm_spring_forward_day_has_23_hours_and_no_2am() -> None:
    day = one_day("PJM", dt.date(2026, 3, 8))
    assert len(day) == 23
    assert day.hour_beginning.tolist() == [0, 1, *range(3, 24)]
    assert day.utc_start[0] == np.datetime64("2026-03-08T05:00:00")
    assert day.utc_start[2] == np.datetime64("2026-03-08T07:00:00")  # 03:00 EDT
    assert day.utc_offset[[0, 1, 2]].tolist() == [-5 * 3600, -5 * 3600, -4 * 3600]


def test_pjm_fall_back_day_has_25_hours_with_1am_twice() -> None:
    day = one_day("PJM", dt.date(2026, 11, 1))
    assert len(day) == 25
    assert day.hour_beginning.tolist() == [0, 1, 1, *range(2, 24)]
    assert day.utc_start[0] == np.datetime64("2026-11-01T04:00:00")
    assert day.utc_start[-1] == np.datetime64("2026-11-02T04:00:00")  # 23:00 EST


@pytest.mark.parametrize(
    ("day", "hours"), [(dt.date(2026, 3, 8), 23), (dt.date(2026, 11, 1), 25), (dt.date(2026, 7, 1), 24)]
)
def test_miso_forward_days_follow_prevailing_eastern_time(day: dt.date, hours: int) -> None:
    assert len(one_day("MISO", day)) == hours


def test_entsoe_dst_days_are_on_european_dates() -> None:
    assert len(one_day("ENTSOE", dt.date(2026, 3, 29))) == 23
    assert len(one_day("ENTSOE", dt.date(2026, 10, 25))) == 25
    assert one_day("ENTSOE", dt.date(2026, 10, 25)).hour_beginning.tolist() == [0, 1, 2, 2, *range(3, 24)]
    assert len(one_day("ENTSOE", dt.date(2026, 3, 8))) == 24  # a US DST day is nothing special in Europe


@pytest.mark.parametrize("market", ["AEMO", "JEPX"])
def test_markets_without_dst_have_24_hour_days(market: str) -> None:
    year = hour_calendar(market, dt.date(2026, 1, 1), dt.date(2027, 1, 1))
    assert (year.hours_per_day() == 24).all()
    assert len(year) == 8760
    assert (year.hour_beginning == np.tile(np.arange(24), 365)).all()


@pytest.mark.parametrize("market", sorted(MARKETS))
@pytest.mark.parametrize("year", [2024, 2026])
def test_every_hour_of_a_year_appears_once(market: str, year: int) -> None:
    calendar = hour_calendar(market, dt.date(year, 1, 1), dt.date(year + 1, 1, 1))
    zone = ZoneInfo(forward_clock(market))
    first = dt.datetime(year, 1, 1, tzinfo=zone).astimezone(UTC).replace(tzinfo=None)
    end = dt.datetime(year + 1, 1, 1, tzinfo=zone).astimezone(UTC).replace(tzinfo=None)
    assert calendar.utc_start[0] == np.datetime64(first, "s")
    assert (np.diff(calendar.utc_start) == np.timedelta64(3600, "s")).all()
    assert calendar.utc_start[-1] + np.timedelta64(3600, "s") == np.datetime64(end, "s")
    assert len(calendar) == calendar.hours_per_day().sum() == (end - first) / dt.timedelta(hours=1)


# --- peak hours ----------------------------------------------------------------------------------------------


def test_5x16_weekday_is_he7_to_he22() -> None:
    day = one_day("PJM", dt.date(2026, 7, 8))  # a Wednesday
    assert day.is_peak.sum() == 16
    assert (~day.is_peak).sum() == 8
    assert day.hour_beginning[day.is_peak].tolist() == list(range(6, 22))
    assert (day.day_type == WEEKDAY).all()
    assert (day.weekday == 2).all()


def test_5x16_weekend_is_all_off_peak() -> None:
    weekend = hour_calendar("PJM", dt.date(2026, 7, 11), dt.date(2026, 7, 13))
    assert not weekend.is_peak.any()
    assert weekend.day_type[:24].tolist() == [SATURDAY] * 24
    assert weekend.day_type[24:].tolist() == [SUNDAY_OR_HOLIDAY] * 24


def test_pjm_july_2026() -> None:
    # 23 weekdays, July 4 is a Saturday and stays there: every weekday is a peak day.
    assert period_hours("PJM", dt.date(2026, 7, 1), dt.date(2026, 8, 1)) == (744, 16 * 23, 744 - 16 * 23)


def test_pjm_november_2026_has_the_extra_hour_and_thanksgiving_off_peak() -> None:
    # 21 weekdays less Thanksgiving; the DST hour falls on Sunday Nov 1 (off-peak).
    assert period_hours("PJM", dt.date(2026, 11, 1), dt.date(2026, 12, 1)) == (721, 16 * 20, 721 - 16 * 20)
    thanksgiving = one_day("PJM", dt.date(2026, 11, 26))
    assert not thanksgiving.is_peak.any()
    assert (thanksgiving.day_type == SUNDAY_OR_HOLIDAY).all()
    assert (thanksgiving.weekday == 3).all()


def test_caiso_6x16_saturday_is_peak_but_a_saturday_holiday_is_not() -> None:
    saturday = one_day("CAISO", dt.date(2026, 7, 11))
    assert saturday.is_peak.sum() == 16
    assert saturday.hour_beginning[saturday.is_peak].tolist() == list(range(6, 22))
    assert not one_day("CAISO", dt.date(2026, 7, 4)).is_peak.any()  # Independence Day on a Saturday
    assert not one_day("CAISO", dt.date(2026, 7, 12)).is_peak.any()  # Sunday


def test_entsoe_peak_is_08_to_20_weekdays_holidays_included() -> None:
    day = one_day("ENTSOE", dt.date(2026, 12, 25))  # Christmas, a Friday: still peak in the EU convention
    assert day.hour_beginning[day.is_peak].tolist() == list(range(8, 20))
    assert (day.day_type == WEEKDAY).all()
    assert not one_day("ENTSOE", dt.date(2026, 12, 26)).is_peak.any()
    assert period_hours("ENTSOE", dt.date(2026, 3, 23), dt.date(2026, 3, 30)) == (
        167,
        60,
        107,
    )  # week with DST Sunday


def test_aemo_and_jepx_peak_hours() -> None:
    aemo = one_day("AEMO", dt.date(2026, 7, 8))
    assert aemo.hour_beginning[aemo.is_peak].tolist() == list(range(7, 22))
    jepx = one_day("JEPX", dt.date(2026, 7, 8))
    assert jepx.hour_beginning[jepx.is_peak].tolist() == list(range(8, 20))


def test_in_block_masks() -> None:
    day = one_day("PJM", dt.date(2026, 7, 8))
    assert day.in_block("ATC").sum() == 24
    assert (day.in_block("PEAK") == day.is_peak).all()
    assert (day.in_block("OFFPEAK") == ~day.is_peak).all()
    with pytest.raises(ValueError, match="unknown block"):
        day.in_block("SUPERPEAK")


def test_calendar_arrays_and_dtypes() -> None:
    calendar = hour_calendar("PJM", dt.date(2026, 1, 1), dt.date(2026, 2, 1))
    assert calendar.utc_start.dtype == np.dtype("datetime64[s]")
    assert calendar.utc_offset.dtype == np.int32
    assert calendar.day_index.dtype == np.int32
    assert calendar.hour_beginning.dtype == np.int8
    assert calendar.weekday.dtype == np.int8
    assert calendar.day_type.dtype == np.int8
    assert calendar.is_peak.dtype == np.bool_
    assert calendar.local_date[0] == np.datetime64("2026-01-01")
    assert calendar.local_date[-1] == np.datetime64("2026-01-31")
    assert not calendar.is_peak.flags.writeable


def test_hour_calendar_periods() -> None:
    assert len(hour_calendar("PJM", dt.date(2026, 1, 1), dt.date(2026, 1, 1))) == 0
    with pytest.raises(ValueError, match="before start"):
        hour_calendar("PJM", dt.date(2026, 1, 2), dt.date(2026, 1, 1))


# --- against a per-hour reference ----------------------------------------------------------------------------


def reference_hours(market: str, start: dt.date, end: dt.date) -> list[tuple[dt.datetime, dt.datetime, bool]]:
    """(UTC start, local start, is peak) of every hour, one zoneinfo conversion per hour."""
    zone = ZoneInfo(forward_clock(market))
    peak = peak_definition(market)
    hour = dt.datetime(start.year, start.month, start.day, tzinfo=zone).astimezone(UTC)
    hours = []
    while (local := hour.astimezone(zone)).date() < end:
        holiday = peak.nerc_holidays_off_peak and local.date() in nerc_holidays(local.year)
        is_peak = local.weekday() in peak.weekdays and local.hour in peak.hours_beginning and not holiday
        hours.append((hour, local, is_peak))
        hour += dt.timedelta(hours=1)
    return hours


@pytest.mark.parametrize("market", sorted(MARKETS))
def test_hour_calendar_matches_a_per_hour_zoneinfo_reference(market: str) -> None:
    start, end = dt.date(2025, 12, 20), dt.date(2027, 1, 10)
    expected = reference_hours(market, start, end)
    calendar = hour_calendar(market, start, end)
    assert calendar.utc_start.tolist() == [utc.replace(tzinfo=None) for utc, _, _ in expected]
    assert calendar.hour_beginning.tolist() == [local.hour for _, local, _ in expected]
    assert calendar.local_date.tolist() == [local.date() for _, local, _ in expected]
    assert calendar.weekday.tolist() == [local.weekday() for _, local, _ in expected]
    assert calendar.utc_offset.tolist() == [local.utcoffset().total_seconds() for _, local, _ in expected]
    assert calendar.is_peak.tolist() == [is_peak for _, _, is_peak in expected]


# --- block_hours ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("market", sorted(MARKETS))
def test_block_hours_by_month_agree_with_the_hour_calendar_2026_to_2050(market: str) -> None:
    start, end = dt.date(2026, 1, 1), dt.date(2051, 1, 1)
    boundaries = [*month_starts(start, end), end]
    counts = block_hours(market, boundaries)
    assert counts.shape == (300, 2)
    assert counts.dtype == np.int64

    calendar = hour_calendar(market, start, end)
    month_of_hour = calendar.local_date.astype("datetime64[M]") - np.datetime64("2026-01", "M")
    month = month_of_hour.astype(np.int64)
    total = np.bincount(month, minlength=300)
    peak = np.bincount(month[calendar.is_peak], minlength=300)
    assert (counts[:, 0] == peak).all()
    assert (counts.sum(axis=1) == total).all()


@pytest.mark.parametrize("market", ["PJM", "CAISO", "ENTSOE"])
def test_block_hours_by_day_agree_with_the_hour_calendar(market: str) -> None:
    start, end = dt.date(2026, 1, 1), dt.date(2029, 1, 1)
    days = np.arange(np.datetime64(start), np.datetime64(end) + 1, dtype="datetime64[D]")
    counts = block_hours(market, days)
    calendar = hour_calendar(market, start, end)
    assert (counts.sum(axis=1) == calendar.hours_per_day()).all()
    assert (counts[:, 0] == np.bincount(calendar.day_index[calendar.is_peak], minlength=len(counts))).all()


def test_block_hours_takes_dates_or_datetime64_and_odd_periods() -> None:
    boundaries = [
        dt.date(2026, 2, 15),
        dt.date(2026, 3, 8),
        dt.date(2026, 3, 9),
        dt.date(2026, 3, 9),
        dt.date(2027, 1, 1),
        dt.date(2027, 1, 2),
    ]
    counts = block_hours("PJM", boundaries)
    assert (counts == block_hours("PJM", np.array(boundaries, dtype="datetime64[D]"))).all()
    assert counts[1].tolist() == [0, 23]  # Sunday March 8, the 23-hour day
    assert counts[2].tolist() == [0, 0]  # an empty period
    assert counts[4].tolist() == [0, 24]  # New Year's Day
    for row, (start, end) in zip(counts, pairwise(boundaries), strict=True):
        atc, peak, offpeak = period_hours("PJM", start, end)
        assert (peak, offpeak) == tuple(row)
        assert atc == len(hour_calendar("PJM", start, end))


def test_block_hours_edge_cases() -> None:
    assert block_hours("PJM", []).shape == (0, 2)
    assert block_hours("PJM", [dt.date(2026, 1, 1)]).shape == (0, 2)
    with pytest.raises(ValueError, match="must not decrease"):
        block_hours("PJM", [dt.date(2026, 2, 1), dt.date(2026, 1, 1)])


def test_period_hours_for_a_calendar_year() -> None:
    # 2026: 261 weekdays, 5 NERC holidays on weekdays (July 4 is a Saturday).
    assert period_hours("PJM", dt.date(2026, 1, 1), dt.date(2027, 1, 1)) == (8760, 16 * 256, 8760 - 16 * 256)


# --- month_starts ------------------------------------------------------------------------------------------------


def test_month_starts() -> None:
    assert month_starts(dt.date(2026, 1, 1), dt.date(2026, 4, 1)) == [
        dt.date(2026, 1, 1),
        dt.date(2026, 2, 1),
        dt.date(2026, 3, 1),
    ]
    assert month_starts(dt.date(2026, 1, 15), dt.date(2026, 3, 2)) == [
        dt.date(2026, 2, 1),
        dt.date(2026, 3, 1),
    ]
    assert month_starts(dt.date(2026, 11, 2), dt.date(2027, 2, 1)) == [
        dt.date(2026, 12, 1),
        dt.date(2027, 1, 1),
    ]
    assert month_starts(dt.date(2026, 1, 1), dt.date(2026, 1, 1)) == []
    assert len(month_starts(dt.date(2026, 1, 1), dt.date(2051, 1, 1))) == 300


def test_classify_hours_gives_local_month_and_block_of_utc_instants() -> None:
    # PJM, 2026-07-01 00:00 EDT = 04:00 UTC; 06:00 EDT (HE7, a Wednesday) = 10:00 UTC is the first peak hour
    instants = np.array(
        ["2026-07-01T03:00", "2026-07-01T04:00", "2026-07-01T09:00", "2026-07-01T10:00"],
        dtype="datetime64[s]",
    )
    months, peak = classify_hours("PJM", instants)
    assert months.tolist() == [6, 7, 7, 7]
    assert peak.tolist() == [False, False, False, True]
