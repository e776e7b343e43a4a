"""Retention: old records move to the object store as segments; the chain stays verifiable end to end."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from marketintel.audit.models import AuditChainBroken, VerifyReport
from marketintel.audit.segments import segment_key
from marketintel.audit.service import append, archive, verify
from marketintel.metadata.models import AuditArchive, utcnow
from marketintel.objects.service import ObjectStore
from tests.audit.builders import event, hot_count
from tests.helpers import run_cli

OLD = datetime(2020, 1, 15, 8, 30, tzinfo=UTC)


@pytest.fixture
def objects(tmp_path: Path) -> ObjectStore:
    return ObjectStore(f"file:///{tmp_path / 'objects'}")


def append_events(sessions: sessionmaker[Session], times: list[datetime]) -> None:
    with sessions() as session:
        append(session, [event(n, at=at) for n, at in enumerate(times)])
        session.commit()


def archive_all(
    sessions: sessionmaker[Session], objects: ObjectStore, cutoff: datetime, **kw: int
) -> list[AuditArchive]:
    segments = []
    while (segment := archive(sessions, objects, cutoff, **kw)) is not None:
        segments.append(segment)
    return segments


def archive_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(AuditArchive)).scalar_one())


def test_old_records_move_to_segments_and_the_chain_still_verifies(
    engine: Engine, sessions: sessionmaker[Session], objects: ObjectStore
) -> None:
    now = utcnow()
    append_events(sessions, [OLD + timedelta(days=2 * d) for d in range(20)] + [now] * 5)
    segments = archive_all(sessions, objects, now - timedelta(days=365), max_records=8)

    assert [(s.first_id, s.last_id, s.records) for s in segments] == [(1, 8, 8), (9, 16, 8), (17, 20, 4)]
    assert [s.object_path for s in segments] == [
        "audit/2020/01/1-8.jsonl.gz",
        "audit/2020/01/9-16.jsonl.gz",
        "audit/2020/02/17-20.jsonl.gz",
    ]
    assert objects.keys("audit") == sorted(s.object_path for s in segments)
    assert hot_count(engine) == 5
    assert verify(engine) == verify(engine, objects) == VerifyReport(True, 5, 3)
    full = verify(engine, objects, include_archives=True)
    assert (full.ok, full.records_checked, full.archives_checked) == (True, 25, 3)
    # the chain goes on from the head after archiving
    append_events(sessions, [now])
    assert verify(engine, objects, include_archives=True).records_checked == 26


def test_only_the_contiguous_oldest_records_are_archived(
    engine: Engine, sessions: sessionmaker[Session], objects: ObjectStore
) -> None:
    now = utcnow()
    append_events(sessions, [OLD, OLD, now, OLD])
    segment = archive(sessions, objects, now - timedelta(days=1))
    assert segment is not None
    assert (segment.first_id, segment.last_id) == (1, 2)
    assert archive(sessions, objects, now - timedelta(days=1)) is None
    assert hot_count(engine) == 2
    assert verify(engine, objects, include_archives=True).ok


def test_archiving_everything_leaves_the_head_as_the_anchor(
    engine: Engine, sessions: sessionmaker[Session], objects: ObjectStore
) -> None:
    append_events(sessions, [OLD] * 6)
    assert len(archive_all(sessions, objects, utcnow())) == 1
    assert hot_count(engine) == 0
    assert verify(engine).ok
    append_events(sessions, [utcnow()])
    report = verify(engine, objects, include_archives=True)
    assert (report.ok, report.records_checked) == (True, 7)


def test_nothing_to_archive(sessions: sessionmaker[Session], objects: ObjectStore) -> None:
    assert archive(sessions, objects, utcnow()) is None
    append_events(sessions, [utcnow()])
    assert archive(sessions, objects, utcnow() - timedelta(days=365)) is None


def tamper_with_segment(objects: ObjectStore, key: str, record_id: int) -> None:
    lines = [json.loads(line) for line in gzip.decompress(objects.get(key)).splitlines()]
    for line in lines:
        if line["id"] == record_id:
            line["status"] = 404
    objects.put(key, gzip.compress(b"".join(json.dumps(line).encode() + b"\n" for line in lines)))


def test_an_altered_archive_is_caught_with_include_archives(
    engine: Engine, sessions: sessionmaker[Session], objects: ObjectStore
) -> None:
    append_events(sessions, [OLD] * 10 + [utcnow()])
    _first, second = archive_all(sessions, objects, utcnow() - timedelta(days=1), max_records=5)
    tamper_with_segment(objects, second.object_path, 8)

    assert verify(engine).ok  # the hot log alone does not re-read the archives
    report = verify(engine, objects, include_archives=True)
    assert not report.ok
    assert report.first_bad_id == 8
    assert report.problem == f"archive {second.object_path}: content edited (hash mismatch)"


def test_a_missing_or_unreadable_archive_is_caught(
    engine: Engine, sessions: sessionmaker[Session], objects: ObjectStore, tmp_path: Path
) -> None:
    append_events(sessions, [OLD] * 10)
    _first, second = archive_all(sessions, objects, utcnow(), max_records=5)
    (tmp_path / "objects" / second.object_path).unlink()
    report = verify(engine, objects, include_archives=True)
    assert (report.first_bad_id, report.problem) == (
        6,
        f"archive {second.object_path} missing from the object store",
    )

    objects.put(second.object_path, b"not gzip")
    report = verify(engine, objects, include_archives=True)
    assert report.first_bad_id == 6
    assert report.problem is not None
    assert "unreadable" in report.problem


def test_a_removed_catalogue_row_breaks_the_chain(
    engine: Engine, sessions: sessionmaker[Session], objects: ObjectStore
) -> None:
    append_events(sessions, [OLD] * 15 + [utcnow()])
    archive_all(sessions, objects, utcnow() - timedelta(days=1), max_records=5)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_archives WHERE first_id = 6"))
    report = verify(engine)
    assert report.first_bad_id == 6
    assert (
        report.problem
        == "archive audit/2020/01/11-15.jsonl.gz starts at record 11, the chain before it ends at 5"
    )


def test_a_rerun_after_a_crash_overwrites_the_orphan_object(
    engine: Engine, sessions: sessionmaker[Session], objects: ObjectStore
) -> None:
    """A crash after the object was written but before the metadata commit leaves an object at the key
    the next run uses; the rerun writes it again, whole."""
    append_events(sessions, [OLD] * 4)
    key = segment_key(1, 4, OLD)
    objects.put(key, b"half a segment from a run that died")
    segment = archive(sessions, objects, utcnow())
    assert segment is not None
    assert segment.object_path == key
    assert verify(engine, objects, include_archives=True).ok


def test_a_broken_chain_is_not_archived(
    engine: Engine, sessions: sessionmaker[Session], objects: ObjectStore
) -> None:
    append_events(sessions, [OLD] * 6)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET route = '/elsewhere' WHERE id = 3"))
    with pytest.raises(AuditChainBroken, match="broken at record 3: content edited") as raised:
        archive(sessions, objects, utcnow())
    assert raised.value.report.first_bad_id == 3
    assert (hot_count(engine), archive_rows(engine), objects.keys("audit")) == (6, 0, [])


def test_cli_archive_then_verify_with_archives(
    tmp_path: Path, db_url: str, engine: Engine, sessions: sessionmaker[Session]
) -> None:
    append_events(sessions, [OLD] * 3 + [utcnow()])
    env = {"MARKETINTEL_METADATA_URL": db_url, "MARKETINTEL_OBJECTS_URL": f"file:///{tmp_path / 'objects'}"}
    archived = run_cli(tmp_path, "audit", "archive", **env)
    assert archived.returncode == 0, archived.stderr + archived.stdout
    assert "records 1-3 → audit/2020/01/1-3.jsonl.gz" in archived.stdout
    assert "3 record(s) before" in archived.stdout
    checked = run_cli(tmp_path, "audit", "verify", "--archives", **env)
    assert checked.returncode == 0, checked.stderr + checked.stdout
    assert "audit chain OK: 4 record(s) checked (with 1 archive segment(s))" in checked.stdout
    tail = run_cli(tmp_path, "audit", "tail", "-n", "5", **env)
    assert tail.returncode == 0, tail.stderr
    assert "/api/v1/prices" in tail.stdout
    assert "1 record(s)" in tail.stdout
