"""CSV of an Arrow table as people and spreadsheets read it: UTC timestamps as ISO-8601 with Z, empty
cells for missing values, quotes only where a value needs them."""

from __future__ import annotations

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

UTC_SECONDS = pa.timestamp("s", tz="UTC")
UTC_MICROS = pa.timestamp("us", tz="UTC")


def table_csv(table: pa.Table) -> bytes:
    columns = [
        iso_z(table.column(f.name)) if pa.types.is_timestamp(f.type) else table.column(f.name)
        for f in table.schema
    ]
    frame = pl.from_arrow(pa.Table.from_arrays(columns, names=table.column_names))
    assert isinstance(frame, pl.DataFrame)
    return frame.write_csv().encode()


def iso_z(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Timestamps as UTC ISO-8601 text ending in Z: whole seconds when every value is on a second (interval
    starts), with microseconds otherwise (knowledge times)."""
    micros = column.cast(UTC_MICROS)
    seconds = pc.cast(micros, UTC_SECONDS, safe=False)
    on_seconds = pc.all(pc.equal(seconds.cast(UTC_MICROS), micros)).as_py()
    if on_seconds is False:
        return pc.strftime(micros, format="%Y-%m-%dT%H:%M:%SZ")  # %S carries the microseconds here
    return pc.strftime(seconds, format="%Y-%m-%dT%H:%M:%SZ")
