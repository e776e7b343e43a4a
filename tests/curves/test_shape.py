"""Hourly shape factors from history, and the hourly curve that keeps every period's PEAK, OFFPEAK and ATC
averages: known shapes recovered, fallbacks for missing history, near-zero months, DST and partial months."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from marketintel.curves.calendar import (
    SATURDAY,
    SUNDAY_OR_HOLIDAY,
    WEEKDAY,
    HourCalendar,
    block_hours,
    hour_calendar,
    month_starts,
)
from marketintel.curves.shape import (
    OFFPEAK,
    PEAK,
    ShapeFactors,
    hourly_curve,
    hourly_shape,
    shape_factors,
)

# A daily shape by day type and local hour: a morning and an evening ramp, flatter at weekends.
HOUR_SHAPE = 1.0 + 0.3 * np.sin((np.arange(24) - 6) / 24 * 2 * np.pi) + 0.1 * (np.arange(24) >= 17)
DAY_SHAPE = np.stack([HOUR_SHAPE, 0.8 * HOUR_SHAPE, 0.7 * HOUR_SHAPE])  # (3 day types, 24)


def month_of(calendar: HourCalendar) -> np.ndarray:
    return calendar.local_date.astype("datetime64[M]").astype(np.int64) % 12


def year_of(calendar: HourCalendar) -> np.ndarray:
    return calendar.local_date.astype("datetime64[Y]").astype(np.int64) + 1970


def shaped_history(calendar: HourCalendar, level: np.ndarray | float = 40.0) -> np.ndarray:
    return level * DAY_SHAPE[calendar.day_type, calendar.hour_beginning]


def block_means(calendar: HourCalendar, values: np.ndarray, boundaries: list[dt.date]) -> np.ndarray:
    """(periods, 2) mean of the hourly values over each period's PEAK and OFFPEAK hours (NaN if none)."""
    days = np.array([(d - boundaries[0]).days for d in boundaries])
    period = np.searchsorted(days[1:], calendar.day_index, side="right")
    group = period * 2 + np.where(calendar.is_peak, PEAK, OFFPEAK)
    size = 2 * (len(boundaries) - 1)
    with np.errstate(invalid="ignore"):
        return (np.bincount(group, values, size) / np.bincount(group, minlength=size)).reshape(-1, 2)


def boundaries_of(start: dt.date, end: dt.date) -> list[dt.date]:
    return [*month_starts(start, end), end]


# --- factors ----------------------------------------------------------------------------------------------


def test_one_year_of_history_gives_the_shape_over_its_block_mean() -> None:
    calendar = hour_calendar("PJM", dt.date(2025, 1, 1), dt.date(2026, 1, 1))
    prices = shaped_history(calendar)
    factors = shape_factors("PJM", calendar.utc_start, prices)

    month, block = month_of(calendar), np.where(calendar.is_peak, PEAK, OFFPEAK)
    for m in (0, 2, 6, 10):  # winter, the DST month, summer, the other DST month
        for b in (PEAK, OFFPEAK):
            hours = (month == m) & (block == b)
            mean = prices[hours].mean()
            for day_type, hour in set(
                zip(calendar.day_type[hours], calendar.hour_beginning[hours], strict=True)
            ):
                expected = 40.0 * DAY_SHAPE[day_type, hour] / mean
                assert factors.factors[m, day_type, hour] == pytest.approx(expected, rel=1e-12)
    assert not factors.additive.any()
    assert factors.observations.sum() == len(calendar)
    assert factors.observations[0, WEEKDAY, 0] == 22  # the 23 weekdays of January 2025 less New Year


def test_factors_average_one_within_each_historical_month_and_block() -> None:
    calendar = hour_calendar("CAISO", dt.date(2024, 1, 1), dt.date(2026, 1, 1))
    rng = np.random.default_rng(7)
    prices = shaped_history(calendar) * rng.uniform(0.8, 1.2, len(calendar))
    factors = shape_factors("CAISO", calendar.utc_start, prices)

    one_year = hour_calendar("CAISO", dt.date(2025, 1, 1), dt.date(2026, 1, 1))
    cell_factor = factors.factors[month_of(one_year), one_year.day_type, one_year.hour_beginning]
    means = block_means(one_year, cell_factor, boundaries_of(one_year.start, one_year.end))
    np.testing.assert_allclose(means, 1.0, atol=0.02)


