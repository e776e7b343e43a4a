"""The audit chain in the metadata store: append under the head lock, verify, archive old records.

The head row (audit_head, id 1) holds the last id and hash. Every writer, in any process or replica,
locks it before reading it and updates it in the same transaction as its records, so appends happen one
after another and the head always names the true end of the chain: a deleted tail is caught by comparing
the two. Retention moves the oldest records to the object store as segments (see `segments`); the
audit_archives rows anchor the records that stay hot.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from itertools import chain
from typing import Any, cast

from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session, sessionmaker

from marketintel.audit.chain import (
    CONTENT_FIELDS,
    GENESIS,
    RECORD_FIELDS,
    ChainBreak,
    ChainCursor,
    record_hash,
)
from marketintel.audit.models import AuditChainBroken, AuditEvent, VerifyReport
from marketintel.audit.segments import check_segment, encode, segment_key
from marketintel.metadata.models import AuditArchive, AuditHead, AuditRecord
from marketintel.objects.service import ObjectStore

HEAD_ID = 1
PAGE_SIZE = 1_000
RECORD_COLUMNS = tuple(getattr(AuditRecord, name) for name in RECORD_FIELDS)


# --- the head lock and appending --------------------------------------------------------------------


def _lock_head(session: Session) -> tuple[int, str]:
    """The head's (last_id, last_hash), locked until the session's transaction ends; created if absent."""
    dialect = session.get_bind().dialect.name
    read = select(AuditHead.last_id, AuditHead.last_hash).where(AuditHead.id == HEAD_ID)
    if dialect == "sqlite":
        # SQLite locks the whole database and a SELECT takes only a shared lock, so two writers could both
        # read the same head. A write first (even one that changes nothing) takes the write lock.
        session.execute(update(AuditHead).where(AuditHead.id == HEAD_ID).values(last_id=AuditHead.last_id))
        insert_head = sqlite.insert(AuditHead)
    elif dialect == "postgresql":
        read = read.with_for_update()
        insert_head = postgresql.insert(AuditHead)
    else:
        raise NotImplementedError(f"the audit log supports sqlite and postgresql, not {dialect!r}")
    head = session.execute(read).one_or_none()
    if head is None:
        # ON CONFLICT DO NOTHING: a writer creating the head at the same moment waits for us, then skips
        start = insert_head.values(id=HEAD_ID, last_id=0, last_hash=GENESIS)
        session.execute(start.on_conflict_do_nothing(index_elements=["id"]))
        head = session.execute(read).one()
    return int(head.last_id), str(head.last_hash)


def append(session: Session, events: Sequence[AuditEvent]) -> list[int]:
    """Append `events` in order and return their ids. The head stays locked until the caller's
    transaction ends, so commit soon; nothing is written if the caller rolls back."""
    if not events:
        return []
    last_id, last_hash = _lock_head(session)
    rows: list[dict[str, Any]] = []
    for event in events:
        last_id += 1
        row: dict[str, Any] = {"id": last_id} | {name: getattr(event, name) for name in CONTENT_FIELDS[1:]}
        row["prev_hash"] = last_hash
        row["hash"] = last_hash = record_hash(last_hash, row)
        rows.append(row)
    session.execute(insert(AuditRecord), rows)
    session.execute(
        update(AuditHead).where(AuditHead.id == HEAD_ID).values(last_id=last_id, last_hash=last_hash)
    )
    return [row["id"] for row in rows]


def newest(session: Session, limit: int = 20) -> list[AuditRecord]:
    """The last `limit` hot records, oldest first."""
    stmt = select(AuditRecord).order_by(AuditRecord.id.desc()).limit(limit)
    return list(reversed(session.scalars(stmt).all()))


# --- verification -----------------------------------------------------------------------------------


def _broken(found: ChainBreak, records: int, archives: int) -> VerifyReport:
    return VerifyReport(False, records, archives, found.record_id, found.problem)


def _follows(cursor: ChainCursor, archive: AuditArchive) -> ChainBreak | None:
    """Whether an archive's catalogue row continues the chain where `cursor` stands."""
    where = f"archive {archive.object_path}"
    if archive.first_id != cursor.last_id + 1:
        return ChainBreak(
            min(archive.first_id, cursor.last_id + 1),
            f"{where} starts at record {archive.first_id}, the chain before it ends at {cursor.last_id}",
        )
    if archive.first_prev_hash != cursor.last_hash:
        return ChainBreak(archive.first_id, f"{where} does not chain from record {cursor.last_id}")
    if archive.records != archive.last_id - archive.first_id + 1:
        return ChainBreak(
            archive.first_id,
            f"{where} claims {archive.records} records for ids {archive.first_id}-{archive.last_id}",
        )
    return None


