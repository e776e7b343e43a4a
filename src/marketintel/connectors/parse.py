"""Offline parsing: a file in, canonical rows out, sorted — what `marketintel parse` prints."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from marketintel.connectors.base import Connector
from marketintel.connectors.models import MAPPED_PRICES, ParseError, RawPayload
from marketintel.csvout import table_csv
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
    return table_csv(table)