def test_a_dear_year_and_a_cheap_year_weigh_alike() -> None:
    calendar = hour_calendar("PJM", dt.date(2023, 1, 1), dt.date(2025, 1, 1))
    steady = shape_factors("PJM", calendar.utc_start, shaped_history(calendar))
    level = np.where(year_of(calendar) == 2023, 150.0, 25.0)
    swinging = shape_factors("PJM", calendar.utc_start, shaped_history(calendar, level))
    np.testing.assert_allclose(swinging.factors, steady.factors, rtol=1e-12)


def test_sub_hourly_history_is_averaged_to_hours_first() -> None:
    calendar = hour_calendar("ERCOT", dt.date(2025, 3, 1), dt.date(2025, 5, 1))
    hourly = shaped_history(calendar)
    five_minutes = np.arange(12) * np.timedelta64(300, "s")
    instants = (calendar.utc_start[:, None] + five_minutes[None, :]).ravel()
    wiggle = np.tile(np.linspace(-3.0, 3.0, 12), len(calendar))  # averages to zero in each hour
    sub_hourly = shape_factors("ERCOT", instants, np.repeat(hourly, 12) + wiggle)
    from_hours = shape_factors("ERCOT", calendar.utc_start, hourly)
    np.testing.assert_allclose(sub_hourly.factors, from_hours.factors, rtol=1e-12)
    np.testing.assert_array_equal(sub_hourly.observations, from_hours.observations)


def test_non_finite_prices_are_ignored() -> None:
    calendar = hour_calendar("PJM", dt.date(2025, 1, 1), dt.date(2025, 3, 1))
    prices = shaped_history(calendar)
    gappy = prices.copy()
    gappy[::7] = np.nan
    gappy[3::11] = np.inf
    factors = shape_factors("PJM", calendar.utc_start, gappy)
    assert factors.observations.sum() == np.isfinite(gappy).sum()
    assert np.isfinite(factors.factors).all()


def test_flat_history_gives_a_flat_shape() -> None:
    calendar = hour_calendar("ENTSOE", dt.date(2024, 1, 1), dt.date(2025, 1, 1))
    factors = shape_factors("ENTSOE", calendar.utc_start, np.full(len(calendar), 61.5))
    np.testing.assert_allclose(factors.factors, 1.0, rtol=1e-12)
    np.testing.assert_allclose(factors.offsets, 0.0, atol=1e-12)
    assert not factors.additive.any()


def test_no_history_gives_the_flat_shape() -> None:
    factors = shape_factors("PJM", np.zeros(0, dtype="datetime64[s]"), np.zeros(0))
    flat = ShapeFactors.flat()
    np.testing.assert_array_equal(factors.factors, flat.factors)
    np.testing.assert_array_equal(factors.observations, 0)


def test_mismatched_history_is_refused() -> None:
    with pytest.raises(ValueError, match="equal-length"):
        shape_factors("PJM", np.zeros(3, dtype="datetime64[s]"), np.zeros(2))


# --- fallbacks --------------------------------------------------------------------------------------------


def test_months_without_history_take_the_nearest_months() -> None:
    calendar = hour_calendar("PJM", dt.date(2025, 1, 1), dt.date(2026, 1, 1))
    month = month_of(calendar)
    # A different shape each month, so the fallback's source shows.
    prices = shaped_history(calendar) * (1.0 + 0.05 * month * (calendar.hour_beginning >= 12))
    kept = np.isin(month, [0, 1, 2, 6])  # January to March, and July
    factors = shape_factors("PJM", calendar.utc_start[kept], prices[kept])
    f = factors.factors

    assert (factors.observations[[3, 4, 5, 7, 8, 9, 10, 11]] == 0).all()
    assert factors.observations[[0, 1, 2, 6]].min() > 0
    np.testing.assert_array_equal(f[3], f[2])  # April: March is one month away, May has nothing
    np.testing.assert_allclose(f[4], (f[2] + f[6]) / 2)  # May: March and July, two months away
    np.testing.assert_array_equal(f[5], f[6])  # June: July is next door
    np.testing.assert_array_equal(f[7], f[6])  # August
    np.testing.assert_array_equal(f[11], f[0])  # December wraps to January
    np.testing.assert_array_equal(f[10], f[0])  # November: January two months on, September has nothing


