"""The simulator's small value types, its seeding and its market-local clock.

Everything random derives from `rng(seed, *keys)`: a SeedSequence built from the seed and a *stable* hash
of each key (Python's `hash()` is salted per process, so it would break reproducibility across runs).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from marketintel.catalog.markets import MARKETS

DEFAULT_MARKETS: tuple[str, ...] = ("MISO", "CAISO", "PJM", "ERCOT", "NYISO", "ISONE", "SPP")
DATASET_NAMES: frozenset[str] = frozenset(
    {"instruments", "series", "price_facts", "fundamental_facts", "forward_quotes"}
)
SOURCE = "simulator"
US_PER_SECOND = 1_000_000
US_PER_MINUTE = 60 * US_PER_SECOND
US_PER_HOUR = 60 * US_PER_MINUTE
US_PER_DAY = 24 * US_PER_HOUR


@dataclass(frozen=True)
class SimulationSpec:
    start: date
    days: int
    seed: int
    markets: tuple[str, ...] = DEFAULT_MARKETS
    nodes_per_market: int = 200
    rt: bool = True

    def __post_init__(self) -> None:
        if self.days < 0:
            raise ValueError(f"days must be >= 0, got {self.days}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.nodes_per_market < 1:
            raise ValueError(f"nodes_per_market must be >= 1, got {self.nodes_per_market}")
        unknown = [m for m in self.markets if m not in DEFAULT_MARKETS]
        if unknown:
            raise ValueError(f"cannot simulate {unknown}; simulated markets: {', '.join(DEFAULT_MARKETS)}")
        if len(set(self.markets)) != len(self.markets):
            raise ValueError(f"markets repeat: {self.markets}")

    @property
    def dates(self) -> tuple[date, ...]:
        return tuple(self.start + timedelta(days=i) for i in range(self.days))


@dataclass(frozen=True)
class SimBatch:
    dataset: str
    table: pa.Table

    def __post_init__(self) -> None:
        if self.dataset not in DATASET_NAMES:
            raise ValueError(f"unknown dataset {self.dataset!r}; expected one of {sorted(DATASET_NAMES)}")


def stable_hash(key: str | int) -> int:
    """A 64-bit hash of a key that is the same in every process (unlike the salted `hash()`)."""
    return int.from_bytes(hashlib.blake2b(str(key).encode(), digest_size=8).digest(), "little")


def rng(seed: int, *keys: str | int) -> np.random.Generator:
    """An independent random stream for (seed, *keys)."""
    return np.random.default_rng(np.random.SeedSequence([seed, *(stable_hash(k) for k in keys)]))


def file_sha(*parts: object) -> str:
    """The SHA-256 of a deterministic description of a simulated "file", so rows trace back to it."""
    return hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()


# --- the market-local clock ---------------------------------------------------------------------------


def local_us(timezone: str, day: date, at: time = time(0)) -> int:
    """Microseconds since the epoch (UTC) of a wall-clock time in a time zone."""
    return int(datetime.combine(day, at, tzinfo=ZoneInfo(timezone)).timestamp()) * US_PER_SECOND


def local_instant_us(market: str, day: date, at: time = time(0)) -> int:
    """Microseconds since the epoch (UTC) of a market-local wall-clock time."""
    return local_us(MARKETS[market].timezone, day, at)


@dataclass(frozen=True)
class LocalDay:
    """One market-local day: its UTC hour starts from local midnight to the next (23, 24 or 25 of them)."""

    market: str
    day: date
    start_us: int
    end_us: int
    clock: np.ndarray  # local wall-clock hour (0..23) at each hour start
    dst: np.ndarray  # 1.0 where daylight saving time is in force, else 0.0

    @property
    def hours(self) -> int:
        return len(self.clock)

    def hour_starts(self) -> np.ndarray:
        return np.arange(self.start_us, self.end_us, US_PER_HOUR, dtype=np.int64)

    def interval_starts(self, minutes: int) -> np.ndarray:
        return np.arange(self.start_us, self.end_us, minutes * US_PER_MINUTE, dtype=np.int64)


@lru_cache(maxsize=4096)
def local_day(market: str, day: date) -> LocalDay:
    zone = MARKETS[market].zone
    start = local_instant_us(market, day)
    end = local_instant_us(market, day + timedelta(days=1))
    clock, dst = [], []
    # at most 25 conversions a day: the only per-element Python here, and it is per hour, not per row
    for us in range(start, end, US_PER_HOUR):
        local = datetime.fromtimestamp(us // US_PER_SECOND, tz=zone)
        clock.append(local.hour)
        dst.append(1.0 if local.dst() else 0.0)
    clock_arr, dst_arr = np.array(clock, dtype=np.float64), np.array(dst)
    clock_arr.flags.writeable = dst_arr.flags.writeable = False  # shared through the cache
    return LocalDay(market, day, start, end, clock_arr, dst_arr)
