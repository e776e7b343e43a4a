"""Loading a simulation into the stores: reference data first, then facts, each write recorded as a run."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import pyarrow as pa
from sqlalchemy.orm import Session, sessionmaker

from marketintel.metadata import service as metadata
from marketintel.simulate.models import SimBatch, SimulationSpec
from marketintel.simulate.service import simulate
from marketintel.store.models import DATASETS
from marketintel.store.service import TimeSeriesStore

Progress = Callable[[SimBatch, int], None]
WRITE_ROWS = 1_000_000


@dataclass
class LoadReport:
    received: dict[str, int] = field(default_factory=dict)
    written: dict[str, int] = field(default_factory=dict)

    def add(self, dataset: str, received: int, written: int) -> None:
        self.received[dataset] = self.received.get(dataset, 0) + received
        self.written[dataset] = self.written.get(dataset, 0) + written


def load_simulation(
    spec: SimulationSpec, store: TimeSeriesStore, metadata_url: str, progress: Progress | None = None
) -> LoadReport:
    """Simulate `spec` into `store`, registering instruments in the metadata catalog too."""
    report = LoadReport()
    sessions = metadata.session_factory(metadata.engine_for(metadata_url))
    with sessions() as session:
        run_id = metadata.start_run(
            session,
            "simulate",
            # all the live feed needs to continue this simulation (simulate/live.py)
            params={
                "start": spec.start.isoformat(),
                "days": spec.days,
                "seed": spec.seed,
                "markets": list(spec.markets),
                "nodes_per_market": spec.nodes_per_market,
            },
        )
        session.commit()
    try:
        for batch in coalesce(simulate(spec)):
            written = _write(batch, store, sessions)
            report.add(batch.dataset, batch.table.num_rows, written)
            if progress:
                progress(batch, batch.table.num_rows)
    except Exception as exc:
        with sessions() as session:
            metadata.finish_run(session, run_id, "failed", sum(report.written.values()), message=str(exc))
            session.commit()
        raise
    with sessions() as session:
        metadata.finish_run(session, run_id, "succeeded", sum(report.written.values()))
        session.commit()
    return report


def coalesce(batches: Iterable[SimBatch], max_rows: int = WRITE_ROWS) -> Iterator[SimBatch]:
    """Consecutive batches of one dataset joined up to `max_rows`: a store write has a fixed cost (a
    commit, a range check), so a few large writes beat hundreds of small ones. Order is kept, so a
    revision never lands before the fact it revises."""
    pending: list[SimBatch] = []
    rows = 0
    for batch in batches:
        if pending and (batch.dataset != pending[0].dataset or rows + batch.table.num_rows > max_rows):
            yield _joined(pending)
            pending, rows = [], 0
        pending.append(batch)
        rows += batch.table.num_rows
    if pending:
        yield _joined(pending)


def _joined(batches: list[SimBatch]) -> SimBatch:
    if len(batches) == 1:
        return batches[0]
    return SimBatch(batches[0].dataset, pa.concat_tables([b.table for b in batches]))


def _write(batch: SimBatch, store: TimeSeriesStore, sessions: sessionmaker[Session]) -> int:
    if batch.dataset == "instruments":
        with sessions() as session:
            metadata.upsert_instruments(session, batch.table.to_pylist())
            session.commit()
        return store.register_instruments(batch.table)
    if batch.dataset == "series":
        return store.register_series(batch.table)
    return store.write(DATASETS[batch.dataset], batch.table).written