def test_a_day_type_missing_in_one_month_comes_from_its_neighbours() -> None:
    calendar = hour_calendar("PJM", dt.date(2025, 1, 1), dt.date(2026, 1, 1))
    month = month_of(calendar)
    prices = shaped_history(calendar) * (1.0 + 0.02 * month)
    kept = ~((month == 4) & (calendar.day_type == SATURDAY))  # no Saturdays in May
    factors = shape_factors("PJM", calendar.utc_start[kept], prices[kept])
    assert (factors.observations[4, SATURDAY] == 0).all()
    assert (factors.observations[4, WEEKDAY] > 0).all()
    expected = (factors.factors[3, SATURDAY] + factors.factors[5, SATURDAY]) / 2
    np.testing.assert_allclose(factors.factors[4, SATURDAY], expected)


def test_a_cell_never_seen_is_flat() -> None:
    calendar = hour_calendar("PJM", dt.date(2025, 1, 1), dt.date(2026, 1, 1))
    kept = calendar.day_type != SUNDAY_OR_HOLIDAY
    factors = shape_factors("PJM", calendar.utc_start[kept], shaped_history(calendar)[kept])
    np.testing.assert_array_equal(factors.factors[:, SUNDAY_OR_HOLIDAY], 1.0)
    np.testing.assert_array_equal(factors.offsets[:, SUNDAY_OR_HOLIDAY], 0.0)


# --- near-zero and negative months --------------------------------------------------------------------------


def test_a_near_zero_month_is_shaped_additively() -> None:
    calendar = hour_calendar("CAISO", dt.date(2025, 1, 1), dt.date(2026, 1, 1))
    month = month_of(calendar)
    prices = shaped_history(calendar)
    april = month == 3
    # April's solar glut: prices swing around zero, so ratios to the month's mean mean nothing.
    swing = 30.0 * (-1.0) ** calendar.hour_beginning  # averages to ~0 over any block of a day
    prices[april] = 0.5 + swing[april]
    factors = shape_factors("CAISO", calendar.utc_start, prices)

    assert factors.additive[3].all()
    assert not factors.additive[[0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11]].any()
    for b in (PEAK, OFFPEAK):
        hours = april & (calendar.is_peak == (b == PEAK))
        level = prices[hours].mean()
        day_type, hour = calendar.day_type[hours][0], calendar.hour_beginning[hours][0]
        assert factors.offsets[3, day_type, hour] == pytest.approx(0.5 + swing[hours][0] - level)


def test_a_negative_month_is_additive_and_its_neighbours_without_history_follow() -> None:
    calendar = hour_calendar("PJM", dt.date(2025, 1, 1), dt.date(2026, 1, 1))
    month = month_of(calendar)
    prices = np.where(month == 5, -20.0 + shaped_history(calendar, 5.0), shaped_history(calendar))
    kept = month != 6  # no July: it borrows June's (additive) and August's (multiplicative) choice
    factors = shape_factors("PJM", calendar.utc_start[kept], prices[kept])
    assert factors.additive[5].all()
    assert factors.additive[6].all()  # a tie goes additive
    assert not factors.additive[7].any()


# --- the hourly curve -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pjm_factors() -> ShapeFactors:
    calendar = hour_calendar("PJM", dt.date(2024, 1, 1), dt.date(2026, 1, 1))
    rng = np.random.default_rng(3)
    return shape_factors(
        "PJM", calendar.utc_start, shaped_history(calendar) * rng.uniform(0.9, 1.1, len(calendar))
    )


