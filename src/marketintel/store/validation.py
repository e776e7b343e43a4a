"""Checks a batch against its dataset before anything is written: all of it is good, or none of it goes in.

Every rejection names the column, the first offending row (0-based, in the batch as given) and the
offending value, so that whoever produced the batch can find it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from marketintel.catalog.markets import LOCATION_TYPES, MARKETS
from marketintel.store.coded import coded_text, distinct_rows, is_coded_text, is_text, schema_of
from marketintel.store.models import (
    BLOCKS,
    GRANULARITIES,
    INSTRUMENTS_SCHEMA,
    SERIES_KINDS,
    SERIES_SCHEMA,
    UTC_TS,
    Dataset,
)

# reference table name -> the set of key tuples it holds
ReferenceKeys = Callable[[str], set[tuple[str, ...]]]


class BatchRejected(ValueError):
    """A batch that cannot be written; nothing of it was."""

    def __init__(self, dataset: str, message: str, *, column: str | None = None, row: int | None = None):
        where = "".join([f" column {column!r}" if column else "", f" row {row}" if row is not None else ""])
        super().__init__(f"{dataset}:{where}: {message}" if where else f"{dataset}: {message}")
        self.dataset = dataset
        self.column = column
        self.row = row


def conform(name: str, schema: pa.Schema, batch: pa.Table | pa.RecordBatch) -> pa.Table:
    """The batch with exactly the schema's columns, in order and type; naive timestamps are refused. A text
    column that comes coded stays coded (see store/coded.py)."""
    table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
    missing = [f.name for f in schema if f.name not in table.column_names and not f.nullable]
    if missing:
        raise BatchRejected(name, f"missing required column(s) {missing}")
    unexpected = [c for c in table.column_names if c not in schema.names]
    if unexpected:
        raise BatchRejected(name, f"unexpected column(s) {unexpected}; expected {schema.names}")
    columns = []
    for field in schema:
        if field.name not in table.column_names:
            columns.append(pa.nulls(table.num_rows, field.type))
            continue
        columns.append(_cast(name, field, table.column(field.name)))
    return pa.Table.from_arrays(columns, schema=schema_of(schema, table))


def _cast(name: str, field: pa.Field, column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_timestamp(field.type) and pa.types.is_timestamp(column.type) and column.type.tz is None:
        raise BatchRejected(
            name, "timestamps must carry a time zone (got naive timestamps)", column=field.name
        )
    try:
        coded = is_text(field.type) and is_coded_text(column.type)
        cast = coded_text(column) if coded else column.cast(field.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise BatchRejected(
            name, f"cannot read {column.type} as {field.type}: {exc}", column=field.name
        ) from None
    if not field.nullable and cast.null_count:
        raise BatchRejected(name, "must not be null", column=field.name, row=_first(pc.is_null(cast)))
    return cast


def _first(mask: pa.ChunkedArray | pa.Array) -> int:
    return int(pc.index(mask, True).as_py())


def _check_finite(name: str, table: pa.Table, columns: Iterable[str]) -> None:
    for column in columns:
        values = table.column(column)
        bad = pc.fill_null(pc.invert(pc.is_finite(values)), False)
        if pc.any(bad).as_py():
            row = _first(bad)
            raise BatchRejected(name, f"not a finite number: {values[row].as_py()}", column=column, row=row)


def _check_allowed(name: str, table: pa.Table, column: str, allowed: Iterable[str]) -> None:
    allowed_values = pa.array(sorted(allowed), pa.string())
    if is_coded_text(table.schema.field(column).type):
        # the values that occur, from the codes: if all are allowed, no row needs looking at
        present = distinct_rows(table, [column]).column(column)
        if pc.all(pc.is_in(present, value_set=allowed_values)).as_py():
            return
    bad = pc.invert(pc.is_in(table.column(column), value_set=allowed_values))
    bad = pc.fill_null(bad, False)
    if pc.any(bad).as_py():
        row = _first(bad)
        raise BatchRejected(
            name,
            f"unknown value {table.column(column)[row].as_py()!r}; allowed: {', '.join(allowed_values.to_pylist())}",
            column=column,
            row=row,
        )


def _check_intervals(name: str, table: pa.Table, start: str = "interval_start") -> None:
    minutes = table.column("interval_minutes").to_numpy()
    bad_length = (minutes <= 0) | ((60 % np.maximum(minutes, 1) != 0) & (minutes % 60 != 0))
    if bad_length.any():
        row = int(np.argmax(bad_length))
        raise BatchRejected(
            name,
            f"interval of {minutes[row]} minutes: must divide or be a multiple of 60",
            column="interval_minutes",
            row=row,
        )
    micros = table.column(start).cast(pa.int64()).to_numpy()
    # an interval up to an hour starts on a multiple of its length in UTC; longer ones (days) start on a
    # local midnight, which for every market here is on a quarter hour in UTC
    step = np.where(minutes <= 60, minutes, 15).astype(np.int64) * 60_000_000
    misaligned = micros % step != 0
    if misaligned.any():
        row = int(np.argmax(misaligned))
        raise BatchRejected(
            name,
            f"{table.column(start)[row].as_py().isoformat()} is not aligned to {minutes[row]}-minute intervals",
            column=start,
            row=row,
        )


def _check_ordered(name: str, table: pa.Table, start: str, end: str) -> None:
    bad = pc.less_equal(table.column(end), table.column(start))
    if pc.any(bad).as_py():
        row = _first(bad)
        raise BatchRejected(name, f"{end} must be after {start}", column=end, row=row)


def _check_market_runs(name: str, table: pa.Table) -> None:
    _check_allowed(name, table, "market", MARKETS)
    pairs = distinct_rows(table, ["market", "run"])
    for market_code, run in zip(
        pairs.column("market").to_pylist(), pairs.column("run").to_pylist(), strict=True
    ):
        if run not in MARKETS[market_code].runs:
            bad = pc.and_(pc.equal(table.column("market"), market_code), pc.equal(table.column("run"), run))
            raise BatchRejected(
                name,
                f"unknown run {run!r} for market {market_code}; allowed: {', '.join(MARKETS[market_code].runs)}",
                column="run",
                row=_first(bad),
            )


def _check_references(name: str, table: pa.Table, dataset: Dataset, reference_keys: ReferenceKeys) -> None:
    assert dataset.reference is not None
    ref_table, mapping = dataset.reference
    columns = [fact_column for fact_column, _ in mapping]
    present = distinct_rows(table, columns)
    known = reference_keys(ref_table)
    rows = zip(*(present.column(c).to_pylist() for c in columns), strict=True)
    unknown = [key for key in rows if key not in known]
    if unknown:
        key = unknown[0]
        mask = pc.equal(table.column(columns[0]), key[0])
        for column, value in zip(columns[1:], key[1:], strict=True):
            mask = pc.and_(mask, pc.equal(table.column(column), value))
        described = ", ".join(f"{c}={v!r}" for c, v in zip(columns, key, strict=True))
        raise BatchRejected(
            name,
            f"unknown {ref_table[:-1] if ref_table.endswith('s') else ref_table} ({described}); "
            f"register it first ({len(unknown)} unknown in this batch)",
            column=columns[-1],
            row=_first(mask),
        )


def validate_facts(
    dataset: Dataset, batch: pa.Table | pa.RecordBatch, reference_keys: ReferenceKeys
) -> pa.Table:
    """The batch conformed to the dataset's schema, or BatchRejected saying what and where."""
    table = conform(dataset.name, dataset.schema, batch)
    float_columns = [f.name for f in dataset.schema if pa.types.is_floating(f.type)]
    _check_finite(dataset.name, table, float_columns)
    if "interval_minutes" in table.column_names:
        _check_intervals(dataset.name, table)
    if "run" in table.column_names:
        _check_market_runs(dataset.name, table)
    if "block" in table.column_names:
        _check_allowed(dataset.name, table, "block", BLOCKS)
    if "granularity" in table.column_names:
        _check_allowed(dataset.name, table, "granularity", GRANULARITIES)
    if "delivery_end" in table.column_names:
        _check_ordered(dataset.name, table, "delivery_start", "delivery_end")
    if dataset.reference is not None and table.num_rows:
        _check_references(dataset.name, table, dataset, reference_keys)
    return table


def validate_instruments(batch: pa.Table | pa.RecordBatch) -> pa.Table:
    table = conform("instruments", INSTRUMENTS_SCHEMA, batch)
    _check_allowed("instruments", table, "market", MARKETS)
    _check_allowed("instruments", table, "location_type", LOCATION_TYPES)
    _check_timezones("instruments", table)
    return table


def validate_series(batch: pa.Table | pa.RecordBatch) -> pa.Table:
    table = conform("series", SERIES_SCHEMA, batch)
    _check_allowed("series", table, "kind", SERIES_KINDS)
    markets = table.column("market")
    if markets.null_count < len(markets):
        _check_allowed("series", table.filter(pc.is_valid(markets)), "market", MARKETS)
    _check_timezones("series", table)
    return table


def _check_timezones(name: str, table: pa.Table) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    for row, zone in enumerate(table.column("timezone").to_pylist()):
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise BatchRejected(name, f"unknown time zone {zone!r}", column="timezone", row=row) from None


__all__ = [
    "UTC_TS",
    "BatchRejected",
    "ReferenceKeys",
    "conform",
    "validate_facts",
    "validate_instruments",
    "validate_series",
]
