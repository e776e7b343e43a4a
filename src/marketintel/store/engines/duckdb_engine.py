"""The embedded default engine: one DuckDB file, one writer, a cursor per reading thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa

from marketintel.store.dialect import DuckDBDialect
from marketintel.store.engines.base import REFERENCES, TimeSeriesStore
from marketintel.store.layout import EntityOrder
from marketintel.store.models import DATASETS, Dataset

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
        self._con = duckdb.connect(self.path, read_only=read_only)
        self._con.execute("SET TimeZone = 'UTC'")
        self._write_lock = threading.RLock()
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._con.cursor()
            cursor.execute("SET TimeZone = 'UTC'")
            self._local.cursor = cursor
            self._cursors.append(cursor)
        return cursor

    def create_schema(self) -> None:
        with self._write_lock:
            for dataset in DATASETS.values():
                self._con.execute(create_table_sql(dataset.name, dataset.schema))
            for name, (schema, key) in REFERENCES.items():
                self._con.execute(create_table_sql(name, schema, key))

    def query(self, sql: str) -> pa.Table:
        return self._cursor().sql(sql).to_arrow_table()

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
            # rows go in sorted by entity so a location-day sits in one or two row groups (layout.py)
            con.register("_sorted", order.sorted_for_insert(table))
            try:
                con.execute(f"INSERT INTO {dataset.name} SELECT * FROM _sorted")
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
            con.register("_pending", rows)
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
