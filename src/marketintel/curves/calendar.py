"""The delivery calendar of forward contracts: which market-local hours a period holds, and which are peak.

Delivery periods are `[start, end)` of market-local dates. The calendar is built from UTC hour starts; local
time comes from the zone's UTC offset, which is looked up once per offset change (a few a year), never per
hour, so DST days have their real 23 or 25 hours.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo

import numpy as np

from marketintel.catalog.markets import MARKETS

BLOCKS = ("ATC", "PEAK", "OFFPEAK")
DAY_TYPES = ("weekday", "saturday", "sunday_or_holiday")  # what HourCalendar.day_type indexes
WEEKDAY, SATURDAY, SUNDAY_OR_HOLIDAY = range(len(DAY_TYPES))

HOUR = 3600
EPOCH = dt.date(1970, 1, 1)
EPOCH_WEEKDAY = EPOCH.weekday()  # Thursday; weekday numbers follow date.weekday(), Monday = 0


@dataclass(frozen=True)
class PeakDefinition:
    """When a market's PEAK block runs; every other delivery hour is OFFPEAK."""

    name: str
    weekdays: frozenset[int]  # days with peak hours, Monday = 0
    hours_beginning: range  # local hour-beginnings that are peak: HE7–HE22 is range(6, 22)
    nerc_holidays_off_peak: bool  # NERC holidays are off-peak all day (and count as Sundays in day types)

    def __post_init__(self) -> None:
        hours = self.hours_beginning
        if hours.step != 1 or not 0 <= hours.start < hours.stop <= 24:
            raise ValueError(
                f"{self.name}: peak hours must be a run of hour-beginnings in 0..23, not {hours}"
            )
        if not self.weekdays <= frozenset(range(7)):
            raise ValueError(f"{self.name}: weekdays must be in 0 (Monday) .. 6 (Sunday)")


MON_FRI = frozenset(range(5))
MON_SAT = frozenset(range(6))

FIVE_BY_SIXTEEN = PeakDefinition("5x16", MON_FRI, range(6, 22), nerc_holidays_off_peak=True)
SIX_BY_SIXTEEN = PeakDefinition("6x16", MON_SAT, range(6, 22), nerc_holidays_off_peak=True)
# EEX / Nord Pool peak load: 08:00–20:00 CET/CEST, public holidays included.
EU_PEAK = PeakDefinition("EU peak 08-20", MON_FRI, range(8, 20), nerc_holidays_off_peak=False)
# ASX Energy's NEM peak: 07:00–22:00 Mon–Fri in NEM time (AEST, no DST). ASX also drops state public
# holidays, which differ by region; they are not modelled here.
AU_PEAK = PeakDefinition("AU peak 07-22", MON_FRI, range(7, 22), nerc_holidays_off_peak=False)
# Japan as the traded peak-load futures define it (JPX/TOCOM, EEX, CME): 08:00–20:00 JST weekdays.
# (CME also drops Japanese national holidays; not modelled.)
JP_PEAK = PeakDefinition("JP peak 08-20", MON_FRI, range(8, 20), nerc_holidays_off_peak=False)

PEAK_DEFINITIONS: dict[str, PeakDefinition] = {
    "MISO": FIVE_BY_SIXTEEN,
    "PJM": FIVE_BY_SIXTEEN,
    "NYISO": FIVE_BY_SIXTEEN,
    "ISONE": FIVE_BY_SIXTEEN,
    "ERCOT": FIVE_BY_SIXTEEN,
    "SPP": FIVE_BY_SIXTEEN,
    "CAISO": SIX_BY_SIXTEEN,
    "ENTSOE": EU_PEAK,
    "NORDPOOL": EU_PEAK,
    "AEMO": AU_PEAK,
    "JEPX": JP_PEAK,
}

# MISO's spot market runs on EST all year, but its traded forwards (ICE Indiana Hub and the like) deliver in
# prevailing Eastern time, so MISO forward days have 23 and 25 hours like PJM's.
FORWARD_CLOCK_OVERRIDES = {"MISO": "America/New_York"}