def test_hourly_curve_keeps_peak_offpeak_and_atc_in_dst_months(pjm_factors: ShapeFactors) -> None:
    boundaries = [dt.date(2027, 3, 1), dt.date(2027, 4, 1), dt.date(2027, 11, 1), dt.date(2027, 12, 1)]
    peak, offpeak = np.array([62.0, 48.0, 55.0]), np.array([41.0, 35.5, 44.0])
    calendar, values = hourly_curve("PJM", boundaries, peak, offpeak, pjm_factors)

    march = calendar.local_date < np.datetime64("2027-04-01")
    november = calendar.local_date >= np.datetime64("2027-11-01")
    assert march.sum() == 743
    assert november.sum() == 721
    means = block_means(calendar, values, boundaries)
    np.testing.assert_allclose(means, np.stack([peak, offpeak], axis=1), rtol=0, atol=1e-9)
    hours = block_hours("PJM", boundaries)
    for month, chosen in enumerate((march, november)):
        period = (0, 2)[month]
        atc = (peak[period] * hours[period, 0] + offpeak[period] * hours[period, 1]) / hours[period].sum()
        assert values[chosen].mean() == pytest.approx(atc, abs=1e-9)
    assert values.std() > 1.0  # shaped, not flat


def test_hourly_curve_follows_the_factors(pjm_factors: ShapeFactors) -> None:
    boundaries = [dt.date(2027, 7, 1), dt.date(2027, 8, 1)]
    calendar, values = hourly_curve("PJM", boundaries, np.array([80.0]), np.array([40.0]), pjm_factors)
    factor = pjm_factors.factors[6, calendar.day_type, calendar.hour_beginning]
    for b, price in ((PEAK, 80.0), (OFFPEAK, 40.0)):
        hours = calendar.is_peak == (b == PEAK)
        np.testing.assert_allclose(values[hours], price * factor[hours] / factor[hours].mean(), rtol=1e-12)


def test_hourly_curve_to_2050_keeps_every_month(pjm_factors: ShapeFactors) -> None:
    boundaries = boundaries_of(dt.date(2026, 12, 1), dt.date(2051, 1, 1))
    rng = np.random.default_rng(11)
    periods = len(boundaries) - 1
    peak, offpeak = rng.uniform(-10.0, 120.0, periods), rng.uniform(-20.0, 80.0, periods)
    calendar, values = hourly_curve("PJM", boundaries, peak, offpeak, pjm_factors)
    assert len(calendar) == len(values) == block_hours("PJM", boundaries).sum()
    means = block_means(calendar, values, boundaries)
    np.testing.assert_allclose(means, np.stack([peak, offpeak], axis=1), rtol=0, atol=1e-9)


def test_partial_months_and_a_block_without_hours(pjm_factors: ShapeFactors) -> None:
    # A weekend balance-of-month (no PEAK hours, so its PEAK price may be NaN), a day, the rest of March.
    boundaries = [dt.date(2027, 3, 13), dt.date(2027, 3, 15), dt.date(2027, 3, 16), dt.date(2027, 4, 1)]
    peak, offpeak = np.array([np.nan, 70.0, 58.0]), np.array([33.0, 39.0, 36.0])
    shape = hourly_shape("PJM", boundaries, pjm_factors)
    np.testing.assert_array_equal(shape.block_hours, block_hours("PJM", boundaries))
    assert shape.block_hours[0, PEAK] == 0
    assert shape.block_hours[0, OFFPEAK] == 47  # Sunday 14 March 2027 springs forward
    values = shape.apply(peak, offpeak)
    assert np.isfinite(values).all()
    means = block_means(shape.calendar, values, boundaries)
    np.testing.assert_allclose(means[1:], np.stack([peak, offpeak], axis=1)[1:], rtol=0, atol=1e-9)
    assert means[0, OFFPEAK] == pytest.approx(33.0, abs=1e-9)


def test_a_missing_price_where_its_block_has_hours_is_refused(pjm_factors: ShapeFactors) -> None:
    boundaries = [dt.date(2027, 3, 1), dt.date(2027, 4, 1), dt.date(2027, 5, 1)]
    with pytest.raises(ValueError, match="period 1 has PEAK hours"):
        hourly_curve("PJM", boundaries, np.array([50.0, np.nan]), np.array([30.0, 30.0]), pjm_factors)


def test_negative_prices_keep_the_shape_the_right_way_up(pjm_factors: ShapeFactors) -> None:
    boundaries = [dt.date(2027, 5, 1), dt.date(2027, 6, 1)]
    calendar, values = hourly_curve("PJM", boundaries, np.array([-15.0]), np.array([-25.0]), pjm_factors)
    factor = pjm_factors.factors[4, calendar.day_type, calendar.hour_beginning]
    peak = calendar.is_peak
    assert np.corrcoef(values[peak], factor[peak])[0, 1] > 0.999
    assert values[peak].mean() == pytest.approx(-15.0, abs=1e-9)
    assert values[~peak].mean() == pytest.approx(-25.0, abs=1e-9)


