"""ClickHouse as the time-series engine: in process (chdb) or a server (clickhouse-connect), one set of SQL.

`ClickHouseStore` holds every statement — DDL, the revision-aware writes, the reference upserts — and
runs them through a small executor that is the only thing the two transports differ in: how a statement
is sent, and how an Arrow table is made into something SQL can select from. The test suite runs the
store through chdb, so the SQL a server runs is the SQL the suite exercised.

ClickHouse has no transactions across statements. A batch is validated and clash-checked before any
insert, so a rejected batch writes nothing — also a batch carrying several revisions of one fact, which
is written as one insert per revision generation (see `revision_generations`): the whole batch is
clash-checked before the first (`_reject_clashes`). Each insert is atomic per partition (month), not as
a whole, and a concurrent writer can still land between two generations.
"""

from __future__ import annotations

import itertools
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import pyarrow as pa
import pyarrow.compute as pc

from marketintel.store.coded import decoded
from marketintel.store.dialect import ClickHouseDialect, Params
from marketintel.store.engines.base import REFERENCES, TimeSeriesStore
from marketintel.store.layout import EntityOrder
from marketintel.store.models import DATASETS, FORWARD_QUOTES, KNOWLEDGE_TIME, PRICES, UTC_TS, Dataset

if TYPE_CHECKING:  # both imported where used: neither transport needs the other's package
    from chdb.session import Session
    from clickhouse_connect.driver.client import Client

DATABASE = "marketintel"

# Settings every session runs with, so the shared SQL in base.py means on ClickHouse what it means on DuckDB.
SESSION_SETTINGS: dict[str, int] = {
    # an unmatched outer-join row carries NULLs, not 0 / 1970-01-01 (pending_sql's ASOF LEFT JOIN)
    "join_use_nulls": 1,
    # min/max/sum over no rows are NULL, not 0 / 1970-01-01 (summary, latest_prices on an empty market)
    "aggregate_functions_null_for_empty": 1,
    # the ReplacingMergeTree reference tables read as one row per key whether or not parts have merged;
    # a no-op for the MergeTree fact tables
    "final": 1,
}

_TYPES = {
    pa.string(): "String",
    pa.int16(): "Int16",
    pa.float64(): "Float64",
    pa.date32(): "Date32",  # 1900-2299; Date stops at 1970-2149
}
# few distinct values per part: dictionary-encoded storage and faster filters
_LOW_CARDINALITY = frozenset(
    {"market", "location", "run", "source", "block", "product", "granularity", "scenario_id"}
)
# sort keys that differ from entity + knowledge_time, ordered for how the facts are read
_SORT_KEYS: dict[str, tuple[str, ...]] = {
    PRICES.name: ("market", "run", "location", "interval_start", KNOWLEDGE_TIME),
    FORWARD_QUOTES.name: (
        "market",
        "trade_date",
        "location",
        "block",
        "delivery_start",
        "delivery_end",
        KNOWLEDGE_TIME,
    ),
}


def column_type(field: pa.Field, *, low_cardinality: bool = True) -> str:
    base = "DateTime64(6, 'UTC')" if pa.types.is_timestamp(field.type) else _TYPES[field.type]
    if field.nullable:
        base = f"Nullable({base})"
    if low_cardinality and field.name in _LOW_CARDINALITY:
        base = f"LowCardinality({base})"
    return base


def columns_sql(schema: pa.Schema, *, low_cardinality: bool = True) -> str:
    return ", ".join(f"{f.name} {column_type(f, low_cardinality=low_cardinality)}" for f in schema)


def fact_table_sql(dataset: Dataset) -> str:
    order = _SORT_KEYS.get(dataset.name, dataset.key)
    assert sorted(order) == sorted(dataset.key), f"{dataset.name}: sort key must be entity + knowledge_time"
    return (
        f"CREATE TABLE IF NOT EXISTS {dataset.name} ({columns_sql(dataset.schema)}) ENGINE = MergeTree "
        f"PARTITION BY toYYYYMM({dataset.time_column}) ORDER BY ({', '.join(order)})"
    )


def reference_table_sql(name: str, schema: pa.Schema, key: tuple[str, ...]) -> str:
    # an upsert is an insert: the last row inserted for a key wins, and reads see it through `final`
    return (
        f"CREATE TABLE IF NOT EXISTS {name} ({columns_sql(schema)}) "
        f"ENGINE = ReplacingMergeTree ORDER BY ({', '.join(key)})"
    )


