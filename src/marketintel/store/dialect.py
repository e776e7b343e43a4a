"""The few places where DuckDB's and ClickHouse's SQL differ, so the store's queries are written once.

A value enters a statement through `param`: DuckDB binds it (so a read's text is the same on every call and
is parsed once, see DuckDBStore.query), ClickHouse gets a literal (its parser is cheap, and chdb's parameters
take text-escaped values). Every literal goes through these functions, which quote strings so user input
never becomes SQL.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Sequence

# the values bound to one statement's markers, by name
Params = dict[str, object]


def utc(value: dt.datetime, name: str) -> dt.datetime:
    """The instant in UTC; a naive datetime is an error, not silently taken as UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must carry a time zone (got naive {value.isoformat()})")
    return value.astimezone(dt.UTC)


class Dialect(ABC):
    name: str
    semi_join: str  # rows of the left side that have a match on the right, each once

    @abstractmethod
    def string(self, value: str) -> str: ...

    @abstractmethod
    def timestamp(self, value: dt.datetime) -> str: ...

    @abstractmethod
    def date(self, value: dt.date) -> str: ...

    @abstractmethod
    def keep_last(self, select: str, partition: Sequence[str], order_by: str) -> str:
        """`select` reduced to its last row (by `order_by`) within each `partition` group."""

    @abstractmethod
    def bucket(self, column: str, freq: str, timezone: str) -> str:
        """The start (as a UTC instant) of the hour or local day that `column` falls in."""

    def literal(self, value: object) -> str:
        if isinstance(value, str):
            return self.string(value)
        if isinstance(value, dt.datetime):
            return self.timestamp(value)
        if isinstance(value, dt.date):
            return self.date(value)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return repr(value)
        raise TypeError(f"cannot render {type(value).__name__} as a SQL literal")

    def param(self, params: Params, name: str, value: object) -> str:
        """`value` as it appears in a statement: here a literal; a dialect that binds values records it in
        `params` under `name` and returns the marker instead."""
        return self.literal(value)

    def equals_any(self, column: str, values: Sequence[object], params: Params, name: str) -> str:
        markers = [self.param(params, f"{name}_{i}", v) for i, v in enumerate(values)]
        if len(markers) == 1:  # DuckDB plans `x IN (v)` about a millisecond slower than `x = v`
            return f"{column} = {markers[0]}"
        return f"{column} IN ({', '.join(markers)})"

    def null_safe_equal(self, left: str, right: str) -> str:
        # coalesce, not OR: `1 = NULL OR false` is NULL, which would hide a change from or to NULL
        return f"coalesce({left} = {right}, {left} IS NULL AND {right} IS NULL)"


class DuckDBDialect(Dialect):
    name = "duckdb"
    semi_join = "SEMI JOIN"

    def string(self, value: str) -> str:
        return "'" + value.replace("'", "''") + "'"

    def timestamp(self, value: dt.datetime) -> str:
        return f"TIMESTAMPTZ '{utc(value, 'timestamp').strftime('%Y-%m-%d %H:%M:%S.%f')}+00'"

    def param(self, params: Params, name: str, value: object) -> str:
        params[name] = utc(value, name) if isinstance(value, dt.datetime) else value
        return f"${name}"

    def date(self, value: dt.date) -> str:
        return f"DATE '{value.isoformat()}'"

    def keep_last(self, select: str, partition: Sequence[str], order_by: str) -> str:
        return (
            f"SELECT * FROM ({select}) "
            f"QUALIFY row_number() OVER (PARTITION BY {', '.join(partition)} ORDER BY {order_by} DESC) = 1"
        )

    def bucket(self, column: str, freq: str, timezone: str) -> str:
        if freq == "hour":
            return f"date_trunc('hour', {column})"
        zone = self.string(timezone)
        return f"(date_trunc('day', {column} AT TIME ZONE {zone}) AT TIME ZONE {zone})"


class ClickHouseDialect(Dialect):
    name = "clickhouse"
    semi_join = "LEFT SEMI JOIN"

    def string(self, value: str) -> str:
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    def timestamp(self, value: dt.datetime) -> str:
        text = utc(value, "timestamp").strftime("%Y-%m-%d %H:%M:%S.%f")
        return f"toDateTime64('{text}', 6, 'UTC')"

    def date(self, value: dt.date) -> str:
        return f"toDate('{value.isoformat()}')"

    def keep_last(self, select: str, partition: Sequence[str], order_by: str) -> str:
        keys = ", ".join(partition)
        return f"SELECT * FROM ({select}) ORDER BY {keys}, {order_by} DESC LIMIT 1 BY {keys}"

    def bucket(self, column: str, freq: str, timezone: str) -> str:
        if freq == "hour":
            # toStartOfHour gives a DateTime, which ClickHouse sends to Arrow as bare uint32 seconds
            return f"toDateTime64(toStartOfHour({column}), 6, 'UTC')"
        return f"toDateTime64(toTimeZone(toStartOfDay({column}, {self.string(timezone)}), 'UTC'), 6, 'UTC')"
