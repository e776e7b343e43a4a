"""When a job fires: a five-field cron expression or a fixed interval, both in UTC. Standard library only.

A cron expression is read as Airflow (croniter) reads it — minute hour day-of-month month day-of-week,
with `*`, `a`, `a-b`, `*/n`, `a-b/n`, lists, and the @hourly/@daily/@weekly/@monthly/@yearly presets; when
both day fields are restricted a day matching either fires (Vixie cron). An interval fires at whole
multiples of itself since the Unix epoch, so "every 5 minutes" is :00, :05, … whenever the process started.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
}
# (low, high) of each field; day of week 7 is Sunday too
FIELDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
SEARCH_DAYS = 366 * 8  # a valid expression fires within 8 years (29 February on a Monday, say)

Cadence = str | dt.timedelta


def _field(text: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        spec, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if spec == "*":
            first, last = low, high
        elif "-" in spec:
            first_text, last_text = spec.split("-", 1)
            first, last = int(first_text), int(last_text)
        else:
            first = int(spec)
            last = high if step_text else first
        if step < 1 or not low <= first <= last <= high:
            raise ValueError(f"{part!r} is outside {low}-{high} or has a bad step")
        values.update(range(first, last + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # day of month is '*'
    any_weekday: bool  # day of week is '*'

    @classmethod
    @functools.cache
    def parse(cls, expression: str) -> Cron:
        text = PRESETS.get(expression.strip(), expression.strip())
        parts = text.split()
        if len(parts) != 5:
            raise ValueError(f"cron {expression!r}: expected 5 fields (minute hour day month weekday)")
        try:
            fields = [_field(p, lo, hi) for p, (lo, hi) in zip(parts, FIELDS, strict=True)]
        except ValueError as exc:
            raise ValueError(f"cron {expression!r}: {exc}") from None
        minutes, hours, days, months, weekdays = fields
        # only a bare '*' leaves a day field unrestricted ('*/2' restricts it), as in croniter
        return cls(
            expression,
            minutes,
            hours,
            days,
            months,
            frozenset(d % 7 for d in weekdays),
            any_day=parts[2] == "*",
            any_weekday=parts[4] == "*",
        )

    def fires_on(self, day: dt.date) -> bool:
        if day.month not in self.months:
            return False
        by_day = day.day in self.days
        by_weekday = (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return by_day and by_weekday
        return by_day or by_weekday

    def latest(self, at: dt.datetime) -> dt.datetime:
        """The last fire time at or before `at`."""
        at = at.astimezone(dt.UTC).replace(second=0, microsecond=0)
        for offset in range(SEARCH_DAYS):
            day = at.date() - dt.timedelta(days=offset)
            if not self.fires_on(day):
                continue
            for hour in sorted(self.hours, reverse=True):
                if offset == 0 and hour > at.hour:
                    continue
                for minute in sorted(self.minutes, reverse=True):
                    if offset == 0 and hour == at.hour and minute > at.minute:
                        continue
                    return dt.datetime.combine(day, dt.time(hour, minute), dt.UTC)
        raise ValueError(f"cron {self.expression!r} never fires")

    def next(self, after: dt.datetime) -> dt.datetime:
        """The first fire time strictly after `after`."""
        at = after.astimezone(dt.UTC).replace(second=0, microsecond=0)
        for offset in range(SEARCH_DAYS):
            day = at.date() + dt.timedelta(days=offset)
            if not self.fires_on(day):
                continue
            for hour in sorted(self.hours):
                if offset == 0 and hour < at.hour:
                    continue
                for minute in sorted(self.minutes):
                    if offset == 0 and hour == at.hour and minute <= at.minute:
                        continue
                    return dt.datetime.combine(day, dt.time(hour, minute), dt.UTC)
        raise ValueError(f"cron {self.expression!r} never fires")


def check(cadence: Cadence) -> None:
    """ValueError if `cadence` is not a cron expression or a positive interval."""
    if isinstance(cadence, dt.timedelta):
        if cadence <= dt.timedelta(0):
            raise ValueError(f"interval {cadence} is not positive")
    else:
        Cron.parse(cadence)


def latest_slot(cadence: Cadence, at: dt.datetime) -> dt.datetime:
    """The most recent time the cadence fired, at or before `at`."""
    if isinstance(cadence, dt.timedelta):
        return EPOCH + ((at - EPOCH) // cadence) * cadence
    return Cron.parse(cadence).latest(at)


def next_slot(cadence: Cadence, after: dt.datetime) -> dt.datetime:
    """The first time the cadence fires strictly after `after`."""
    if isinstance(cadence, dt.timedelta):
        return latest_slot(cadence, after) + cadence
    return Cron.parse(cadence).next(after)
