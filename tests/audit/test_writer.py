"""AuditWriter: the request path only queues; a background thread writes batches; nothing is lost."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, text
from sqlalchemy.orm import Session, sessionmaker

from marketintel.audit.service import append, verify
from marketintel.audit.writer import AuditWriter
from marketintel.metadata.models import AuditRecord
from marketintel.metadata.service import engine_for, session_factory, upgrade
from tests.audit.builders import event as audit_event
from tests.audit.builders import hot_count

WAIT = 60  # seconds: only a bound on waiting for something that must happen, never a measurement


def record_from_threads(writer: AuditWriter, threads: int, per_thread: int, tag: str) -> None:
    def work(thread: int) -> None:
        for i in range(per_thread):
            writer.record(audit_event(i, params={"writer": tag, "thread": thread, "i": i}))

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def params_in_id_order(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return list(conn.execute(select(AuditRecord.params).order_by(AuditRecord.id)).scalars())


def test_records_from_many_threads_reach_one_valid_chain(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    with AuditWriter(sessions, flush_interval=0.01, max_batch=100) as writer:
        record_from_threads(writer, threads=8, per_thread=400, tag="w")
    assert (writer.queue_depth, writer.written) == (0, 3_200)
    report = verify(engine)
    assert (report.ok, report.records_checked) == (True, 3_200)
    # each thread's records are in the order it recorded them
    params = params_in_id_order(engine)
    for thread in range(8):
        assert [p["i"] for p in params if p["thread"] == thread] == list(range(400))


@contextmanager
def holding_the_chain_head(engine: Engine) -> Iterator[None]:
    """Another connection holds the lock every audit append needs, until the block ends."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.execute(text("SELECT last_id FROM audit_head WHERE id = 1 FOR UPDATE"))
        try:
            yield
        finally:
            conn.rollback()


def test_record_returns_while_the_database_is_locked(engine: Engine, sessions: sessionmaker[Session]) -> None:
    with sessions() as session:  # the head row exists, so the other connection can lock it
        append(session, [audit_event(0)])
        session.commit()
    writer_waits_for_head = threading.Event()

    def watch(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if threading.current_thread().name == "audit-writer" and "audit_head" in statement:
            writer_waits_for_head.set()

    event.listen(engine, "before_cursor_execute", watch)
    with AuditWriter(sessions, flush_interval=0.01, retry_delay=0.01, max_retry_delay=0.1) as writer:
        with holding_the_chain_head(engine):
            writer.record(audit_event(1))
            assert writer_waits_for_head.wait(WAIT), "the writer thread never tried to append"
            # the writer is stuck behind the lock held above; recording must not wait for it
            for n in range(2, 101):
                writer.record(audit_event(n))
            assert writer.queue_depth == 100
            assert hot_count(engine) == 1
        writer.flush(timeout=WAIT)
        assert (writer.queue_depth, hot_count(engine)) == (0, 101)
    assert verify(engine).ok


def test_close_writes_everything_queued(engine: Engine, sessions: sessionmaker[Session]) -> None:
    # an hour between flushes and batches larger than the load: only close() can write these
    writer = AuditWriter(sessions, flush_interval=3_600, max_batch=10_000)
    for n in range(1_000):
        writer.record(audit_event(n))
    assert hot_count(engine) == 0
    writer.close()
    assert (writer.queue_depth, hot_count(engine)) == (0, 1_000)
    assert verify(engine).ok
    with pytest.raises(RuntimeError, match="closed"):
        writer.record(audit_event(0))
    writer.close()  # idempotent


EXIT_WITHOUT_CLOSE = """
import sys
from marketintel.audit.models import AuditEvent
from marketintel.audit.writer import AuditWriter
from marketintel.metadata.service import engine_for, session_factory

writer = AuditWriter(session_factory(engine_for(sys.argv[1])), flush_interval=3600, max_batch=10_000)
for n in range(500):
    writer.record(AuditEvent(actor="script", action="admin", route="/exit", status=200, params={"n": n}))
"""


def test_a_process_exiting_without_close_still_writes_its_records(db_url: str, engine: Engine) -> None:
    done = subprocess.run(
        [sys.executable, "-c", EXIT_WITHOUT_CLOSE, db_url],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert hot_count(engine) == 500
    assert verify(engine).ok


def test_a_failed_batch_is_kept_and_retried(blank_url: str) -> None:
    """The store is not migrated yet: every attempt fails until it is, and no record is dropped."""
    engine = engine_for(blank_url)
    failed = threading.Event()
    event.listen(engine, "handle_error", lambda _context: failed.set())
    try:
        with AuditWriter(
            session_factory(engine), flush_interval=0.01, retry_delay=0.01, max_retry_delay=0.05
        ) as writer:
            for n in range(10):
                writer.record(audit_event(n))
            assert failed.wait(WAIT), "the first batch never failed"
            assert writer.queue_depth == 10
            upgrade(blank_url)
            writer.flush(timeout=WAIT)
        assert hot_count(engine) == 10
        assert verify(engine).ok
    finally:
        engine.dispose()


def test_two_replicas_append_to_one_chain(db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """Two writers on separate engines (as two gateway replicas would be) interleave into one chain,
    taking turns at the head lock: no batch fails on a clash and has to be retried."""
    engines = [engine_for(db_url), engine_for(db_url)]
    try:
        writers = [AuditWriter(session_factory(e), flush_interval=0.01, max_batch=50) for e in engines]
        recorders = [
            threading.Thread(target=record_from_threads, args=(w, 4, 300, f"replica{i}"))
            for i, w in enumerate(writers)
        ]
        for recorder in recorders:
            recorder.start()
        for recorder in recorders:
            recorder.join()
        for writer in writers:
            writer.close()
        with engines[0].connect() as conn:
            ids = list(conn.execute(select(AuditRecord.id).order_by(AuditRecord.id)).scalars())
        assert ids == list(range(1, 2_401))
        report = verify(engines[1])
        assert (report.ok, report.records_checked) == (True, 2_400)
        assert [w.written for w in writers] == [1_200, 1_200]
        by_writer = {p["writer"] for p in params_in_id_order(engines[0])}
        assert by_writer == {"replica0", "replica1"}
        assert [r.getMessage() for r in caplog.records if r.name == "marketintel.audit.writer"] == []
    finally:
        for e in engines:
            e.dispose()
