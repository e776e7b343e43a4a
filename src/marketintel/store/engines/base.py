"""The time-series store interface, and the bitemporal logic every engine shares.

An engine supplies four things: run a statement, run a query into Arrow, write a conformed batch's new
revisions, and upsert a reference table. Everything else — validation, revision detection rules, the
as-of reads, resampling — is written once here in SQL rendered through the engine's `Dialect`.
"""

from __future__ import annotations

import datetime as dt
import functools
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from marketintel.catalog.markets import market as market_named
from marketintel.store.coded import decoded, distinct_rows
from marketintel.store.dialect import Dialect, Params, utc
from marketintel.store.layout import EntityOrder, entity_order
from marketintel.store.models import (
    CURVE_POINTS,
    DATASETS,
    FORWARD_QUOTES,
    FUNDAMENTALS,
    INSTRUMENTS_SCHEMA,
    KNOWLEDGE_TIME,
    PRICES,
    SERIES_SCHEMA,
    Dataset,
)
from marketintel.store.validation import BatchRejected, validate_facts, validate_instruments, validate_series

Freq = Literal["hour", "day"]

# Reference tables: name -> (schema, key columns)
REFERENCES: dict[str, tuple[pa.Schema, tuple[str, ...]]] = {
    "instruments": (INSTRUMENTS_SCHEMA, ("market", "location")),
    "series": (SERIES_SCHEMA, ("series_id",)),
}


@dataclass(frozen=True)
class WriteResult:
    dataset: str
    received: int
    written: int
    # the rows written (new facts and revisions) as the engine wrote them: text columns may be coded
    written_rows: pa.Table | None = field(default=None, repr=False)

    @functools.cached_property
    def rows(self) -> pa.Table | None:
        """The rows written, in the dataset's schema (decoded when first asked for: a caller counting rows
        never pays for it)."""
        if self.written_rows is None:
            return None
        return decoded(self.written_rows, DATASETS[self.dataset].schema)

    @property
    def unchanged(self) -> int:
        """Rows that restated what the store already knew: idempotent no-ops."""
        return self.received - self.written


@dataclass
class DatasetSummary:
    rows: int
    first: dt.datetime | dt.date | None
    last: dt.datetime | dt.date | None


@dataclass
class StoreSummary:
    engine: str
    datasets: dict[str, DatasetSummary] = field(default_factory=dict)
    markets: dict[str, dict[str, object]] = field(default_factory=dict)


def revision_generations(dataset: Dataset, table: pa.Table) -> list[tuple[pa.Table, EntityOrder]]:
    """The batch split so that each part holds each entity at most once, oldest knowledge first, each
    with its entity order (which engines use to lay rows out).

    The store compares a row with the latest revision it already holds, so two revisions of one entity
    in one batch must be written one after the other. Exact repeats (same key, same values) collapse;
    the same key with different values is ambiguous and rejected.
    """
    order = entity_order(dataset, table)
    if not order.repeats:
        return [(table, order)]
    frame = pl.from_arrow(order.take(table))
    assert isinstance(frame, pl.DataFrame)
    frame = frame.unique(maintain_order=True)
    clashes = frame.select(dataset.key).is_duplicated()
    if clashes.any():
        row = frame.filter(clashes).row(0, named=True)
        described = ", ".join(f"{c}={row[c]}" for c in dataset.key)
        raise BatchRejected(dataset.name, f"two rows with the same key and different values ({described})")
    rank = pl.col(KNOWLEDGE_TIME).rank("ordinal").over(list(dataset.entity)).alias("_generation")
    frame = frame.with_columns(rank)
    parts = [
        frame.filter(pl.col("_generation") == g).drop("_generation").to_arrow().cast(dataset.schema)
        for g in range(1, int(frame["_generation"].max()) + 1)  # type: ignore[arg-type]
    ]
    return [(part, entity_order(dataset, part)) for part in parts]


SMALL_READ = 100_000  # rows; below this Arrow beats a round trip through polars