def _check_market(market: str) -> None:
    if market not in MARKETS:
        raise ValueError(f"unknown market {market!r}; known markets: {', '.join(sorted(MARKETS))}")
    if market not in PEAK_DEFINITIONS:
        raise ValueError(f"market {market!r} has no peak definition yet")


def peak_definition(market: str) -> PeakDefinition:
    """The PEAK block of `market`'s forward contracts."""
    _check_market(market)
    return PEAK_DEFINITIONS[market]


def forward_clock(market: str) -> str:
    """The IANA zone whose prevailing local time defines `market`'s delivery dates and peak hours."""
    _check_market(market)
    return FORWARD_CLOCK_OVERRIDES.get(market, MARKETS[market].timezone)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    """The n-th `weekday` (Monday = 0) of a month; n = -1 is the last one."""
    if n > 0:
        first = dt.date(year, month, 1)
        return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


@lru_cache(maxsize=512)
def _nerc_holidays(year: int) -> frozenset[dt.date]:
    fixed = (dt.date(year, 1, 1), dt.date(year, 7, 4), dt.date(year, 12, 25))
    # NERC moves a Sunday holiday to Monday but leaves a Saturday one where it is.
    observed = {d + dt.timedelta(days=1) if d.weekday() == 6 else d for d in fixed}
    memorial = _nth_weekday(year, 5, 0, -1)
    labor = _nth_weekday(year, 9, 0, 1)
    thanksgiving = _nth_weekday(year, 11, 3, 4)
    return frozenset(observed | {memorial, labor, thanksgiving})


def nerc_holidays(year: int) -> set[dt.date]:
    """NERC off-peak holidays of `year`, as observed: New Year, Memorial Day, Independence Day, Labor Day,
    Thanksgiving and Christmas; a Sunday holiday is observed on Monday, a Saturday one is not moved."""
    return set(_nerc_holidays(year))


def _epoch_day(day: dt.date) -> int:
    return (day - EPOCH).days


@lru_cache(maxsize=2048)
def _offset_changes(zone: str, year: int) -> tuple[tuple[int, int], ...]:
    """(UTC epoch hour, UTC offset in hours from then on) at the start of UTC `year` and at each change of
    offset in it. Sampled weekly, then bisected to the hour: right for zones whose offset is a whole number of
    hours and changes at most once a week, as in every DST rule of the catalog's zones."""
    tz = ZoneInfo(zone)

    def offset_at(hour: int) -> int:
        offset = dt.datetime.fromtimestamp(hour * HOUR, tz).utcoffset()
        assert offset is not None  # a ZoneInfo always has one
        hours, rest = divmod(int(offset.total_seconds()), HOUR)
        if rest:
            raise ValueError(f"{zone} is {offset} from UTC in {year}; delivery hours need whole-hour offsets")
        return hours

    first, last = _epoch_day(dt.date(year, 1, 1)) * 24, _epoch_day(dt.date(year + 1, 1, 1)) * 24
    sampled_at = [*range(first, last, 7 * 24), last]
    samples = zip(sampled_at, [offset_at(hour) for hour in sampled_at], strict=True)
    changes = [(first, offset_at(first))]
    for (lo, before), (hi, after) in pairwise(samples):
        if before == after:
            continue
        while hi - lo > 1:  # offset_at(lo) == before != offset_at(hi)
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if offset_at(mid) == before else (lo, mid)
        if hi < last:  # a change exactly at the year's end opens next year's list
            changes.append((hi, offset_at(hi)))
    return tuple(changes)


def _hourly_offsets(zone: str, first_hour: int, end_hour: int) -> np.ndarray:
    """The UTC offset (int32 hours) of `zone` in each UTC epoch hour of `[first_hour, end_hour)`."""
    first_year = (EPOCH + dt.timedelta(hours=first_hour)).year
    last_year = (EPOCH + dt.timedelta(hours=end_hour - 1)).year
    changes = [c for year in range(first_year, last_year + 1) for c in _offset_changes(zone, year)]
    starts = np.array([at for at, _ in changes] + [end_hour], dtype=np.int64).clip(first_hour, end_hour)
    offsets = np.array([offset for _, offset in changes], dtype=np.int32)
    return np.repeat(offsets, np.diff(starts))


