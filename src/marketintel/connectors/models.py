"""What flows through a connector: raw payloads in, canonical price rows out, and precise parse errors."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

import pyarrow as pa

from marketintel.store.coded import coded_constant, schema_of
from marketintel.store.models import PRICES

if TYPE_CHECKING:  # not imported at run time: this module is on light paths (fetching) that need neither
    import numpy as np
    import polars as pl

# The columns a connector's `map_to_schema` returns; the SDK stamps knowledge_time, source and the file hash.
PRICE_COLUMNS: tuple[str, ...] = (
    "market",
    "location",
    "run",
    "interval_start",
    "interval_minutes",
    "lmp",
    "energy",
    "congestion",
    "loss",
)
MAPPED_PRICES = pa.schema([PRICES.schema.field(c) for c in PRICE_COLUMNS])


@dataclass(frozen=True)
class RawPayload:
    """One file as the source published it: its name, its bytes, and when and where we got it."""

    name: str
    content: bytes
    fetched_at: dt.datetime
    url: str | None = None
    sha256: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha256", hashlib.sha256(self.content).hexdigest())


class ParseError(ValueError):
    """A file that does not have the source's published format; says which file, line and field."""

    def __init__(
        self, source: str, file: str, message: str, *, line: int | None = None, field: str | None = None
    ) -> None:
        where = file + (f":{line}" if line is not None else "") + (f" field {field!r}" if field else "")
        super().__init__(f"{source}: {where}: {message}")
        self.source = source
        self.file = file
        self.line = line
        self.field = field
        self.reason = message


# A ParseError already bound to a source and file (`partial(ParseError, source, file)`): a parsing helper
# raises `fail(message, line=..., field=...)` without having to know which file it is reading.
Fail = Callable[..., ParseError]

# What `mapped_prices` takes for a column: an array of the table's length, or a scalar every row shares
# (the market, the run, the interval length), or None for a component the source does not publish.
Column: TypeAlias = "pa.Array | pa.ChunkedArray | pl.Series | np.ndarray | str | int | float | None"


def mapped_prices(columns: Mapping[str, Column]) -> pa.Table:
    """A mapped-prices table, cast to the canonical types, from one `Column` per name in PRICE_COLUMNS.

    The length is that of the array columns (at least one, e.g. the locations); scalars and None are
    broadcast to it, so a connector states what is constant instead of building arrays of repeats.
    """
    if set(columns) != set(PRICE_COLUMNS):
        missing, unknown = set(PRICE_COLUMNS) - set(columns), set(columns) - set(PRICE_COLUMNS)
        raise ValueError(f"mapped prices need exactly {PRICE_COLUMNS}; missing {missing}, unknown {unknown}")
    arrays = {name: _arrow(value) for name, value in columns.items() if not _is_scalar(value)}
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"mapped-price columns need one common length, got {lengths or 'no array column'}")
    rows = next(iter(lengths.values()))
    for name in PRICE_COLUMNS:
        if name not in arrays:
            kind = MAPPED_PRICES.field(name).type
            value = columns[name]
            if value is None:
                arrays[name] = pa.nulls(rows, kind)
            elif isinstance(value, str):  # one text (the market, the run): coded, not repeated
                arrays[name] = coded_constant(value, rows)
            else:
                arrays[name] = pa.repeat(pa.scalar(value, kind), rows)
    table = pa.table({name: arrays[name] for name in PRICE_COLUMNS})
    # text a connector hands over coded stays coded (store/coded.py): the store reads its codes
    return table.cast(schema_of(MAPPED_PRICES, table))


def _is_scalar(value: Column) -> bool:
    return value is None or isinstance(value, str | int | float)


def _arrow(value: Any) -> Any:
    # a polars Series becomes Arrow (found by its method, polars not being imported here); Arrow and numpy
    # arrays go to pa.table as they are
    return value.to_arrow() if hasattr(value, "to_arrow") else value
