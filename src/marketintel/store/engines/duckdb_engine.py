"""The embedded default engine: one DuckDB file, one writer, a cursor per reading thread."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa

from marketintel.store.coded import one_text_columns
from marketintel.store.dialect import DuckDBDialect, Params
from marketintel.store.engines.base import REFERENCES, TimeSeriesStore
from marketintel.store.layout import EntityOrder, entity_order
from marketintel.store.models import DATASETS, Dataset

# Blocks of 64 KiB, not the default 256 KiB. A point read (a location-day, 288 rows) first loads the
# blocks holding its columns, each read and checksummed whole: at 50 M rows a first touch reads 0.5 MiB in
# ~8 blocks instead of 1.3 MiB in ~5, and as each block's segment keeps its own min/max, the scan skips
# more of a row group (61 k rows scanned, not 123 k). 16 KiB reads less still but costs ~15% more CPU on
# ingest and 25% more disk; 64 KiB costs neither. Only a new file takes it: a file keeps the block size
# it was created with.
BLOCK_SIZE = 65_536
# The write-ahead log is folded into the file once it holds this much. At DuckDB's 16 MB an hour of CAISO
# nodal prices (48 k rows, ~5 MB of log) set off a checkpoint every third file, each rewriting the row
# group the last one left half full: 64 MB costs 12% less store time over a day of hourly files (the final
# checkpoint counted), and at most a few seconds of log replay after a crash.
CHECKPOINT_THRESHOLD = "64MB"
# parsed statements kept per reading thread (their text holds markers, not values: a handful suffice)
PARSED_STATEMENTS = 64

_TYPES = {
    pa.string(): "VARCHAR",
    pa.int16(): "SMALLINT",
    pa.float64(): "DOUBLE",
    pa.date32(): "DATE",
}


def _column_type(field: pa.Field) -> str:
    if pa.types.is_timestamp(field.type):
        return "TIMESTAMPTZ"
    return _TYPES[field.type]


def create_table_sql(name: str, schema: pa.Schema, primary_key: tuple[str, ...] = ()) -> str:
    columns = [f"{f.name} {_column_type(f)}{'' if f.nullable else ' NOT NULL'}" for f in schema]
    if primary_key:
        columns.append(f"PRIMARY KEY ({', '.join(primary_key)})")
    return f"CREATE TABLE IF NOT EXISTS {name} ({', '.join(columns)})"


class DuckDBStore(TimeSeriesStore):
    dialect = DuckDBDialect()

    def __init__(self, path: Path | str, *, read_only: bool = False) -> None:
        super().__init__()
        self.path = str(path)
        self.url = f"duckdb:///{self.path}"
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._con = duckdb.connect(
            self.path, read_only=read_only, config={"default_block_size": str(BLOCK_SIZE)}
        )
        self._con.execute("SET TimeZone = 'UTC'")
        if not read_only:
            self._con.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
        self._write_lock = threading.RLock()
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        # An executed statement's rows reach Arrow through one extra copy, which the library warns about on
        # every call; `query` accepts the copy to run statements parsed once. Only warnings raised from this
        # module are silenced; set here rather than on import, so that it holds when a test runner resets
        # the filters after importing.
        warnings.filterwarnings(
            "ignore", message="Arrow output on a DB-API result", category=UserWarning, module=__name__
        )

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._con.cursor()
            cursor.execute("SET TimeZone = 'UTC'")
            self._local.cursor = cursor
            self._local.parsed = {}
            self._cursors.append(cursor)
        return cursor

    def create_schema(self) -> None:
        with self._write_lock:
            for dataset in DATASETS.values():
                self._con.execute(create_table_sql(dataset.name, dataset.schema))
            for name, (schema, key) in REFERENCES.items():
                self._con.execute(create_table_sql(name, schema, key))

    def query(self, sql: str, params: Params | None = None) -> pa.Table:
        cursor = self._cursor()
        if not params:
            return cursor.sql(sql).to_arrow_table()
        # With its values bound, a read's text is the same on every call: parse it once per thread. Parsing
        # is a fifth of a point read; a lazy relation (`sql`) would also parse and bind the text twice.
        parsed: dict[str, duckdb.Statement] = self._local.parsed
        statement = parsed.get(sql)
        if statement is None:
            if len(parsed) >= PARSED_STATEMENTS:
                parsed.clear()
            (statement,) = cursor.extract_statements(sql)
            parsed[sql] = statement
        return cursor.execute(statement, params).to_arrow_table()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._write_lock:
            self._con.begin()
            try:
                yield
            except BaseException:
                self._con.rollback()
                raise
            self._con.commit()

    def _write_new_revisions(self, dataset: Dataset, table: pa.Table, order: EntityOrder) -> pa.Table:
        con = self._con
        if not con.execute(self.overlap_sql(dataset, table)).fetchall():
            # rows go in sorted by entity so a location-day sits in one or two row groups (layout.py); a
            # text that is the same in every row (market, run, source, file) goes in as one value
            constants = one_text_columns(table)
            rows = order.sorted_for_insert(table).drop_columns(list(constants))
            select = ", ".join("?" if c in constants else c for c in dataset.columns)
            con.register("_sorted", rows)
            try:
                con.execute(f"INSERT INTO {dataset.name} SELECT {select} FROM _sorted", [*constants.values()])
            finally:
                con.unregister("_sorted")
            return table
        con.register("_batch", table)
        try:
            rest = con.sql(self.restated_sql(dataset, "_batch", table)).to_arrow_table()
        finally:
            con.unregister("_batch")
        clash = rest.filter(rest.column("_clash"))
        if clash.num_rows:
            raise self.clash_error(dataset, clash)
        rest = rest.drop_columns(["_clash"]).cast(dataset.schema)
        if not rest.num_rows:
            return rest
        con.register("_rest", rest)
        try:
            rows = con.sql(self.pending_sql(dataset, "_rest", rest)).to_arrow_table().cast(dataset.schema)
        finally:
            con.unregister("_rest")
        if rows.num_rows:
            # revisions too go in by entity, so a location-day's revisions share blocks (layout.py)
            con.register("_pending", entity_order(dataset, rows).sorted_for_insert(rows))
            try:
                con.execute(f"INSERT INTO {dataset.name} SELECT * FROM _pending")
            finally:
                con.unregister("_pending")
        return rows

    def _upsert_reference(self, name: str, table: pa.Table) -> int:
        key = REFERENCES[name][1]
        with self._write_lock:
            con = self._con
            con.register("_reference", table)
            try:
                on = " AND ".join(f"r.{c} = t.{c}" for c in key)
                new = con.execute(
                    f"SELECT count(*) FROM _reference r WHERE NOT EXISTS (SELECT 1 FROM {name} t WHERE {on})"
                ).fetchall()[0][0]
                con.execute(f"INSERT OR REPLACE INTO {name} SELECT * FROM _reference")
            finally:
                con.unregister("_reference")
        return int(new)

    def close(self) -> None:
        for cursor in self._cursors:
            cursor.close()
        self._con.close()
