"""Offline parsing: a file in, canonical rows out, sorted — what `marketintel parse` prints."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa

from marketintel.connectors.base import Connector
from marketintel.connectors.models import MAPPED_PRICES, ParseError, RawPayload
from marketintel.csvout import table_csv
from marketintel.store.coded import decoded
from marketintel.store.layout import ascending, sort_key
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


def parse_payload(connector: Connector, payload: RawPayload, *, coded: bool = False) -> pa.Table:
    """The payload mapped, checked against the canonical types, sorted by location, run, interval_start.

    With `coded`, text that the connector hands over coded (CAISO's locations) stays so, as the store takes
    it (store/coded.py); otherwise every column is plain, in the canonical schema."""
    mapped = connector.map_to_schema(payload)
    try:
        table = conform(connector.name, MAPPED_PRICES, mapped)
    except BatchRejected as exc:
        raise ParseError(connector.name, payload.name, f"mapped rows are not canonical: {exc}") from None
    keys = order_keys(table, ORDER)
    if not ascending(keys):  # connectors that pivot on a sorted grid (CAISO's fast path) deliver it so
        table = table.take(np.lexsort(keys[::-1]))  # lexsort's primary key is the last; it is stable
    return table if coded else decoded(table, MAPPED_PRICES)


def order_keys(table: pa.Table, keys: tuple[str, ...]) -> list[np.ndarray]:
    """Per column, integers that order like it (text plain or coded compares as text, byte by byte)."""
    return [sort_key(table.column(c), {}, c) for c in keys]


def in_order(table: pa.Table, keys: tuple[str, ...]) -> bool:
    """Whether the rows are already sorted by `keys` (ties allowed): one vectorised pass over neighbours,
    a small fraction of a sort. A stable sort of such a table would leave it as it is."""
    return ascending(order_keys(table, keys))


def canonical_csv(table: pa.Table) -> bytes:
    """CSV of mapped prices with UTC ISO-8601 'Z' timestamps; missing components are empty cells."""
    return table_csv(decoded(table, MAPPED_PRICES))