def _arrow_type(type_: pa.DataType) -> pa.DataType:
    if pa.types.is_dictionary(type_):  # LowCardinality, should the server send it as a dictionary
        return _arrow_type(type_.value_type)
    if pa.types.is_timestamp(type_):
        return UTC_TS
    if pa.types.is_date(type_):
        return pa.date32()
    if pa.types.is_unsigned_integer(type_):  # count() is UInt64, boolean expressions UInt8
        return pa.int64()
    if pa.types.is_large_string(type_):
        return pa.string()
    return type_


def conform(table: pa.Table) -> pa.Table:
    """The result with the types DuckDB returns for the same query: UTC microseconds, int64 counts, and
    every column nullable (ClickHouse marks non-Nullable columns `not null`)."""
    schema = pa.schema([pa.field(f.name, _arrow_type(f.type)) for f in table.schema])
    return table if table.schema == schema else table.cast(schema)


class Executor(ABC):
    """How statements reach ClickHouse. Calls are serialised: neither transport takes concurrent ones."""

    database: str

    def __init__(self) -> None:
        self.lock = threading.RLock()

    @abstractmethod
    def create_database(self) -> None: ...

    @abstractmethod
    def command(self, sql: str) -> None: ...

    @abstractmethod
    def query(self, sql: str) -> pa.Table: ...

    @abstractmethod
    @contextmanager
    def staged(self, table: pa.Table) -> Iterator[str]:
        """A relation (for FROM) holding `table`'s rows while the block runs, with the lock held."""

    @abstractmethod
    def close(self) -> None: ...


class ClickHouseStore(TimeSeriesStore):
    dialect = ClickHouseDialect()

    def __init__(self, executor: Executor, url: str) -> None:
        super().__init__()
        self._ex = executor
        self.url = url

    def create_schema(self) -> None:
        with self._ex.lock:
            self._ex.create_database()
            for dataset in DATASETS.values():
                self._ex.command(fact_table_sql(dataset))
            for name, (schema, key) in REFERENCES.items():
                self._ex.command(reference_table_sql(name, schema, key))

    def query(self, sql: str, params: Params | None = None) -> pa.Table:
        if params:  # ClickHouseDialect.param writes values in as literals
            raise ValueError("ClickHouse statements carry their values as literals, not parameters")
        return conform(self._ex.query(sql))

    def _insert(self, name: str, columns: list[str], source: str) -> None:
        names = ", ".join(columns)
        self._ex.command(f"INSERT INTO {name} ({names}) SELECT {names} FROM {source}")

    def _write_new_revisions(self, dataset: Dataset, table: pa.Table, order: EntityOrder) -> pa.Table:
        # MergeTree sorts each insert by the table's ORDER BY key itself: `order` is not needed here
        table = decoded(table, dataset.schema)  # staged through chdb's Python(): plain text only
        # the lock (re-entrant; staged() takes it too) keeps other writes of this process out from the
        # first check to the insert
        with self._ex.lock:
            with self._ex.staged(table) as batch:
                if not self._ex.query(self.overlap_sql(dataset, table)).num_rows:
                    self._insert(dataset.name, dataset.columns, batch)
                    return table
                rest = self.query(self.restated_sql(dataset, batch, table))
            clash = rest.filter(pc.fill_null(pc.not_equal(rest.column("_clash"), 0), False))
            if clash.num_rows:
                raise self.clash_error(dataset, clash)
            rest = rest.drop_columns(["_clash"]).cast(dataset.schema)
            if not rest.num_rows:
                return rest
            with self._ex.staged(rest) as changed:
                rows = self.query(self.pending_sql(dataset, changed, rest)).cast(dataset.schema)
            if rows.num_rows:
                with self._ex.staged(rows) as new:
                    self._insert(dataset.name, dataset.columns, new)
            return rows

    def _reject_clashes(self, dataset: Dataset, table: pa.Table) -> None:
        table = decoded(table, dataset.schema)
        # no transactions here: a batch carrying several revisions of a fact is written one generation
        # at a time, so a clash in a later generation must be found before the first one is inserted
        with self._ex.staged(table) as batch:
            rest = self.query(self.restated_sql(dataset, batch, table))
        clash = rest.filter(pc.fill_null(pc.not_equal(rest.column("_clash"), 0), False))
        if clash.num_rows:
            raise self.clash_error(dataset, clash)

    def _upsert_reference(self, name: str, table: pa.Table) -> int:
        key = ", ".join(REFERENCES[name][1])
        with self._ex.staged(table) as rows:
            new = self._ex.query(
                f"SELECT count() AS n FROM {rows} WHERE ({key}) NOT IN (SELECT {key} FROM {name})"
            )
            self._insert(name, table.column_names, rows)
        return int(new.column("n")[0].as_py())

    def close(self) -> None:
        self._ex.close()


