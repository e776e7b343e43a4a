"""Ingests files, then dies by SIGKILL the moment the first batch has committed, before any other listener
hears of it: `python -m tests.ingest.die_after_commit <data dir> <source> <file>...`.

What a crash between the store commit and the bus outbox leaves behind, made on purpose (test_announce.py).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from marketintel.connectors.registry import connector
from marketintel.ingest.models import CommittedBatch
from marketintel.ingest.service import Ingestor
from marketintel.metadata import service as metadata
from marketintel.objects.service import ObjectStore
from marketintel.store.service import open_timeseries


def die(_batch: CommittedBatch) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main(data: Path, source: str, files: list[Path]) -> None:
    metadata_url = f"sqlite:///{data / 'metadata.sqlite'}"
    metadata.upgrade(metadata_url)
    store = open_timeseries(f"duckdb:///{data / 'timeseries.duckdb'}")
    objects = ObjectStore(f"file:///{data / 'objects'}")
    Ingestor(connector(source), store, objects, metadata_url, [die]).ingest_files(files)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], [Path(p) for p in sys.argv[3:]])
