"""Audit events and chains for the tests, and tampering as an attacker with database access would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from marketintel.audit.chain import CONTENT_FIELDS
from marketintel.audit.models import AuditEvent
from marketintel.audit.service import append
from marketintel.metadata.models import AuditRecord

START = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
AUDIT_LOG = AuditRecord.__table__


def event(n: int, at: datetime | None = None, **overrides: Any) -> AuditEvent:
    values: dict[str, Any] = {
        "occurred_at": at or START + timedelta(seconds=n, microseconds=n),
        "actor": f"user{n % 3}@example.com",
        "tenant": "acme",
        "channel": "api",
        "action": "api",
        "method": "GET",
        "route": "/api/v1/prices",
        "params": {"market": "MISO", "n": n, "ratio": n / 7, "locations": ["A", "B"]},
        "status": 200,
        "latency_ms": 1.25 + n / 3,
    }
    return AuditEvent(**(values | overrides))


def build_chain(sessions: sessionmaker[Session], count: int, batch: int = 4) -> None:
    """`count` records appended `batch` at a time (one transaction each), ids 1..count."""
    for first in range(1, count + 1, batch):
        with sessions() as session:
            append(session, [event(n) for n in range(first, min(first + batch, count + 1))])
            session.commit()


def row(engine: Engine, record_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        found = conn.execute(select(AUDIT_LOG).where(AUDIT_LOG.c.id == record_id)).mappings().one()
    return dict(found)


def overwrite(engine: Engine, record_id: int, values: dict[str, Any]) -> None:
    """Set columns of one record directly, bypassing the audit service."""
    with engine.begin() as conn:
        conn.execute(update(AUDIT_LOG).where(AUDIT_LOG.c.id == record_id).values(**values))


def content(record: dict[str, Any]) -> dict[str, Any]:
    return {name: record[name] for name in CONTENT_FIELDS if name != "id"}


def hot_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(AUDIT_LOG)).scalar_one())
