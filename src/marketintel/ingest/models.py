"""What an ingest run reports: per file, what happened to it; overall, whether anything failed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa

Status = Literal["written", "unchanged", "quarantined", "failed", "not_published"]


@dataclass(frozen=True)
class FileOutcome:
    name: str
    status: Status
    sha256: str | None = None
    archived_as: str | None = None
    rows: int = 0
    written: int = 0
    error: str | None = None


@dataclass
class IngestReport:
    source: str
    files: list[FileOutcome] = field(default_factory=list)
    checkpoint: str | None = None

    @property
    def ok(self) -> bool:
        return all(f.status in ("written", "unchanged", "not_published") for f in self.files)

    @property
    def rows_written(self) -> int:
        return sum(f.written for f in self.files)

    def count(self, status: Status) -> int:
        return sum(1 for f in self.files if f.status == status)


@dataclass(frozen=True)
class CommittedBatch:
    """A batch the store has committed: what listeners (the bus, data quality) are told about."""

    source: str
    market: str
    file: str
    sha256: str
    facts: pa.Table  # every row of the file, in the canonical PRICES schema
    written: pa.Table  # the rows the store wrote: new facts and revisions (a subset of `facts`)
    committed_at: dt.datetime


# Called after the store commit; a listener must not raise into ingestion (the Ingestor logs and goes on).
BatchListener = Callable[[CommittedBatch], None]
