"""Loading a simulation into the stores: reference data first, then facts, each write recorded as a run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from marketintel.metadata import service as metadata
from marketintel.simulate.models import SimBatch, SimulationSpec
from marketintel.simulate.service import simulate
from marketintel.store.models import DATASETS
from marketintel.store.service import TimeSeriesStore

Progress = Callable[[SimBatch, int], None]


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
            params={"start": spec.start.isoformat(), "days": spec.days, "seed": spec.seed},
        )
        session.commit()
    try:
        for batch in simulate(spec):
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


def _write(batch: SimBatch, store: TimeSeriesStore, sessions: sessionmaker[Session]) -> int:
    if batch.dataset == "instruments":
        with sessions() as session:
            metadata.upsert_instruments(session, batch.table.to_pylist())
            session.commit()
        return store.register_instruments(batch.table)
    if batch.dataset == "series":
        return store.register_series(batch.table)
    return store.write(DATASETS[batch.dataset], batch.table).written
