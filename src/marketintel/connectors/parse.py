"""Offline parsing: a file in, canonical rows out, sorted — what `marketintel parse` prints."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from marketintel.connectors.base import Connector
from marketintel.connectors.models import MAPPED_PRICES, ParseError, RawPayload
from marketintel.csvout import table_csv
from marketintel.store.validation import BatchRejected, conform

ORDER = ("location", "run", "interval_start")  # the order of `marketintel parse` output


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
    if in_order(table, ORDER):
        return table  # connectors that pivot on a sorted grid (CAISO's fast path) already deliver it so
    return table.take(pc.sort_indices(table, sort_keys=[(c, "ascending") for c in ORDER]))


def in_order(table: pa.Table, keys: tuple[str, ...]) -> bool:
    """Whether the rows are already sorted by `keys` (ties allowed): one vectorised pass over neighbours,
    a small fraction of a sort. A stable sort of such a table would leave it as it is."""
    n = table.num_rows - 1
    if n < 1:
        return True
    later = pa.array(np.zeros(n, dtype=bool))  # some earlier key already puts the next row after this one
    same = pa.array(np.ones(n, dtype=bool))  # every key so far equal between this row and the next
    for key in keys:
        column = table.column(key)
        this, after = column.slice(0, n), column.slice(1)
        later = pc.or_(later, pc.and_(same, pc.less(this, after)))
        same = pc.and_(same, pc.equal(this, after))
    return pc.all(pc.or_(later, same), skip_nulls=False).as_py() is True


def canonical_csv(table: pa.Table) -> bytes:
    """CSV of mapped prices with UTC ISO-8601 'Z' timestamps; missing components are empty cells."""
    return table_csv(table)
