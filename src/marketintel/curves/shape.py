"""The hourly shape of a forward curve: factors learnt from a location's price history, and the hourly curve
that spreads each period's PEAK and OFFPEAK price over its delivery hours without moving either average.

Factors. Every historical hour (sub-hourly prices are averaged to UTC hours first) is divided by the mean of
its own year-month and block (PEAK or OFFPEAK, as the delivery calendar classifies the hour), so a dear
year and a cheap one weigh alike; the factor of a cell (calendar month × day type × local hour-beginning)
is the mean of those ratios. Within each historical month and block the ratios average exactly 1.

Near-zero and negative months. A ratio to a mean near zero is noise, so a calendar month × block whose
history holds a year-month with mean ≤ 0 or below MIN_RELATIVE_LEVEL × its mean absolute price is shaped
additively instead, by offsets: the mean of (price − that year-month-block's mean), in price units.

Missing history. A cell without history takes the mean of the same day type and hour in the nearest
calendar months that have it (one month either side, then two, …, wrapping over the year); with none
anywhere, factor 1 and offset 0 (flat). A month × block without history takes its additive-or-not choice
from its nearest months the same way (a tie goes additive).

Hourly curve. For period p and block b with price P, hours h and their cells' factors f_h (mean f̄):

    v_h = P + |P| · (f_h / f̄ − 1)      multiplicative (= P · f_h / f̄ when P > 0)
    v_h = P + |P| · (f_h − f̄)          the same, if f̄ < MIN_MEAN_FACTOR (a few hours near zero)
    v_h = P + (o_h − ō)                additive months, offsets o_h

The deviations sum to zero over the period's block hours, so each period's PEAK and OFFPEAK averages, and
thus its ATC, are reproduced to rounding. |P| rather than P keeps peaky hours dearer when a forward price
is negative. The deviations do not depend on prices: `hourly_shape` computes them once per calendar and
`HourlyShape.apply` prices any number of curves (nodes) over it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from marketintel.curves.calendar import DAY_TYPES, HOUR, HourCalendar, hour_calendar

MONTHS, HOURS = 12, 24
CELL_SHAPE = (MONTHS, len(DAY_TYPES), HOURS)
PEAK, OFFPEAK = 0, 1  # block columns, as in smooth.py
MIN_RELATIVE_LEVEL = 0.25  # a month-block mean below this share of its mean |price| is "near zero"
MIN_MEAN_FACTOR = 0.25  # below this, dividing by a period's mean factor would blow the shape up


@dataclass(frozen=True, eq=False)
class ShapeFactors:
    """Hourly shape of one location, by calendar month (Jan = 0) × day type (DAY_TYPES) × local hour."""

    factors: np.ndarray  # (12, 3, 24) float64, multiplicative, ~1 on average within a month and block
    offsets: np.ndarray  # (12, 3, 24) float64 in price units, used instead where `additive`
    additive: np.ndarray  # (12, 2) bool, month × block (PEAK, OFFPEAK): shaped by offsets
    observations: np.ndarray  # (12, 3, 24) int64 historical hours behind each cell; 0 = filled in

    def __post_init__(self) -> None:
        for name, shape in (
            ("factors", CELL_SHAPE),
            ("offsets", CELL_SHAPE),
            ("additive", (MONTHS, 2)),
            ("observations", CELL_SHAPE),
        ):
            if np.shape(getattr(self, name)) != shape:
                raise ValueError(
                    f"ShapeFactors.{name} must have shape {shape}, not {np.shape(getattr(self, name))}"
                )

    @classmethod
    def flat(cls) -> ShapeFactors:
        """No shape: every hour of a block at the block's price."""
        return cls(
            factors=np.ones(CELL_SHAPE),
            offsets=np.zeros(CELL_SHAPE),
            additive=np.zeros((MONTHS, 2), dtype=bool),
            observations=np.zeros(CELL_SHAPE, dtype=np.int64),
        )