def latest_revisions(schema: pa.Schema, table: pa.Table, keys: list[str]) -> pa.Table:
    """Per entity, the row with the greatest knowledge time, ordered by `keys`: the entity columns that tell
    the rows apart (the query pins the others, e.g. one market and run); `schema` is the dataset's, or the
    part of it that was read."""
    if table.num_rows >= SMALL_READ:
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        if frame.select(keys).is_duplicated().any():
            frame = frame.sort([*keys, KNOWLEDGE_TIME]).unique(subset=keys, keep="last", maintain_order=True)
        return frame.sort(keys).to_arrow().cast(schema)
    table = with_schema(table, schema)
    later, same = neighbours(table, keys)
    if later.all():
        # the usual case: the rows come back in the entity order they were written in, one revision each
        return table
    # sorted by the keys and then knowledge time, revisions of one entity are neighbours, the latest last
    ordered = table.sort_by([(c, "ascending") for c in (*keys, KNOWLEDGE_TIME)])
    _, same = neighbours(ordered, keys)
    return ordered if not same.any() else ordered.filter(pa.array(np.append(~same, True)))


def neighbours(table: pa.Table, keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """For each row but the last, whether the next row's keys are greater and whether they are equal."""
    n = max(table.num_rows - 1, 0)
    later, same = np.zeros(n, dtype=bool), np.ones(n, dtype=bool)
    for column in keys:
        values = table.column(column)
        if pa.types.is_string(values.type):
            this, after = values.slice(0, n), values.slice(1)
            less, equal = (pc.less(this, after).to_numpy(), pc.equal(this, after).to_numpy())
        else:  # times and numbers compare in numpy, without a copy
            array = values.to_numpy()
            less, equal = array[:-1] < array[1:], array[:-1] == array[1:]
        later |= same & less
        same &= equal
    return later, same


def with_schema(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """The table under the dataset's schema: relabelled when the engine returned the same types (it marks
    every column nullable), cast otherwise."""
    if table.schema.equals(all_nullable(schema)):
        return pa.Table.from_arrays(table.columns, schema=schema)
    return table.cast(schema)


@functools.cache
def price_columns(columns: tuple[str, ...] | None) -> pa.Schema:
    """The part of the price schema a read returns: the entity, the knowledge time and `columns`, in the
    schema's order."""
    if columns is None:
        return PRICES.schema
    unknown = sorted(set(columns) - set(PRICES.columns))
    if unknown:
        raise ValueError(f"unknown price columns {unknown}; the columns are {PRICES.columns}")
    keep = {*PRICES.key, *columns}
    return pa.schema([f for f in PRICES.schema if f.name in keep])


@functools.cache
def all_nullable(schema: pa.Schema) -> pa.Schema:
    return pa.schema([f.with_nullable(True) for f in schema])


class TimeSeriesStore(ABC):
    """Bitemporal facts: write Arrow batches, read what was known at any moment."""

    dialect: Dialect
    url: str

    def __init__(self) -> None:
        self._reference_cache: dict[str, set[tuple[str, ...]]] = {}

    # --- what an engine provides -------------------------------------------------------------------

    @abstractmethod
    def create_schema(self) -> None:
        """Create the tables if missing; safe to call on every start."""

    @abstractmethod
    def query(self, sql: str, params: Params | None = None) -> pa.Table:
        """Run a query and return its result as Arrow (timestamps as UTC); `params` are the values of the
        markers that the dialect's `param` put in `sql`."""

    @abstractmethod
    def _write_new_revisions(self, dataset: Dataset, table: pa.Table, order: EntityOrder) -> pa.Table:
        """Insert the rows of `table` (each entity once) that are not already the known value; return them.
        `order` sorts the batch by entity, for engines that keep rows in the order they were written."""

    @abstractmethod
    def _upsert_reference(self, name: str, table: pa.Table) -> int:
        """Insert or update reference rows by key; return how many keys were new."""

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        yield

    def _reject_clashes(self, dataset: Dataset, table: pa.Table) -> None:  # noqa: B027 - optional hook
        """Raise if any row's exact key is stored with another value. Only engines without transactions
        need it: a batch written as several generations must be known clean before the first is."""

    def close(self) -> None:  # noqa: B027 - engines without resources need nothing
        pass

    # --- writing --------------------------------------------------------------------------------

    def register_instruments(self, batch: pa.Table) -> int:
        return self._register("instruments", validate_instruments(batch))

    def register_series(self, batch: pa.Table) -> int:
        return self._register("series", validate_series(batch))

    def _register(self, name: str, table: pa.Table) -> int:
        key = list(REFERENCES[name][1])
        if table.num_rows and pl.from_arrow(table.select(key)).is_duplicated().any():  # type: ignore[union-attr]
            raise BatchRejected(name, f"the same {key} appears twice in one batch")
        new = self._upsert_reference(name, table)
        self._reference_cache.pop(name, None)
        return new

    def reference_keys(self, name: str) -> set[tuple[str, ...]]:
        if name not in self._reference_cache:
            key = REFERENCES[name][1]
            rows = self.query(f"SELECT {', '.join(key)} FROM {name}")
            self._reference_cache[name] = set(zip(*(rows.column(c).to_pylist() for c in key), strict=True))
        return self._reference_cache[name]

    def write(self, dataset: Dataset, batch: pa.Table | pa.RecordBatch) -> WriteResult:
        """Validate and write a batch: all of it or nothing; known facts are skipped, changes are revisions."""
        table = validate_facts(dataset, batch, self.reference_keys)
        if table.num_rows == 0:
            return WriteResult(dataset.name, 0, 0, dataset.schema.empty_table())
        generations = revision_generations(dataset, table)
        if len(generations) > 1:
            self._reject_clashes(dataset, table)
        with self._transaction():
            parts = [self._write_new_revisions(dataset, part, order) for part, order in generations]
        rows = parts[0] if len(parts) == 1 else pa.concat_tables(decoded(p, dataset.schema) for p in parts)
        return WriteResult(dataset.name, table.num_rows, rows.num_rows, rows)

    def write_prices(self, batch: pa.Table | pa.RecordBatch) -> WriteResult:
        return self.write(PRICES, batch)

    # --- SQL shared by the engines' writers ------------------------------------------------------

    def overlap_sql(self, dataset: Dataset, table: pa.Table) -> str:
        """A query returning a row iff the store holds any fact in the batch's time range and first key."""
        return f"SELECT 1 FROM {dataset.name} WHERE {self._range_filter(dataset, table)} LIMIT 1"

    def restated_sql(self, dataset: Dataset, batch: str, table: pa.Table) -> str:
        """The batch rows whose exact key (entity and knowledge time) is not stored with the same values,
        plus a `_clash` flag for those whose key is stored with other values. A hash join: in a re-ingest
        this drops every row at once, so the costlier as-of comparison only sees what is left."""
        d = self.dialect
        on = " AND ".join(f"b.{c} = e.{c}" for c in dataset.key)
        same = " AND ".join(d.null_safe_equal(f"b.{c}", f"e.{c}") for c in dataset.values)
        stored = ", ".join((*dataset.key, *dataset.values))
        columns = ", ".join(f"b.{c} AS {c}" for c in dataset.columns)
        return (
            f"SELECT {columns}, (e.{KNOWLEDGE_TIME} IS NOT NULL) AS _clash "
            f"FROM {batch} AS b LEFT JOIN (SELECT {stored} FROM {dataset.name} "
            f"WHERE {self._range_filter(dataset, table)}) AS e ON {on} "
            f"WHERE e.{KNOWLEDGE_TIME} IS NULL OR NOT ({same})"
        )

    def pending_sql(self, dataset: Dataset, rest: str, table: pa.Table) -> str:
        """Of the rows left by `restated_sql`, those that are not the value already known at their
        knowledge time (an as-of join against the stored revisions of just their entities)."""
        d = self.dialect
        on = " AND ".join(f"b.{c} = e.{c}" for c in dataset.entity)
        same = " AND ".join(d.null_safe_equal(f"b.{c}", f"e.{c}") for c in dataset.values)
        stored = ", ".join(f"s.{c}" for c in (*dataset.entity, *dataset.values, KNOWLEDGE_TIME))
        mine = " AND ".join(f"s.{c} = r.{c}" for c in dataset.entity)
        columns = ", ".join(f"b.{c} AS {c}" for c in dataset.columns)
        revisions = (
            f"SELECT {stored} FROM {dataset.name} AS s {d.semi_join} {rest} AS r ON {mine} "
            f"WHERE {self._range_filter(dataset, table, alias='s')}"
        )
        return (
            f"SELECT {columns} FROM {rest} AS b ASOF LEFT JOIN ({revisions}) AS e "
            f"ON {on} AND b.{KNOWLEDGE_TIME} >= e.{KNOWLEDGE_TIME} "
            f"WHERE e.{KNOWLEDGE_TIME} IS NULL OR NOT ({same})"
        )

    def _range_filter(self, dataset: Dataset, table: pa.Table, alias: str = "") -> str:
        """Where stored facts could share an entity with the batch: per value of the first entity column
        (market, series…), the batch's time range for it — tight enough that a batch of new days for
        several markets does not look like it overlaps the days already loaded."""
        d = self.dialect
        first, time = dataset.entity[0], dataset.time_column
        values = distinct_rows(table, [first]).column(first).to_pylist()
        spans: Iterable[tuple[object, object, object]]
        if len(values) == 1:  # one market (series…): its span is the whole batch's, no grouping needed
            span = pc.min_max(table.column(time))
            spans = [(values[0], span["min"].as_py(), span["max"].as_py())]
        else:
            grouped = table.group_by(first).aggregate([(time, "min"), (time, "max")])
            spans = zip(
                *(grouped.column(c).to_pylist() for c in (first, f"{time}_min", f"{time}_max")), strict=True
            )
        prefix = f"{alias}." if alias else ""
        ranges = [
            f"({prefix}{first} = {d.literal(value)} AND {prefix}{time} >= {d.literal(lo)} "
            f"AND {prefix}{time} <= {d.literal(hi)})"
            for value, lo, hi in spans
        ]
        return "(" + " OR ".join(ranges) + ")"

    @staticmethod
    def clash_error(dataset: Dataset, clash: pa.Table) -> BatchRejected:
        row = clash.slice(0, 1).to_pylist()[0]
        described = ", ".join(f"{c}={row[c]}" for c in dataset.key)
        return BatchRejected(
            dataset.name,
            f"{clash.num_rows} row(s) restate a stored key with a different value ({described}); "
            "a correction needs a later knowledge_time",
        )

    # --- reading --------------------------------------------------------------------------------

    def _as_of_clause(self, as_of: dt.datetime | None, params: Params) -> list[str]:
        if as_of is None:
            return []
        return [f"{KNOWLEDGE_TIME} <= {self.dialect.param(params, 'as_of', utc(as_of, 'as_of'))}"]

    def _latest(self, dataset: Dataset, where: list[str], as_of: dt.datetime | None, params: Params) -> str:
        conditions = " AND ".join(where + self._as_of_clause(as_of, params)) or "true"
        select = f"SELECT {', '.join(dataset.columns)} FROM {dataset.name} WHERE {conditions}"
        return self.dialect.keep_last(select, list(dataset.entity), KNOWLEDGE_TIME)

    def _price_filter(
        self,
        market: str,
        run: str,
        start: dt.datetime,
        end: dt.datetime,
        locations: Sequence[str] | None,
        params: Params,
    ) -> list[str]:
        d = self.dialect
        # locations first: DuckDB checks each row group's min/max against the filters in this order, and
        # this one rules out nearly all of them (a point read ~0.15 ms faster than market first)
        where = [d.equals_any("location", locations, params, "location")] if locations else []
        return [
            *where,
            f"market = {d.param(params, 'market', market)}",
            f"run = {d.param(params, 'run', run)}",
            f"interval_start >= {d.param(params, 'start', utc(start, 'start'))}",
            f"interval_start < {d.param(params, 'end', utc(end, 'end'))}",
        ]

    def prices(
        self,
        *,
        market: str,
        run: str,
        start: dt.datetime,
        end: dt.datetime,
        locations: Sequence[str] | None = None,
        as_of: dt.datetime | None = None,
        columns: Sequence[str] | None = None,
    ) -> pa.Table:
        """Price facts in [start, end) as known at `as_of` (default: latest knowledge), ordered by location, time.

        `columns` narrows the read to those value or lineage columns (default: all); the entity columns
        and the knowledge time always come back, as revisions are told apart by them. A reader that serves
        prices but not their lineage reads a third of the bytes (the source columns are the widest)."""
        # a plain filtered read, revisions resolved in Arrow: cheaper than the engine's de-duplication for
        # the small ranges this serves (a location-day, a few locations for a month)
        schema = price_columns(tuple(columns) if columns is not None else None)
        params: Params = {}
        where = self._price_filter(market, run, start, end, locations, params)
        where += self._as_of_clause(as_of, params)
        rows = self.query(
            f"SELECT {', '.join(schema.names)} FROM {PRICES.name} WHERE {' AND '.join(where)}", params
        )
        # the filter pins market and run (and the location, if one): the rest tell the rows' entities apart
        keys = ["interval_start"] if locations and len(locations) == 1 else ["location", "interval_start"]
        return latest_revisions(schema, rows, keys)

    def prices_learned_from(self, sha256: str, knowledge_time: dt.datetime) -> pa.Table:
        """The price facts one file's batch wrote: those it stamped with its hash and its knowledge time
        (a batch restating a stored value writes nothing, so this is exactly what it wrote), ordered by
        location, run, interval_start."""
        d = self.dialect
        params: Params = {}
        where = (
            f"source_file_sha256 = {d.param(params, 'sha256', sha256)} AND "
            f"{KNOWLEDGE_TIME} = {d.param(params, 'known', utc(knowledge_time, 'knowledge_time'))}"
        )
        rows = self.query(
            f"SELECT {', '.join(PRICES.columns)} FROM {PRICES.name} WHERE {where} "
            "ORDER BY location, run, interval_start",
            params,
        )
        return with_schema(rows, PRICES.schema)

    def latest_prices(
        self,
        *,
        market: str,
        run: str,
        as_of: dt.datetime | None = None,
        locations: Sequence[str] | None = None,
        lookback: dt.timedelta = dt.timedelta(days=2),
    ) -> pa.Table:
        """Each location's most recent interval (within `lookback` of the market's newest one)."""
        d = self.dialect
        params: Params = {}
        scope = [
            f"market = {d.param(params, 'market', market)}",
            f"run = {d.param(params, 'run', run)}",
            *self._as_of_clause(as_of, params),
        ]
        newest = self.query(
            f"SELECT max(interval_start) AS newest FROM {PRICES.name} WHERE {' AND '.join(scope)}", params
        )
        last = newest.column("newest")[0].as_py()
        if last is None:
            return PRICES.schema.empty_table()
        params = {}
        window = self._price_filter(
            market, run, last - lookback, last + dt.timedelta(seconds=1), locations, params
        )
        latest = self._latest(PRICES, window, as_of, params)
        per_location = self.dialect.keep_last(latest, ["location"], "interval_start")
        return self.query(f"SELECT * FROM ({per_location}) ORDER BY location", params)

    def resample_prices(
        self,
        *,
        market: str,
        run: str,
        start: dt.datetime,
        end: dt.datetime,
        freq: Freq,
        locations: Sequence[str] | None = None,
        as_of: dt.datetime | None = None,
        timezone: str | None = None,
    ) -> pa.Table:
        """Time-weighted average, min and max of lmp per location and hour or market-local day."""
        if freq not in ("hour", "day"):
            raise ValueError(f"freq must be 'hour' or 'day' (got {freq!r})")
        zone = timezone or market_named(market).timezone
        params: Params = {}
        latest = self._latest(
            PRICES, self._price_filter(market, run, start, end, locations, params), as_of, params
        )
        bucket = self.dialect.bucket("interval_start", freq, zone)
        return self.query(
            f"SELECT market, location, run, {bucket} AS bucket_start, count(*) AS intervals, "
            f"sum(lmp * interval_minutes) / sum(interval_minutes) AS lmp_avg, "
            f"min(lmp) AS lmp_min, max(lmp) AS lmp_max "
            f"FROM ({latest}) GROUP BY market, location, run, bucket_start ORDER BY location, bucket_start",
            params,
        )

    def fundamentals(
        self,
        *,
        series_ids: Sequence[str],
        start: dt.datetime,
        end: dt.datetime,
        as_of: dt.datetime | None = None,
    ) -> pa.Table:
        d = self.dialect
        params: Params = {}
        where = [
            d.equals_any("series_id", series_ids, params, "series"),
            f"interval_start >= {d.param(params, 'start', utc(start, 'start'))}",
            f"interval_start < {d.param(params, 'end', utc(end, 'end'))}",
        ]
        latest = self._latest(FUNDAMENTALS, where, as_of, params)
        return self.query(f"SELECT * FROM ({latest}) ORDER BY series_id, interval_start", params)

    def forward_quotes(
        self,
        *,
        market: str,
        trade_date: dt.date,
        location: str | None = None,
        as_of: dt.datetime | None = None,
    ) -> pa.Table:
        d = self.dialect
        params: Params = {}
        where = [
            f"market = {d.param(params, 'market', market)}",
            f"trade_date = {d.param(params, 'trade_date', trade_date)}",
        ]
        if location is not None:
            where.append(f"location = {d.param(params, 'location', location)}")
        latest = self._latest(FORWARD_QUOTES, where, as_of, params)
        return self.query(
            f"SELECT * FROM ({latest}) ORDER BY location, block, delivery_start, delivery_end", params
        )

    def curve_points(
        self,
        *,
        curve_id: str,
        as_of_date: dt.date,
        scenario_id: str = "BASE",
        as_of: dt.datetime | None = None,
    ) -> pa.Table:
        d = self.dialect
        params: Params = {}
        where = [
            f"curve_id = {d.param(params, 'curve_id', curve_id)}",
            f"scenario_id = {d.param(params, 'scenario_id', scenario_id)}",
            f"as_of_date = {d.param(params, 'as_of_date', as_of_date)}",
        ]
        latest = self._latest(CURVE_POINTS, where, as_of, params)
        return self.query(f"SELECT * FROM ({latest}) ORDER BY granularity, delivery_start", params)

    def instruments(self, market: str | None = None) -> pa.Table:
        params: Params = {}
        where = f" WHERE market = {self.dialect.param(params, 'market', market)}" if market else ""
        return self.query(f"SELECT * FROM instruments{where} ORDER BY market, location", params)

    def series(self) -> pa.Table:
        return self.query("SELECT * FROM series ORDER BY series_id")

    def summary(self) -> StoreSummary:
        """Row counts and time spans per dataset, and per market for prices (all revisions counted)."""
        result = StoreSummary(engine=self.dialect.name)
        for dataset in DATASETS.values():
            time = dataset.time_column
            row = self.query(
                f"SELECT count(*) AS n, min({time}) AS first, max({time}) AS last FROM {dataset.name}"
            ).to_pylist()[0]
            result.datasets[dataset.name] = DatasetSummary(int(row["n"]), row["first"], row["last"])
        per_market = self.query(
            "SELECT market, count(*) AS rows, count(DISTINCT location) AS locations, "
            "min(interval_start) AS first, max(interval_start) AS last "
            f"FROM {PRICES.name} GROUP BY market ORDER BY market"
        )
        instruments = self.query("SELECT market, count(*) AS instruments FROM instruments GROUP BY market")
        counts = dict(
            zip(
                instruments.column("market").to_pylist(),
                instruments.column("instruments").to_pylist(),
                strict=True,
            )
        )
        for row in per_market.to_pylist():
            market_code = row.pop("market")
            result.markets[market_code] = {"instruments": counts.get(market_code, 0), **row}
        for market_code, n in counts.items():
            result.markets.setdefault(market_code, {"instruments": n, "rows": 0, "locations": 0})
        return result
