"""Offline parsing: a file in, canonical rows out, sorted — what `marketintel parse` prints."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from marketintel.connectors.base import Connector
from marketintel.connectors.models import MAPPED_PRICES, ParseError, RawPayload
from marketintel.store.validation import BatchRejected, conform


def payload_from_file(path: Path) -> RawPayload:
    stat = path.stat()
    return RawPayload(
        name=path.name,
        content=path.read_bytes(),
        fetched_at=dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC),
        url=None,
    )


def parse_payload(connector: Connector, payload: RawPayload) -> pa.Table:
    """The payload mapped, checked against the canonical types, sorted by location, run, interval_start."""
    mapped = connector.map_to_schema(payload)
    try:
        table = conform(connector.name, MAPPED_PRICES, mapped)
    except BatchRejected as exc:
        raise ParseError(connector.name, payload.name, f"mapped rows are not canonical: {exc}") from None
    order = pc.sort_indices(
        table, sort_keys=[("location", "ascending"), ("run", "ascending"), ("interval_start", "ascending")]
    )
    return table.take(order)


def canonical_csv(table: pa.Table) -> bytes:
    """CSV of mapped prices with UTC ISO-8601 'Z' timestamps; missing components are empty cells."""
    seconds = table.column("interval_start").cast(pa.timestamp("s", tz="UTC"))
    starts = pc.strftime(seconds, format="%Y-%m-%dT%H:%M:%SZ")
    shown = table.set_column(table.schema.get_field_index("interval_start"), "interval_start", starts)
    frame = pl.from_arrow(shown)
    assert isinstance(frame, pl.DataFrame)
    return frame.write_csv().encode()