def _fill_from_neighbouring_months(values: np.ndarray) -> np.ndarray:
    """NaNs of a month-first array replaced by the mean of the nearest months (cyclic) that have a value."""
    filled = values.copy()
    for distance in range(1, MONTHS // 2 + 1):
        missing = np.isnan(filled)
        if not missing.any():
            break
        around = np.stack([np.roll(values, distance, axis=0), np.roll(values, -distance, axis=0)])
        seen = np.isfinite(around)
        count = seen.sum(axis=0)
        mean = np.where(seen, around, 0.0).sum(axis=0) / np.maximum(count, 1)
        take = missing & (count > 0)
        filled[take] = mean[take]
    return filled


def _hourly_means(utc_instants: np.ndarray, prices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(UTC epoch hours, mean price in each) of finite prices at any resolution."""
    instants = np.asarray(utc_instants).astype("datetime64[s]")
    prices = np.asarray(prices, dtype=float)
    if instants.shape != prices.shape or instants.ndim != 1:
        raise ValueError(
            f"instants {instants.shape} and prices {prices.shape} must be equal-length 1-D arrays"
        )
    keep = np.isfinite(prices) & ~np.isnat(instants)
    hour = instants[keep].astype(np.int64) // HOUR
    hours, at = np.unique(hour, return_inverse=True)
    return hours, np.bincount(at, prices[keep]) / np.bincount(at)


def shape_factors(market: str, utc_instants: np.ndarray, prices: np.ndarray) -> ShapeFactors:
    """Hourly shape factors of one location from its price history (`prices` at `utc_instants`,
    datetime64 in UTC, hourly or finer). Empty history gives the flat shape."""
    hours, hourly = _hourly_means(utc_instants, prices)
    if hours.size == 0:
        return ShapeFactors.flat()
    first = (dt.datetime(1970, 1, 1) + dt.timedelta(hours=int(hours[0]))).date() - dt.timedelta(days=1)
    last = (dt.datetime(1970, 1, 1) + dt.timedelta(hours=int(hours[-1]))).date() + dt.timedelta(days=2)
    calendar = hour_calendar(market, first, last)
    at = hours - calendar.utc_start[0].astype(np.int64) // HOUR  # the calendar runs hour by hour in UTC
    year_month = calendar.local_date[at].astype("datetime64[M]").astype(np.int64)
    month = year_month % MONTHS
    block = np.where(calendar.is_peak[at], PEAK, OFFPEAK)
    cell = np.ravel_multi_index((month, calendar.day_type[at], calendar.hour_beginning[at]), CELL_SHAPE)

    # Each year-month × block is its own level.
    group = (year_month - year_month.min()) * 2 + block
    count = np.bincount(group)
    level = np.bincount(group, hourly) / np.maximum(count, 1)
    size = np.bincount(group, np.abs(hourly)) / np.maximum(count, 1)
    level_ok = (level > 0) & (level >= MIN_RELATIVE_LEVEL * size)
    ok = level_ok[group]
    cells = MONTHS * len(DAY_TYPES) * HOURS
    observations = np.bincount(cell, minlength=cells)
    ratio_count = np.bincount(cell[ok], minlength=cells)
    with np.errstate(invalid="ignore", divide="ignore"):
        factors = np.bincount(cell[ok], hourly[ok] / level[group[ok]], minlength=cells) / ratio_count
        offsets = np.bincount(cell, hourly - level[group], minlength=cells) / observations

    # Additive where any historical year-month of the month × block had a near-zero level.
    groups = np.flatnonzero(count)
    month_block = ((groups // 2 + year_month.min()) % MONTHS) * 2 + groups % 2
    seen = np.bincount(month_block, minlength=MONTHS * 2) > 0
    near_zero = np.bincount(month_block, ~level_ok[groups], minlength=MONTHS * 2) > 0
    additive = _fill_from_neighbouring_months(np.where(seen, near_zero, np.nan).reshape(MONTHS, 2))

    return ShapeFactors(
        factors=np.nan_to_num(_fill_from_neighbouring_months(factors.reshape(CELL_SHAPE)), nan=1.0),
        offsets=np.nan_to_num(_fill_from_neighbouring_months(offsets.reshape(CELL_SHAPE)), nan=0.0),
        additive=np.nan_to_num(additive, nan=0.0) >= 0.5,
        observations=observations.reshape(CELL_SHAPE),
    )


@dataclass(frozen=True, eq=False)
class HourlyShape:
    """The price-free part of an hourly curve: each delivery hour's period and block, and its deviation
    from the block price (relative to |price|, or absolute), summing to zero over every period × block."""

    calendar: HourCalendar
    group: np.ndarray  # (hours,) intp: period · 2 + block (PEAK = 0, OFFPEAK = 1)
    relative: np.ndarray  # (hours,) float64 deviation per unit of |block price|
    absolute: np.ndarray  # (hours,) float64 deviation in price units
    block_hours: np.ndarray  # (periods, 2) int64 PEAK and OFFPEAK hours of each period

    @property
    def period(self) -> np.ndarray:
        """Each hour's period (index into the boundaries' periods)."""
        return self.group // 2

    def apply(self, peak: np.ndarray, offpeak: np.ndarray) -> np.ndarray:
        """Hourly values (..., hours) of curves with PEAK and OFFPEAK prices (..., periods); a price whose
        block has no hours in its period is ignored (NaN is fine there)."""
        peak, offpeak = np.asarray(peak, dtype=float), np.asarray(offpeak, dtype=float)
        periods = len(self.block_hours)
        if peak.shape != offpeak.shape or peak.shape[-1:] != (periods,):
            raise ValueError(
                f"peak {peak.shape} and offpeak {offpeak.shape} must both end in the {periods} periods"
            )
        prices = np.stack([peak, offpeak], axis=-1).reshape(*peak.shape[:-1], 2 * periods)
        finite = np.isfinite(prices).reshape(-1, 2 * periods).all(axis=0)
        unpriced = np.flatnonzero((self.block_hours.ravel() > 0) & ~finite)
        if unpriced.size:
            period, block = divmod(int(unpriced[0]), 2)
            raise ValueError(f"period {period} has {('PEAK', 'OFFPEAK')[block]} hours but no finite price")
        # In place: two arrays of (..., hours) rather than five, which matters for a thousand nodes.
        values = prices[..., self.group]
        deviation = np.abs(values)
        deviation *= self.relative
        deviation += self.absolute
        values += deviation
        return values


def _ordinals(days: Sequence[dt.date]) -> np.ndarray:
    return np.fromiter((d.toordinal() for d in days), dtype=np.int64, count=len(days))


def hourly_shape(market: str, boundaries: Sequence[dt.date], factors: ShapeFactors) -> HourlyShape:
    """The hourly shape over the periods `[boundaries[i], boundaries[i + 1])` of market-local dates."""
    if len(boundaries) < 2:
        raise ValueError("give at least two boundaries: the first period's start and the last one's end")
    days = _ordinals(boundaries) - boundaries[0].toordinal()
    if np.any(np.diff(days) < 0):
        raise ValueError("period boundaries must not decrease")
    calendar = hour_calendar(market, boundaries[0], boundaries[-1])
    periods = len(boundaries) - 1

    # Facts per local day (thousands), then per hour by one lookup.
    period_of_day = np.searchsorted(days[1:], np.arange(calendar.days), side="right")
    month_of_day = (np.datetime64(boundaries[0], "D") + np.arange(calendar.days)).astype(
        "datetime64[M]"
    ).astype(np.int64) % MONTHS
    month = month_of_day[calendar.day_index]
    block = np.where(calendar.is_peak, PEAK, OFFPEAK)
    group = period_of_day[calendar.day_index] * 2 + block
    cell = np.ravel_multi_index((month, calendar.day_type, calendar.hour_beginning), CELL_SHAPE)

    count = np.bincount(group, minlength=2 * periods)
    per_group = np.maximum(count, 1)
    factor = factors.factors.ravel()[cell]
    offset = factors.offsets.ravel()[cell]
    mean_factor = (np.bincount(group, factor, minlength=2 * periods) / per_group)[group]
    mean_offset = (np.bincount(group, offset, minlength=2 * periods) / per_group)[group]
    additive = factors.additive[month, block]
    relative = np.where(
        mean_factor >= MIN_MEAN_FACTOR,
        factor / np.where(mean_factor >= MIN_MEAN_FACTOR, mean_factor, 1.0) - 1.0,
        factor - mean_factor,
    )
    return HourlyShape(
        calendar=calendar,
        group=group,
        relative=np.where(additive, 0.0, relative),
        absolute=np.where(additive, offset - mean_offset, 0.0),
        block_hours=count.reshape(periods, 2),
    )


def hourly_curve(
    market: str,
    boundaries: Sequence[dt.date],
    peak: np.ndarray,
    offpeak: np.ndarray,
    factors: ShapeFactors,
) -> tuple[HourCalendar, np.ndarray]:
    """The hourly curve (one value per calendar hour, UTC order) of the periods `[boundaries[i],
    boundaries[i + 1])` priced `peak[i]` and `offpeak[i]`: shaped by `factors`, averaging back to both."""
    shape = hourly_shape(market, boundaries, factors)
    return shape.calendar, shape.apply(peak, offpeak)