@dataclass(frozen=True, eq=False)
class HourCalendar:
    """Every delivery hour of `market` in `[start, end)`, one array element per hour, in UTC order."""

    market: str
    start: dt.date
    end: dt.date
    utc_start: np.ndarray  # datetime64[s], the hour's start in UTC
    utc_offset: np.ndarray  # int32 seconds, local = UTC + offset
    day_index: np.ndarray  # int32 local delivery day, counted from `start`
    hour_beginning: np.ndarray  # int8 local hour-beginning 0..23 (repeated or skipped on DST days)
    weekday: np.ndarray  # int8, Monday = 0
    day_type: np.ndarray  # int8 index into DAY_TYPES
    is_peak: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.utc_start)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def local_date(self) -> np.ndarray:
        """The local delivery date of each hour, datetime64[D]."""
        return np.datetime64(self.start, "D") + self.day_index

    def hours_per_day(self) -> np.ndarray:
        """Delivery hours on each local day of the calendar (23, 24 or 25 where DST applies)."""
        return np.bincount(self.day_index, minlength=self.days)

    def in_block(self, block: str) -> np.ndarray:
        """Which hours belong to `block` (one of BLOCKS)."""
        if block == "ATC":
            return np.ones(len(self), dtype=bool)
        if block == "PEAK":
            return self.is_peak
        if block == "OFFPEAK":
            return ~self.is_peak
        raise ValueError(f"unknown block {block!r}; blocks: {', '.join(BLOCKS)}")


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def hour_calendar(market: str, start: dt.date, end: dt.date) -> HourCalendar:
    """The delivery hours of `market` over local dates `[start, end)`, with their local clock and block."""
    peak = peak_definition(market)
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    first_day, end_day = _epoch_day(start), _epoch_day(end)
    days = end_day - first_day

    # Epoch hours, padded by a day either side so every offset is covered; the local day then picks the
    # hours that belong. With whole-hour offsets the local day never runs backwards: one slice holds them.
    pad_first, pad_end = (first_day - 1) * 24, (end_day + 1) * 24
    utc_hour = np.arange(pad_first, pad_end, dtype=np.int64)
    offset = _hourly_offsets(forward_clock(market), pad_first, pad_end)
    wall_hour = utc_hour + offset - first_day * 24  # local wall-clock hours since `start`
    lo, hi = np.searchsorted(wall_hour // 24, [0, days])
    utc_hour, offset, wall_hour = utc_hour[lo:hi], offset[lo:hi], wall_hour[lo:hi].astype(np.int32)
    day_index = wall_hour // 24

    # Facts per day (thousands), then per hour by one lookup each.
    weekday_of_day = ((np.arange(first_day, end_day) + EPOCH_WEEKDAY) % 7).astype(np.int8)
    holiday_of_day = np.zeros(days, dtype=bool)
    if peak.nerc_holidays_off_peak:
        holidays = [d for y in range(start.year, end.year + 1) for d in _nerc_holidays(y) if start <= d < end]
        holiday_of_day[[_epoch_day(d) - first_day for d in holidays]] = True
    day_type_of_day = np.full(days, WEEKDAY, dtype=np.int8)
    day_type_of_day[weekday_of_day == 5] = SATURDAY
    day_type_of_day[(weekday_of_day == 6) | holiday_of_day] = SUNDAY_OR_HOLIDAY
    peak_day = np.isin(weekday_of_day, list(peak.weekdays)) & ~holiday_of_day
    peak_hour = np.zeros(24, dtype=bool)
    peak_hour[peak.hours_beginning] = True
    peak_by_wall_hour = (peak_day[:, None] & peak_hour[None, :]).ravel()

    return HourCalendar(
        market=market,
        start=start,
        end=end,
        utc_start=_read_only((utc_hour * HOUR).astype("datetime64[s]")),
        utc_offset=_read_only(offset * HOUR),
        day_index=_read_only(day_index),
        hour_beginning=_read_only((wall_hour - day_index * 24).astype(np.int8)),
        weekday=_read_only(weekday_of_day[day_index]),
        day_type=_read_only(day_type_of_day[day_index]),
        is_peak=_read_only(peak_by_wall_hour[wall_hour]),
    )


@lru_cache(maxsize=1024)
def _daily_block_hours(market: str, year: int) -> np.ndarray:
    """PEAK and OFFPEAK hours of each local day of `year`, shape (days, 2)."""
    calendar = hour_calendar(market, dt.date(year, 1, 1), dt.date(year + 1, 1, 1))
    total = np.bincount(calendar.day_index, minlength=calendar.days)
    peak = np.bincount(calendar.day_index[calendar.is_peak], minlength=calendar.days)
    return _read_only(np.stack([peak, total - peak], axis=1).astype(np.int64))


def _epoch_days(boundaries: Sequence[dt.date] | np.ndarray) -> np.ndarray:
    if isinstance(boundaries, np.ndarray):
        return boundaries.astype("datetime64[D]").astype(np.int64)
    # date.toordinal beats numpy's per-object date conversion by two orders of magnitude.
    ordinals = np.fromiter((d.toordinal() for d in boundaries), dtype=np.int64, count=len(boundaries))
    return ordinals - EPOCH.toordinal()


def block_hours(market: str, boundaries: Sequence[dt.date] | np.ndarray) -> np.ndarray:
    """PEAK and OFFPEAK hour counts (int64, shape (n - 1, 2)) of each period `[b[i], b[i + 1])` of the n
    non-decreasing local-date `boundaries` (dates or datetime64[D]); ATC is the row sum."""
    peak_definition(market)
    days = _epoch_days(boundaries)
    if len(days) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    if np.any(days[1:] < days[:-1]):
        raise ValueError("period boundaries must not decrease")
    first_year = (EPOCH + dt.timedelta(days=int(days[0]))).year
    # The last boundary is exclusive: a Jan 1 end needs nothing of its year.
    last_year = max(first_year, (EPOCH + dt.timedelta(days=int(days[-1]) - 1)).year)
    daily = np.concatenate([_daily_block_hours(market, y) for y in range(first_year, last_year + 1)])
    cumulative = np.zeros((len(daily) + 1, 2), dtype=np.int64)
    np.cumsum(daily, axis=0, out=cumulative[1:])
    return np.diff(cumulative[days - _epoch_day(dt.date(first_year, 1, 1))], axis=0)


def period_hours(market: str, start: dt.date, end: dt.date) -> tuple[int, int, int]:
    """(ATC, PEAK, OFFPEAK) hours of one delivery period `[start, end)`."""
    peak, offpeak = (int(n) for n in block_hours(market, [start, end])[0])
    return peak + offpeak, peak, offpeak


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def month_starts(start: dt.date, end: dt.date) -> list[dt.date]:
    """The first days of the months that lie in `[start, end)`; append `end` to use them as boundaries."""
    year, month = (start.year, start.month) if start.day == 1 else _next_month(start.year, start.month)
    firsts = []
    while (first := dt.date(year, month, 1)) < end:
        firsts.append(first)
        year, month = _next_month(year, month)
    return firsts


def classify_hours(market: str, utc_instants: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For UTC instants (datetime64), the local calendar month (1..12) and whether each lies in PEAK."""
    instants = np.asarray(utc_instants).astype("datetime64[s]")
    if instants.size == 0:
        return np.zeros(0, dtype=np.int8), np.zeros(0, dtype=bool)
    first = (instants.min() - np.timedelta64(1, "D")).astype("datetime64[D]").item()
    last = (instants.max() + np.timedelta64(2, "D")).astype("datetime64[D]").item()
    hours = hour_calendar(market, first, last)
    at = (
        np.searchsorted(
            hours.utc_start, instants.astype("datetime64[h]").astype("datetime64[s]"), side="right"
        )
        - 1
    )
    months = hours.local_date[at].astype("datetime64[M]").astype(int) % 12 + 1
    return months.astype(np.int8), hours.is_peak[at]
