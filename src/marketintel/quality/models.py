"""Data-quality checks, their results and the gates they are held to.

A *check* measures one thing about a batch (gaps, duplicates, out-of-range prices, spikes, completeness)
or about a source as the store holds it (freshness, staleness). A *gate* is a check whose failure is an
incident: it is recorded with passed=False and alerted. The other checks are recorded and exported too,
but a failure is a finding to look at (a real price spike, a handful of gaps under the completeness gate),
logged as a warning.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal
from zoneinfo import ZoneInfo

GAPS = "gaps"
DUPLICATES = "duplicates"
OUT_OF_RANGE = "out_of_range"
SPIKES = "spikes"
COMPLETENESS = "completeness"
FRESHNESS = "freshness"
STALE = "stale"

BATCH_CHECKS: tuple[str, ...] = (GAPS, COMPLETENESS, DUPLICATES, OUT_OF_RANGE, SPIKES)
SOURCE_CHECKS: tuple[str, ...] = (FRESHNESS, STALE)
CHECKS: tuple[str, ...] = (*BATCH_CHECKS, *SOURCE_CHECKS)

# What a file is expected to cover, for gaps and completeness:
# - "day": every interval of each market-local day the file touches (23/25 hours on DST days);
# - "span": every interval from the file's first to its last (sources that split a day over many files);
# - "none": nothing (files that are arbitrary slices of a day); the source-level checks still apply.
Expect = Literal["day", "span", "none"]

# By "<source>:<run>" or "<source>"; anything not listed publishes whole market days.
FILE_COVERAGE: Mapping[str, Expect] = MappingProxyType(
    {
        "caiso-oasis:RT5": "span",  # one OASIS query per hour of the day
        "ercot-spp:RT15": "span",  # one MIS document per 15-minute interval
        "pjm-dataminer": "none",  # 50,000-row pages in no guaranteed order
    }
)

# Plausibility envelopes of a settlement price, per market, in the market's currency per MWh. They are
# not the offer caps: nodal prices legally pass the offer floor and cap through congestion, penalty and
# reserve-adder components, and a backfill meets older, higher caps. A price outside the envelope is a
# unit, sign or sentinel error (or a rule change to configure), not a market outcome.
PRICE_BOUNDS: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        # offer floor -250; HCAP 5,000 since 2022 (9,000 in 2015-2021)
        "ERCOT": (-1_000.0, 10_000.0),
        # bid floor -150, hard offer cap 2,000 (FERC Order 831); penalty prices reach past both at nodes
        "CAISO": (-2_000.0, 5_000.0),
        # offer floor -500; scarcity pricing above the 1,000/2,000 offer caps
        "MISO": (-2_000.0, 10_000.0),
        "PJM": (-2_000.0, 10_000.0),
        "NYISO": (-2_000.0, 10_000.0),
        "SPP": (-2_000.0, 10_000.0),
        "ISONE": (-2_000.0, 10_000.0),
        # SDAC harmonised limits -500 / +4,000 EUR; the maximum steps up by 1,000 when prices near it
        "ENTSOE": (-500.0, 5_000.0),
        "NORDPOOL": (-500.0, 5_000.0),
        # AUD: market floor -1,000; market price cap 17,500 in FY2024-25, indexed every July
        "AEMO": (-1_000.0, 25_000.0),
        # JPY/MWh: no negative prices (bid floor 0.01 JPY/kWh); the record is 251 JPY/kWh (January 2021)
        "JEPX": (0.0, 500_000.0),
    }
)

# Freshness limits of the real-time runs: how old (now - end of the newest interval) the newest stored
# interval may be. The listener evaluates it as a batch lands, so the limit is how long after its end an
# interval may reach the store. RT5 is the gate; RT15 and hourly RT allow one interval of
# cadence plus 5 and 15 minutes of publication delay.
FRESHNESS_MAX: Mapping[str, dt.timedelta] = MappingProxyType(
    {
        "RT5": dt.timedelta(minutes=5),
        "RT15": dt.timedelta(minutes=20),
        "RT": dt.timedelta(minutes=75),
    }
)

DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class CheckResult:
    """One measurement: `value` held to `threshold` (None: nothing to hold it to)."""

    check: str
    run: str | None
    value: float
    threshold: float | None
    passed: bool
    gate: bool = False  # a failed gate is an incident (alerted); a failed non-gate is a finding
    details: dict[str, Any] = field(default_factory=dict)  # JSON-ready: strings, numbers, lists


@dataclass(frozen=True)
class Gates:
    """Thresholds of every check, and which checks are gates.

    Freshness: real-time runs are held to `freshness_max` by run (RT5 5 min, RT15 20 min, RT 75 min).
    Day-ahead is published once a day, so its freshness is measured against the expected publication:
    from `da_published_by` (market-local) on, the store must hold the next market day; before it, the
    current one. Runs with no limit (ID) are measured but not gated.
    `publication_lag` ("<source>:<run>" or "<source>") shifts a source's freshness and staleness limits
    by the delay it publishes with by design (a daily roll-up, a final settlement report).
    Staleness: no new interval learned for more than `stale_factor` cadences (a day for DA).
    """

    completeness_min: float = 0.995
    freshness_max: Mapping[str, dt.timedelta] = field(default_factory=lambda: FRESHNESS_MAX)
    # the latest of the US ISOs' DA postings (~13:00-14:30 local) with margin; SDAC/JEPX publish earlier
    da_published_by: dt.time = dt.time(15, 0)
    stale_factor: float = 3.0
    publication_lag: Mapping[str, dt.timedelta] = field(default_factory=dict)
    bounds: Mapping[str, tuple[float, float]] = field(default_factory=lambda: PRICE_BOUNDS)
    # power prices are fat-tailed: at 8 robust sigmas, only moves a trader would call a spike are flagged
    spike_z: float = 8.0
    # a median/MAD of fewer values is too noisy to judge by (2 days of hourly prices, 4 hours of 5-minute)
    spike_min_history: int = 48
    spike_history: dt.timedelta = dt.timedelta(days=7)
    gated: frozenset[str] = frozenset({COMPLETENESS, FRESHNESS, STALE, DUPLICATES, OUT_OF_RANGE})

    def is_gate(self, check: str) -> bool:
        return check in self.gated

    def lag(self, source: str, run: str) -> dt.timedelta:
        return self.publication_lag.get(f"{source}:{run}", self.publication_lag.get(source, dt.timedelta()))

    def freshness_limit(self, source: str, run: str, now: dt.datetime, timezone: str) -> float | None:
        """The greatest allowed age (seconds) of the newest interval's end; None where not gated.
        Negative for day-ahead, whose newest interval ends in the future."""
        lag = self.lag(source, run)
        if run == "DA":
            return (now - self.expected_da_end(now - lag, timezone)).total_seconds()
        limit = self.freshness_max.get(run)
        return None if limit is None else (limit + lag).total_seconds()

    def expected_da_end(self, now: dt.datetime, timezone: str) -> dt.datetime:
        """The end of the last market day whose day-ahead prices should be out at `now`."""
        zone = ZoneInfo(timezone)
        local = now.astimezone(zone)
        days_ahead = 2 if local.time() >= self.da_published_by else 1
        end = dt.datetime.combine(local.date() + dt.timedelta(days=days_ahead), dt.time(), zone)
        return end.astimezone(dt.UTC)

    def stale_limit(self, source: str, run: str, interval_minutes: int) -> float:
        """Seconds without a new interval after which a source is stale."""
        cadence = DAY if run == "DA" else dt.timedelta(minutes=interval_minutes)
        return (cadence * self.stale_factor + self.lag(source, run)).total_seconds()


def file_coverage(source: str, run: str, coverage: Mapping[str, Expect] = FILE_COVERAGE) -> Expect:
    return coverage.get(f"{source}:{run}", coverage.get(source, "day"))
