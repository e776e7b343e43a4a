"""The ingest pipeline shared by every connector: archive → map → validate → write → checkpoint.

Nothing is lost: every raw payload is archived before it is parsed, and a payload that cannot be parsed
or written is moved to `raw/quarantine/…` with its reason. Nothing is half written: a payload's rows
go in as one store batch (all or nothing), and a window's checkpoint moves only after the day's writes
committed — so a run killed at any point resumes from the checkpoint, and re-writing an already-written
day adds 0 rows.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from functools import partial
from pathlib import Path, PurePosixPath

import pyarrow as pa
from sqlalchemy.orm import Session, sessionmaker

from marketintel.connectors.base import Connector
from marketintel.connectors.fetch import Fetcher, FetchError, NotPublished
from marketintel.connectors.models import ParseError, RawPayload
from marketintel.connectors.parse import parse_payload
from marketintel.ingest.ahead import ahead
from marketintel.ingest.models import BatchListener, CommittedBatch, FileOutcome, IngestReport
from marketintel.metadata import service as metadata
from marketintel.objects.service import ObjectStore
from marketintel.store.coded import coded_constant, decoded
from marketintel.store.models import KNOWLEDGE_TIME, PRICES
from marketintel.store.service import TimeSeriesStore
from marketintel.store.validation import BatchRejected, conform, validate_facts

log = logging.getLogger(__name__)
QUARANTINE = "raw/quarantine"
DAYS_STREAM = "days"


def archive_key(source: str, payload: RawPayload) -> str:
    day = payload.fetched_at.astimezone(dt.UTC)
    return f"raw/{source}/{day:%Y/%m/%d}/{payload.name}"


def stamp(mapped: pa.Table, knowledge_time: dt.datetime, source: str, sha256: str) -> pa.Table:
    """Mapped rows made facts: when we learned them, from which source, from which exact file. The source
    and file hash are one text each, so they go in coded (store/coded.py), as the mapped text columns may."""
    n = mapped.num_rows
    # constants repeated in Arrow: a Python list of 1 M datetimes costs most of a second (and a GC)
    columns = {
        **{name: mapped.column(name) for name in mapped.column_names},
        KNOWLEDGE_TIME: pa.repeat(pa.scalar(knowledge_time, PRICES.schema.field(KNOWLEDGE_TIME).type), n),
        "source": coded_constant(source, n),
        "source_file_sha256": coded_constant(sha256, n),
    }
    table = pa.table(columns)
    return conform("facts", PRICES.schema, table)


def _parsed(ahead_of_time: Future[pa.Table | None]) -> pa.Table:
    """The facts of a readable file, parsed ahead (raising its parse error, if it had one)."""
    facts = ahead_of_time.result()
    assert facts is not None  # only an unreadable file has none, and it is never written
    return facts


class Ingestor:
    """Ingests one connector's payloads into the store, archiving and quarantining through `objects`."""

    def __init__(
        self,
        connector: Connector,
        store: TimeSeriesStore,
        objects: ObjectStore,
        metadata_url: str,
        listeners: Sequence[BatchListener] = (),
    ) -> None:
        self.connector = connector
        self.store = store
        self.objects = objects
        self.listeners = list(listeners)
        self.sessions: sessionmaker[Session] = metadata.session_factory(metadata.engine_for(metadata_url))

    # --- one payload ------------------------------------------------------------------------------

    def archive(self, payload: RawPayload) -> str:
        """Keep the raw bytes; a different file under a name already used is kept beside it, not over it."""
        key = archive_key(self.connector.name, payload)
        if self.objects.exists(key):
            if self.objects.get(key) == payload.content:
                return key
            name = PurePosixPath(key)
            key = str(name.with_name(f"{name.stem}.{payload.sha256[:12]}{name.suffix}"))
            if self.objects.exists(key):
                return key
        self.objects.put(key, payload.content)
        return key

    def quarantine(self, key: str, payload: RawPayload, reason: str) -> str:
        target = f"{QUARANTINE}/{key.removeprefix('raw/')}"
        self.objects.move(key, target)
        record = {
            "source": self.connector.name,
            "file": payload.name,
            "url": payload.url,
            "sha256": payload.sha256,
            "reason": reason,
            "quarantined_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        self.objects.put(f"{target}.reason.json", json.dumps(record, indent=2).encode())
        return target

    def ingest_payload(self, payload: RawPayload, knowledge_time: dt.datetime | None = None) -> FileOutcome:
        key = self.archive(payload)
        return self._write(payload, key, lambda: self.facts(payload, knowledge_time))

    def facts(self, payload: RawPayload, knowledge_time: dt.datetime | None = None) -> pa.Table:
        """The payload's rows as facts (parsed, stamped), nothing written: the part that can run ahead."""
        return stamp(
            parse_payload(self.connector, payload, coded=True),
            knowledge_time or payload.fetched_at,
            self.connector.name,
            payload.sha256,
        )

    def _write(self, payload: RawPayload, key: str, facts_of: Callable[[], pa.Table]) -> FileOutcome:
        """Write an archived payload's facts (`facts_of` raises a parse error as `facts` would) in one
        store batch, quarantining it if it cannot be parsed or written."""
        in_flight = None
        try:
            facts = facts_of()
            self._register_new_instruments(facts)
            in_flight = self._begin(payload, key, facts)
            result = self.store.write(PRICES, facts)
            written = result.rows if result.rows is not None else PRICES.schema.empty_table()
        except NotPublished as exc:  # the payload itself says the data is not out yet
            return FileOutcome(payload.name, "not_published", payload.sha256, key, error=str(exc))
        except (ParseError, BatchRejected) as exc:
            self._end(in_flight)  # refused whole: nothing of it was written
            where = self.quarantine(key, payload, str(exc))
            log.warning(
                "quarantined",
                extra={
                    "source": self.connector.name,
                    "file": payload.name,
                    "reason": str(exc),
                    "quarantined_as": where,
                },
            )
            return FileOutcome(payload.name, "quarantined", payload.sha256, where, error=str(exc))
        if self.listeners:
            self._tell_listeners(
                CommittedBatch(
                    self.connector.name,
                    self.connector.market,
                    payload.name,
                    payload.sha256,
                    decoded(facts, PRICES.schema),
                    written,
                    dt.datetime.now(dt.UTC),
                )
            )
        self._end(in_flight)
        status = "written" if result.written else "unchanged"
        return FileOutcome(payload.name, status, payload.sha256, key, result.received, result.written)

    # --- batches in flight: listeners hear of every committed batch, even across a crash ------------

    def _begin(self, payload: RawPayload, key: str, facts: pa.Table) -> int | None:
        """Record the batch as in flight before its store commit, when there are listeners to tell: a run
        that dies between the commit and the listeners leaves it for `announce_unfinished`."""
        if not self.listeners or facts.num_rows == 0:
            return None
        knowledge_time = facts.column(KNOWLEDGE_TIME)[0].as_py()
        with self.sessions() as session:
            batch_id = metadata.begin_batch(
                session, self.connector.name, payload.name, payload.sha256, knowledge_time, key
            )
            session.commit()
        return batch_id

    def _end(self, batch_id: int | None) -> None:
        if batch_id is None:
            return
        with self.sessions() as session:
            metadata.end_batch(session, batch_id)
            session.commit()

    def announce_unfinished(self) -> int:
        """Tell the listeners of batches an earlier run committed but died before announcing (SIGKILL
        between the store commit and the outbox): what the store holds of each, re-read by file hash and
        knowledge time, with the file's rows parsed again from its archived copy. Returns how many batches
        were announced; a batch that never reached the store is only forgotten.

        At least once: a run that died after its listeners heard but before it forgot the batch has it
        announced twice, and a bus event carries the same message id both times (see bus.models)."""
        if not self.listeners:
            return 0
        with self.sessions() as session:
            unfinished = metadata.batches_in_flight(session, self.connector.name)
        announced = 0
        for batch in unfinished:
            written = self.store.prices_learned_from(batch.sha256, batch.knowledge_time)
            if written.num_rows:
                log.warning(
                    "announcing a batch an earlier run wrote but did not announce",
                    extra={"source": self.connector.name, "file": batch.file, "rows": written.num_rows},
                )
                facts = self._archived_facts(
                    batch.file, batch.archived_as, batch.sha256, batch.knowledge_time
                )
                self._tell_listeners(
                    CommittedBatch(
                        self.connector.name,
                        self.connector.market,
                        batch.file,
                        batch.sha256,
                        written if facts is None else facts,
                        written,
                        dt.datetime.now(dt.UTC),
                    )
                )
                announced += 1
            self._end(batch.id)
        return announced

    def _archived_facts(
        self, name: str, key: str, sha256: str, knowledge_time: dt.datetime
    ) -> pa.Table | None:
        """Every row of an archived file as the batch stamped it; None if its copy is gone or changed."""
        if not self.objects.exists(key):
            return None
        payload = RawPayload(name=name, content=self.objects.get(key), fetched_at=knowledge_time, url=None)
        if payload.sha256 != sha256:
            return None
        try:
            return decoded(self.facts(payload, knowledge_time), PRICES.schema)
        except ParseError:  # it parsed when it was written; a parser changed since cannot take it back
            return None

    def _tell_listeners(self, batch: CommittedBatch) -> None:
        # the facts are committed whatever a listener does: a failing listener is logged, never raised
        for listener in self.listeners:
            try:
                listener(batch)
            except Exception:
                log.exception(
                    "batch listener failed",
                    extra={
                        "source": batch.source,
                        "file": batch.file,
                        "listener": getattr(listener, "__name__", repr(listener)),
                    },
                )

    def _register_new_instruments(self, facts: pa.Table) -> None:
        """Register locations first seen in this file — but only once the whole batch would be accepted,
        so a malformed file cannot plant instruments."""
        instruments = self.connector.instruments(facts)
        known = self.store.reference_keys("instruments")
        keys = zip(
            instruments.column("market").to_pylist(), instruments.column("location").to_pylist(), strict=True
        )
        fresh = pa.array([key not in known for key in keys], pa.bool_())
        new = instruments.filter(fresh)
        if new.num_rows == 0:
            return
        candidates = known | {
            tuple(k) for k in zip(*(new.column(c).to_pylist() for c in ("market", "location")), strict=True)
        }
        validate_facts(PRICES, facts, lambda name: candidates if name == "instruments" else set())
        with self.sessions() as session:
            metadata.upsert_instruments(session, new.to_pylist())
            session.commit()
        self.store.register_instruments(new)

    # --- files and windows ------------------------------------------------------------------------

    def ingest_files(self, paths: list[Path], knowledge_time: dt.datetime | None = None) -> IngestReport:
        """Ingest local files, each on its own: one bad file does not stop the others."""
        report = IngestReport(self.connector.name)

        def facts_of(item: tuple[RawPayload, str] | FileOutcome) -> pa.Table | None:
            return None if isinstance(item, FileOutcome) else self.facts(item[0], knowledge_time)

        with self._run("ingest-files", {"files": [str(p) for p in paths]}) as record:
            self.announce_unfinished()
            # the next file is read, archived and parsed while this one is written (ahead.py)
            for item, facts in ahead(facts_of, self._archived(paths)):
                if isinstance(item, FileOutcome):
                    report.files.append(item)
                    continue
                payload, key = item
                report.files.append(self._write(payload, key, partial(_parsed, facts)))
            record["report"] = report
        return report

    def _archived(self, paths: list[Path]) -> Iterator[tuple[RawPayload, str] | FileOutcome]:
        """Each file read and archived, with its archive key; an outcome for a file that cannot be read."""
        for path in paths:
            now = dt.datetime.now(dt.UTC)
            try:
                content = path.read_bytes()
            except OSError as exc:
                yield FileOutcome(path.name, "failed", error=f"{path}: {exc.strerror}")
                continue
            payload = RawPayload(name=path.name, content=content, fetched_at=now, url=None)
            yield payload, self.archive(payload)

    def ingest_window(self, start: dt.date, end: dt.date, fetcher: Fetcher) -> IngestReport:
        """Market days in [start, end), resuming after the checkpoint; the checkpoint advances only over
        days whose every file was written, so a failed day is retried by the next run."""
        report = IngestReport(self.connector.name)
        with self._run("ingest-window", {"start": start.isoformat(), "end": end.isoformat()}) as record:
            self.announce_unfinished()
            done = self.checkpoint()
            day = max(start, done + dt.timedelta(days=1)) if done else start
            contiguous = True
            while day < end:
                outcomes, published = self._ingest_day(day, fetcher)
                report.files.extend(outcomes)
                contiguous = (
                    contiguous and published and all(o.status in ("written", "unchanged") for o in outcomes)
                )
                if not published:  # the source has not got this far yet; later days will not be there either
                    break
                if contiguous:
                    self._move_checkpoint(day)
                    report.checkpoint = day.isoformat()
                day += dt.timedelta(days=1)
            record["report"] = report
        return report

    def _ingest_day(self, day: dt.date, fetcher: Fetcher) -> tuple[list[FileOutcome], bool]:
        """The day's files ingested, and whether the source had published all of them."""
        try:
            documents = self.connector.documents(day, fetcher)
        except NotPublished:
            return [], False
        except (FetchError, ParseError) as exc:  # the listing itself could not be had or read
            return [FileOutcome(f"{day.isoformat()} listing", "failed", error=str(exc))], True
        outcomes = []
        for document in documents:
            try:
                payload = self.connector.fetch(document, fetcher)
            except NotPublished:
                return outcomes, False
            except FetchError as exc:
                outcomes.append(FileOutcome(document.name, "failed", error=str(exc)))
                continue
            outcome = self.ingest_payload(payload)
            outcomes.append(outcome)
            if outcome.status == "not_published":
                return outcomes, False
        return outcomes, True

    def checkpoint(self) -> dt.date | None:
        with self.sessions() as session:
            position = metadata.get_checkpoint(session, self.connector.name, DAYS_STREAM)
        return dt.date.fromisoformat(position) if position else None

    def _move_checkpoint(self, day: dt.date) -> None:
        # the store write for this day has committed; only now may the checkpoint say so
        with self.sessions() as session:
            metadata.set_checkpoint(session, self.connector.name, DAYS_STREAM, day.isoformat())
            session.commit()

    # --- run records ------------------------------------------------------------------------------

    def _run(self, kind: str, params: dict[str, object]) -> _RunRecord:
        return _RunRecord(self.sessions, kind, self.connector.name, params)


class _RunRecord:
    """Records a run in the metadata store: started, then succeeded or failed with rows written."""

    def __init__(self, sessions: sessionmaker[Session], kind: str, source: str, params: dict[str, object]):
        self.sessions, self.kind, self.source, self.params = sessions, kind, source, params
        self.values: dict[str, IngestReport] = {}

    def __enter__(self) -> dict[str, IngestReport]:
        with self.sessions() as session:
            self.run_id = metadata.start_run(session, self.kind, source=self.source, params=self.params)
            session.commit()
        return self.values

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _tb: object) -> None:
        report = self.values.get("report")
        rows = report.rows_written if report else 0
        if error is not None:
            status, message = "failed", f"{type(error).__name__}: {error}"
        elif report is not None and not report.ok:
            bad = [f"{f.name}: {f.error}" for f in report.files if f.status in ("quarantined", "failed")]
            status, message = "failed", "; ".join(bad)[:4000]
        else:
            status, message = "succeeded", None
        with self.sessions() as session:
            metadata.finish_run(session, self.run_id, status, rows, message=message)
            session.commit()
