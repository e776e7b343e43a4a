"""What flows through a connector: raw payloads in, canonical price rows out, and precise parse errors."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field

import pyarrow as pa

from marketintel.store.models import PRICES

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


def mapped_prices(columns: dict[str, object]) -> pa.Table:
    """A mapped-prices table from column arrays (numpy or Arrow), cast to the canonical types."""
    return pa.table({c: columns[c] for c in PRICE_COLUMNS}).cast(MAPPED_PRICES)