def _verify(session: Session, objects: ObjectStore | None, page_size: int) -> VerifyReport:
    archives = list(session.scalars(select(AuditArchive).order_by(AuditArchive.first_id)))
    cursor, archived = ChainCursor(), 0
    for archive in archives:
        found = _follows(cursor, archive)
        if found is None and objects is not None:
            found = check_segment(archive, objects)
            archived += archive.records
        if found is not None:
            return _broken(found, archived, len(archives))
        cursor.last_id, cursor.last_hash = archive.last_id, archive.last_hash
    # hot records page by page (keyset), as plain rows: memory stays flat however long the log
    while True:
        page = session.execute(
            select(*RECORD_COLUMNS)
            .where(AuditRecord.id > cursor.last_id)
            .order_by(AuditRecord.id)
            .limit(page_size)
        ).mappings()
        count = 0
        for record in page:
            count += 1
            found = cursor.follow(record)
            if found is not None:
                return _broken(found, archived + cursor.followed, len(archives))
        if count == page_size:
            continue
        # the head is read after the records, and records and head commit together: a head ahead of the
        # walk means records appended meanwhile (read on) or a deleted tail
        head = session.execute(
            select(AuditHead.last_id, AuditHead.last_hash).where(AuditHead.id == HEAD_ID)
        ).one_or_none()
        newer = select(AuditRecord.id).where(AuditRecord.id > cursor.last_id).limit(1)
        if head is not None and head.last_id > cursor.last_id and session.execute(newer).first():
            continue
        found = _head_mismatch(head, cursor)
        if found is not None:
            return _broken(found, archived + cursor.followed, len(archives))
        return VerifyReport(True, archived + cursor.followed, len(archives))


def _head_mismatch(head: Any, cursor: ChainCursor) -> ChainBreak | None:
    """Whether the head (last_id, last_hash), or its absence, disagrees with where the walk ended."""
    if head is None:
        return (
            None
            if cursor.last_id == 0
            else ChainBreak(cursor.last_id, "the chain head (audit_head) is missing")
        )
    if head.last_id > cursor.last_id:
        return ChainBreak(
            cursor.last_id + 1, f"chain truncated after record {cursor.last_id} (head says {head.last_id})"
        )
    if head.last_id < cursor.last_id:
        return ChainBreak(
            head.last_id + 1, f"record {head.last_id + 1} is beyond the chain head (head says {head.last_id})"
        )
    if head.last_hash != cursor.last_hash:
        return ChainBreak(cursor.last_id, f"the chain head's hash does not match record {cursor.last_id}")
    return None


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Session]:
    """A session that sees one consistent state throughout where that is cheap (PostgreSQL's repeatable
    read). SQLite gets a plain session: a read transaction there would hold off every writer."""
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection = connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        with Session(bind=connection) as session:
            try:
                yield session
            finally:
                session.rollback()


