"""Query parameters every router reads the same way: instants, instrument ids, output formats."""

from __future__ import annotations

import datetime as dt

from marketintel.api.problems import Problem
from marketintel.catalog.markets import MARKETS

INSTRUMENT_SEPARATOR = ":"
# Text that the metadata store keeps or looks up: PostgreSQL text cannot hold a NUL character.
NO_NUL = r"^[^\x00]*$"


def aware(name: str, value: dt.datetime | None) -> dt.datetime | None:
    """The instant in UTC, or None; see `utc_instant`."""
    return None if value is None else utc_instant(name, value)


def utc_instant(name: str, value: dt.datetime) -> dt.datetime:
    """The instant in UTC; a naive timestamp is ambiguous across markets' clocks, so it is refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise Problem(
            422,
            f"query parameter '{name}' ({value.isoformat()}) has no timezone; "
            "give an offset or Z, e.g. 2026-01-01T05:00:00Z",
            kind="invalid-parameter",
        )
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:  # 0001-01-01T00:00+05:00 is before year 1 in UTC, 9999-12-31T23:00-05:00 after 9999
        raise Problem(
            422,
            f"query parameter '{name}' ({value.isoformat()}) is outside years 1 to 9999 in UTC",
            kind="invalid-parameter",
        ) from None


def window(
    start: dt.datetime, end: dt.datetime, limit: dt.timedelta, hint: str
) -> tuple[dt.datetime, dt.datetime]:
    first, last = utc_instant("start", start), utc_instant("end", end)
    if last <= first:
        raise Problem(
            422, f"query parameter 'end' ({end.isoformat()}) must be after 'start'", kind="invalid-parameter"
        )
    if last - first > limit:
        raise Problem(
            422,
            f"the range {first.isoformat()} to {last.isoformat()} is longer than {limit.days} days; {hint}",
            kind="range-too-large",
        )
    return first, last


def instrument_id(market: str, location: str) -> str:
    return f"{market}{INSTRUMENT_SEPARATOR}{location}"


def split_instrument(value: str, parameter: str = "instrument") -> tuple[str, str]:
    """'MISO:ALTE.ALTW' → ('MISO', 'ALTE.ALTW'); the market must be one the platform knows."""
    market, separator, location = value.partition(INSTRUMENT_SEPARATOR)
    if not separator or not location:
        raise Problem(
            422,
            f"{parameter} '{value}' is not an instrument id; ids read MARKET:location, e.g. MISO:ALTE.ALTW",
            kind="invalid-parameter",
        )
    if market not in MARKETS:
        raise Problem(
            422,
            f"{parameter} '{value}': unknown market {market!r}; known: {', '.join(sorted(MARKETS))}",
            kind="invalid-parameter",
        )
    return market, location


def check_run(market: str, run: str) -> None:
    runs = MARKETS[market].runs
    if run not in runs:
        raise Problem(
            422,
            f"query parameter 'run': {market} has no run {run!r}; it has {', '.join(runs)}",
            kind="invalid-parameter",
        )