def test_flat_factors_give_flat_blocks() -> None:
    boundaries = boundaries_of(dt.date(2027, 1, 1), dt.date(2028, 1, 1))
    peak, offpeak = np.linspace(50, 70, 12), np.linspace(30, 40, 12)
    shape = hourly_shape("NYISO", boundaries, ShapeFactors.flat())
    values = shape.apply(peak, offpeak)
    expected = np.stack([peak, offpeak], axis=1).ravel()[shape.group]
    np.testing.assert_allclose(values, expected, rtol=1e-15)


def test_additive_months_keep_their_averages_too() -> None:
    calendar = hour_calendar("CAISO", dt.date(2025, 1, 1), dt.date(2026, 1, 1))
    swing = 30.0 * (-1.0) ** calendar.hour_beginning
    factors = shape_factors("CAISO", calendar.utc_start, 1.0 + swing)  # every month near zero
    assert factors.additive.all()
    boundaries = [dt.date(2027, 4, 1), dt.date(2027, 4, 20), dt.date(2027, 5, 1)]
    peak, offpeak = np.array([12.0, -3.0]), np.array([25.0, 20.0])
    curve_calendar, values = hourly_curve("CAISO", boundaries, peak, offpeak, factors)
    means = block_means(curve_calendar, values, boundaries)
    np.testing.assert_allclose(means, np.stack([peak, offpeak], axis=1), rtol=0, atol=1e-9)
    # Additive: the same dollar swing whatever the price level.
    first = curve_calendar.local_date < np.datetime64("2027-04-20")
    offpeak_first = first & ~curve_calendar.is_peak
    assert np.ptp(values[offpeak_first]) == pytest.approx(np.ptp(swing[~calendar.is_peak]), rel=0.05)


def test_many_curves_over_one_shape(pjm_factors: ShapeFactors) -> None:
    boundaries = boundaries_of(dt.date(2027, 1, 1), dt.date(2029, 1, 1))
    shape = hourly_shape("PJM", boundaries, pjm_factors)
    rng = np.random.default_rng(5)
    peak, offpeak = rng.uniform(40, 90, (50, 24)), rng.uniform(20, 50, (50, 24))
    values = shape.apply(peak, offpeak)
    assert values.shape == (50, len(shape.calendar))
    np.testing.assert_array_equal(values[17], shape.apply(peak[17], offpeak[17]))
    np.testing.assert_array_equal(
        shape.period,
        np.searchsorted(
            np.array(boundaries[1:], dtype="datetime64[D]"), shape.calendar.local_date, side="right"
        ),
    )


def test_boundaries_are_checked(pjm_factors: ShapeFactors) -> None:
    with pytest.raises(ValueError, match="at least two"):
        hourly_shape("PJM", [dt.date(2027, 1, 1)], pjm_factors)
    with pytest.raises(ValueError, match="must not decrease"):
        hourly_shape("PJM", [dt.date(2027, 2, 1), dt.date(2027, 1, 1)], pjm_factors)
    shape = hourly_shape("PJM", [dt.date(2027, 1, 1), dt.date(2027, 2, 1)], pjm_factors)
    with pytest.raises(ValueError, match="must both end in the 1 periods"):
        shape.apply(np.array([1.0, 2.0]), np.array([1.0, 2.0]))


def test_a_period_whose_factors_average_near_zero_is_shaped_without_dividing_by_them() -> None:
    factors = ShapeFactors.flat()
    sunday = 0.05 + 0.1 * (np.arange(24) % 2)  # averages 0.1: dividing by it would multiply swings by 10
    factors.factors[4, SUNDAY_OR_HOLIDAY] = sunday
    boundaries = [dt.date(2027, 5, 2), dt.date(2027, 5, 3)]  # a Sunday
    calendar, values = hourly_curve("PJM", boundaries, np.array([np.nan]), np.array([40.0]), factors)
    assert len(calendar) == 24
    assert values.mean() == pytest.approx(40.0, abs=1e-9)
    np.testing.assert_allclose(values, 40.0 + 40.0 * (sunday - sunday.mean()), rtol=1e-12)