def verify(
    source: Session | Engine,
    objects: ObjectStore | None = None,
    include_archives: bool = False,
    *,
    page_size: int = PAGE_SIZE,
) -> VerifyReport:
    """Walk the chain in id order and report the first record where it breaks.

    Starts from the archive catalogue (each segment must chain into the next, and the last one into the
    hot log), recomputes every hot record's hash, checks ids are contiguous (a gap is a deleted record)
    and that prev_hash links each record to the one before, then checks the head so a deleted tail is
    caught too. With `include_archives`, every segment is also re-read from `objects` and checked record
    by record. On SQLite, do not run it while `archive` runs: without a snapshot it could see a gap."""
    if include_archives and objects is None:
        raise ValueError("include_archives needs the object store the archives are in")
    store = objects if include_archives else None
    if isinstance(source, Engine):
        with _snapshot(source) as session:
            return _verify(session, store, page_size)
    return _verify(source, store, page_size)


# --- retention --------------------------------------------------------------------------------------


def _anchor(session: Session) -> ChainCursor:
    """Where the hot log starts: after the newest archived record, or at genesis."""
    latest = session.execute(
        select(AuditArchive.last_id, AuditArchive.last_hash).order_by(AuditArchive.last_id.desc()).limit(1)
    ).one_or_none()
    return ChainCursor() if latest is None else ChainCursor(int(latest.last_id), str(latest.last_hash))


def _oldest(
    session: Session, cursor: ChainCursor, older_than: datetime, limit: int
) -> Iterator[Mapping[str, Any]]:
    """The oldest hot records, in id order, up to the first one at or after `older_than`, each checked
    and followed by `cursor`: archiving a broken chain would hide the damage from a verify of the hot log."""
    hot = AuditRecord.id > cursor.last_id
    boundary = session.execute(
        select(func.min(AuditRecord.id)).where(hot, AuditRecord.occurred_at >= older_than)
    ).scalar_one_or_none()
    stmt = select(*RECORD_COLUMNS).where(hot).order_by(AuditRecord.id).limit(limit)
    if boundary is not None:
        stmt = stmt.where(AuditRecord.id < boundary)
    for record in session.execute(stmt.execution_options(yield_per=PAGE_SIZE)).mappings():
        found = cursor.follow(record)
        if found is not None:
            raise AuditChainBroken(_broken(found, cursor.followed, 0))
        yield record


def archive(
    sessions: sessionmaker[Session],
    objects: ObjectStore,
    older_than: datetime,
    *,
    max_records: int = 100_000,
) -> AuditArchive | None:
    """Move the oldest contiguous records that occurred before `older_than` (at most `max_records`) to
    the object store as one segment, and return its catalogue row (None if there was nothing to move,
    or another archiver moved it first). Call it until it returns None to archive everything old.

    The object is written first; then one metadata transaction adds the catalogue row and deletes the
    records. A crash between the two leaves an object that the next run writes again at the same key."""
    if older_than.tzinfo is None:
        raise ValueError("older_than must be tz-aware")
    with sessions() as session:
        cursor = _anchor(session)
        first_id, first_prev_hash = cursor.last_id + 1, cursor.last_hash
        records = _oldest(session, cursor, older_than, max_records)
        first = next(records, None)
        if first is None:
            return None
        data = encode(chain([first], records))
    last_id, last_hash, count = cursor.last_id, cursor.last_hash, cursor.followed
    key = segment_key(first_id, last_id, first["occurred_at"])
    objects.put(key, data)
    with sessions() as session:
        _lock_head(session)  # one archiver at a time, and none while the chain is being appended to
        if _anchor(session).last_id != first_id - 1:
            return None
        removed = session.execute(
            delete(AuditRecord)
            .where(AuditRecord.id >= first_id, AuditRecord.id <= last_id)
            .execution_options(synchronize_session=False)
        )
        if cast(CursorResult[Any], removed).rowcount != count:
            session.rollback()
            raise RuntimeError(f"audit records {first_id}-{last_id} changed while being archived; try again")
        segment = AuditArchive(
            first_id=first_id,
            last_id=last_id,
            records=count,
            first_prev_hash=first_prev_hash,
            last_hash=last_hash,
            object_path=key,
            sha256=hashlib.sha256(data).hexdigest(),
        )
        session.add(segment)
        session.commit()
        session.refresh(segment)
        session.expunge(segment)
    return segment
