"""The markets the platform knows, with the conventions every other module relies on.

A market's `timezone` is the clock its day-ahead market runs on; instruments may override it (an ENTSO-E
bidding zone keeps its own country's clock). MISO publishes on Eastern *Standard* Time all year, so its
clock is a fixed UTC-5 offset, not America/New_York.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Market:
    code: str
    name: str
    timezone: str
    currency: str
    runs: tuple[str, ...]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


# Run codes: DA day-ahead, RT hourly real-time (integrated), RT5 5-minute, RT15 15-minute, ID intraday.
RUNS: frozenset[str] = frozenset({"DA", "RT", "RT5", "RT15", "ID"})

LOCATION_TYPES: frozenset[str] = frozenset({"hub", "zone", "node", "interface"})

MARKETS: dict[str, Market] = {
    m.code: m
    for m in (
        Market("MISO", "Midcontinent ISO", "Etc/GMT+5", "USD", ("DA", "RT", "RT5")),
        Market("CAISO", "California ISO", "America/Los_Angeles", "USD", ("DA", "RT5", "RT15")),
        Market("PJM", "PJM Interconnection", "America/New_York", "USD", ("DA", "RT", "RT5")),
        Market("ERCOT", "Electric Reliability Council of Texas", "America/Chicago", "USD", ("DA", "RT15")),
        Market("NYISO", "New York ISO", "America/New_York", "USD", ("DA", "RT", "RT5")),
        Market("SPP", "Southwest Power Pool", "America/Chicago", "USD", ("DA", "RT5")),
        Market("ISONE", "ISO New England", "America/New_York", "USD", ("DA", "RT", "RT5")),
        Market("ENTSOE", "ENTSO-E Transparency bidding zones", "Europe/Brussels", "EUR", ("DA",)),
        Market("NORDPOOL", "Nord Pool", "Europe/Oslo", "EUR", ("DA",)),
        Market("AEMO", "Australian NEM", "Australia/Brisbane", "AUD", ("RT5",)),
        Market("JEPX", "Japan Electric Power Exchange", "Asia/Tokyo", "JPY", ("DA", "ID")),
    )
}


def market(code: str) -> Market:
    """The market with this code, or a KeyError that lists the known codes."""
    try:
        return MARKETS[code]
    except KeyError:
        raise KeyError(f"unknown market {code!r}; known markets: {', '.join(sorted(MARKETS))}") from None