# --- chdb: ClickHouse in this process -----------------------------------------------------------------

# The name under which a staged table is visible to chdb's Python() table function. chdb resolves the
# name by walking the calling Python frames, innermost first, locals then globals, and takes the first
# table-like object so named; ChdbExecutor binds it as a local of the frame that calls chdb, so it is
# always found there first, and is unlikely to collide with anything further up.
_STAGED = "_marketintel_staged_arrow"


class ChdbExecutor(Executor):
    def __init__(self, path: Path) -> None:
        from chdb.session import Session

        super().__init__()
        self.database = DATABASE
        path.mkdir(parents=True, exist_ok=True)
        # chdb runs one embedded engine per process, bound to the first session's path: sessions on that
        # path may coexist, but opening another path while one is open fails (BAD_ARGUMENTS, "EmbeddedServer
        # already initialized with path ..."). Close a store before opening one on another directory.
        self._session: Session = Session(str(path))
        self._staged: pa.Table | None = None
        self.create_database()  # `USE` needs it; the engine's own `default` database is not an Atomic one
        for name, value in SESSION_SETTINGS.items():
            self.command(f"SET {name} = {value}")

    def create_database(self) -> None:
        self.command(f"CREATE DATABASE IF NOT EXISTS {self.database} ENGINE = Atomic")
        self.command(f"USE {self.database}")  # base.py's SQL names tables without a database

    def _run(self, sql: str, fmt: str) -> Any:
        with self.lock:  # a session is one connection: keep statements (and _staged) to one thread at a time
            _marketintel_staged_arrow = self._staged  # read by chdb's Python(): see _STAGED
            return self._session.query(sql, fmt)

    def command(self, sql: str) -> None:
        self._run(sql, "CSV")

    def query(self, sql: str) -> pa.Table:
        result: pa.Table = self._run(sql, "ArrowTable")
        return result

    @contextmanager
    def staged(self, table: pa.Table) -> Iterator[str]:
        with self.lock:
            outer, self._staged = self._staged, table
            try:
                yield f"Python({_STAGED})"
            finally:
                self._staged = outer

    def close(self) -> None:
        with self.lock:
            self._session.close()


class ChdbStore(ClickHouseStore):
    """ClickHouse embedded in this process, its data in a directory: no server, the same SQL."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        super().__init__(ChdbExecutor(self.path), f"chdb:///{path}")


# --- a ClickHouse server over HTTP -----------------------------------------------------------------------

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ServerExecutor(Executor):
    """clickhouse-connect over HTTP. A staged table is a session-scoped temporary table, which is why the
    client keeps its (auto-generated) session id and every call holds the lock: a session takes one
    request at a time."""

    def __init__(self, url: str) -> None:
        import clickhouse_connect

        super().__init__()
        parts = urlsplit(url)
        self.database = parts.path.strip("/") or DATABASE
        if not _IDENTIFIER.fullmatch(self.database):
            raise ValueError(f"not a ClickHouse database name: {self.database!r}")
        self._client: Client = clickhouse_connect.get_client(
            host=parts.hostname or "localhost",
            port=parts.port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else "",
            secure=parts.scheme == "clickhouses",
            settings=SESSION_SETTINGS,
            autogenerate_session_id=True,  # temporary tables live in a session
        )
        # set after connecting, so that a database that create_schema is about to create is no obstacle
        self._client.database = self.database
        self._names = itertools.count()

    def create_database(self) -> None:
        with self.lock:
            self._client.command(f"CREATE DATABASE IF NOT EXISTS {self.database}", use_database=False)

    def command(self, sql: str) -> None:
        with self.lock:
            self._client.command(sql)

    def query(self, sql: str) -> pa.Table:
        with self.lock:
            return self._client.query_arrow(sql, use_strings=True)

    @contextmanager
    def staged(self, table: pa.Table) -> Iterator[str]:
        name = f"_marketintel_staged_{next(self._names)}"
        with self.lock:
            self._client.command(
                f"CREATE TEMPORARY TABLE {name} ({columns_sql(table.schema, low_cardinality=False)}) ENGINE = Memory"
            )
            try:
                self._client.insert_arrow(name, table)
                yield name
            finally:
                self._client.command(f"DROP TEMPORARY TABLE IF EXISTS {name}")

    def close(self) -> None:
        with self.lock:
            self._client.close()


class ClickHouseServerStore(ClickHouseStore):
    """A ClickHouse server: `clickhouse://user:password@host:8123/database` (`clickhouses://` for TLS)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        user, _, host = parts.netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}@{host}" if user else host  # no password in `url`: it gets logged
        super().__init__(ServerExecutor(url), parts._replace(netloc=netloc).geturl())
