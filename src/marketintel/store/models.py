"""The canonical, bitemporal data model: one `Dataset` per kind of fact, and the reference tables.

Every fact carries when it applies (its interval or delivery period) and when we learned it
(`knowledge_time`). A dataset names its *entity* columns (what the fact is about, without
`knowledge_time`), its *value* columns (compared to decide whether a write is a new revision) and its
*attribute* columns (carried along, never compared: source, file hash, run id). See docs/DATA_MODEL.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

UTC_TS = pa.timestamp("us", tz="UTC")
KNOWLEDGE_TIME = "knowledge_time"


@dataclass(frozen=True)
class Dataset:
    name: str
    schema: pa.Schema
    entity: tuple[str, ...]
    values: tuple[str, ...]
    time_column: str
    # the reference table each row must point at: (table, {fact column: reference column})
    reference: tuple[str, tuple[tuple[str, str], ...]] | None = None

    @property
    def key(self) -> tuple[str, ...]:
        return (*self.entity, KNOWLEDGE_TIME)

    @property
    def columns(self) -> list[str]:
        return self.schema.names

    def required(self) -> list[str]:
        return [f.name for f in self.schema if not f.nullable]


def _field(name: str, type_: pa.DataType, nullable: bool = False) -> pa.Field:
    return pa.field(name, type_, nullable=nullable)


INSTRUMENTS_SCHEMA = pa.schema(
    [
        _field("market", pa.string()),
        _field("location", pa.string()),
        _field("location_type", pa.string()),
        _field("timezone", pa.string()),
        _field("currency", pa.string()),
        _field("unit", pa.string()),
        _field("name", pa.string(), nullable=True),
    ]
)

SERIES_SCHEMA = pa.schema(
    [
        _field("series_id", pa.string()),
        _field("market", pa.string(), nullable=True),
        _field("kind", pa.string()),
        _field("fuel", pa.string(), nullable=True),
        _field("unit", pa.string()),
        _field("timezone", pa.string()),
        _field("name", pa.string(), nullable=True),
    ]
)

SERIES_KINDS: frozenset[str] = frozenset({"load", "generation", "gas_price", "carbon_price", "temperature"})

PRICES = Dataset(
    name="price_facts",
    schema=pa.schema(
        [
            _field("market", pa.string()),
            _field("location", pa.string()),
            _field("run", pa.string()),
            _field("interval_start", UTC_TS),
            _field("interval_minutes", pa.int16()),
            _field("lmp", pa.float64()),
            _field("energy", pa.float64(), nullable=True),
            _field("congestion", pa.float64(), nullable=True),
            _field("loss", pa.float64(), nullable=True),
            _field(KNOWLEDGE_TIME, UTC_TS),
            _field("source", pa.string()),
            _field("source_file_sha256", pa.string(), nullable=True),
        ]
    ),
    entity=("market", "location", "run", "interval_start"),
    values=("lmp", "energy", "congestion", "loss"),
    time_column="interval_start",
    reference=("instruments", (("market", "market"), ("location", "location"))),
)

FUNDAMENTALS = Dataset(
    name="fundamental_facts",
    schema=pa.schema(
        [
            _field("series_id", pa.string()),
            _field("interval_start", UTC_TS),
            _field("interval_minutes", pa.int16()),
            _field("value", pa.float64()),
            _field(KNOWLEDGE_TIME, UTC_TS),
            _field("source", pa.string()),
            _field("source_file_sha256", pa.string(), nullable=True),
        ]
    ),
    entity=("series_id", "interval_start"),
    values=("value",),
    time_column="interval_start",
    reference=("series", (("series_id", "series_id"),)),
)

# A traded forward: a hub's block (on-peak, off-peak, around-the-clock) over a delivery period, as quoted
# on a trade date. The curves issue builds arbitrage-free curves from these.
FORWARD_QUOTES = Dataset(
    name="forward_quotes",
    schema=pa.schema(
        [
            _field("market", pa.string()),
            _field("location", pa.string()),
            _field("block", pa.string()),
            _field("trade_date", pa.date32()),
            _field("delivery_start", UTC_TS),
            _field("delivery_end", UTC_TS),
            _field("product", pa.string()),
            _field("price", pa.float64()),
            _field(KNOWLEDGE_TIME, UTC_TS),
            _field("source", pa.string()),
            _field("source_file_sha256", pa.string(), nullable=True),
        ]
    ),
    entity=("market", "location", "block", "trade_date", "delivery_start", "delivery_end"),
    values=("price",),
    time_column="trade_date",
    reference=("instruments", (("market", "market"), ("location", "location"))),
)

CURVE_POINTS = Dataset(
    name="curve_points",
    schema=pa.schema(
        [
            _field("curve_id", pa.string()),
            _field("scenario_id", pa.string()),
            _field("as_of_date", pa.date32()),
            _field("delivery_start", UTC_TS),
            _field("delivery_end", UTC_TS),
            _field("granularity", pa.string()),
            _field("value", pa.float64()),
            _field("run_id", pa.string()),
            _field(KNOWLEDGE_TIME, UTC_TS),
        ]
    ),
    entity=("curve_id", "scenario_id", "as_of_date", "granularity", "delivery_start"),
    values=("value", "delivery_end"),
    time_column="as_of_date",
)

DATASETS: dict[str, Dataset] = {d.name: d for d in (PRICES, FUNDAMENTALS, FORWARD_QUOTES, CURVE_POINTS)}
BLOCKS: frozenset[str] = frozenset({"ON", "OFF", "ATC"})
GRANULARITIES: frozenset[str] = frozenset({"H", "D", "M", "Q", "Y"})
