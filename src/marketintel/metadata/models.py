"""Typed SQLAlchemy models of the metadata store.

The constraint naming convention makes every constraint name explicit, so the Alembic migrations produce
the same schema (and the same names) on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ROLES: tuple[str, ...] = ("admin", "analyst", "viewer")
# Mirrors marketintel.catalog.markets.LOCATION_TYPES (a test keeps the two in step).
LOCATION_TYPES: tuple[str, ...] = ("hub", "zone", "node", "interface")
RUN_STATUSES: tuple[str, ...] = ("running", "succeeded", "failed")
# Entitlements: what a tenant may see (product) of which market, through which channel.
PRODUCTS: tuple[str, ...] = ("prices", "curves", "fundamentals", "scenarios", "downloads")
CHANNELS: tuple[str, ...] = ("hub", "api", "downloads")
SIGNING_ALGORITHMS: tuple[str, ...] = ("ES256", "RS256")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UTCDateTime(TypeDecorator[datetime]):
    """A tz-aware timestamp that always comes back in UTC.

    SQLite keeps DATETIME as text without an offset, so we store the UTC wall time there and re-attach UTC
    on the way out; PostgreSQL returns timestamptz in the session's TimeZone, which we convert to UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(
                f"naive datetime {value.isoformat()} given; metadata timestamps must be tz-aware"
            )
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}  # noqa: RUF012


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # a salted, slow hash (scrypt); NULL for users who only sign in through an external IdP
    password_hash: Mapped[str | None] = mapped_column(String(300))


class Source(Base):
    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    market: Mapped[str] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Instrument(Base):
    """The catalog of record for instruments: one row per (market, location)."""

    __tablename__ = "instruments"
    __table_args__ = (
        UniqueConstraint("market", "location"),
        CheckConstraint(_in("location_type", LOCATION_TYPES), name="location_type"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    market: Mapped[str] = mapped_column(String(32))
    location: Mapped[str] = mapped_column(String(200))
    location_type: Mapped[str] = mapped_column(String(16))
    timezone: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(8))
    unit: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Checkpoint(Base):
    """How far a source's stream has been ingested; `position` is opaque (an ISO timestamp, a file name)."""

    __tablename__ = "checkpoints"

    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True)
    stream: Mapped[str] = mapped_column(String(200), primary_key=True)
    position: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (CheckConstraint(_in("status", RUN_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    rows_written: Mapped[int] = mapped_column(default=0, server_default="0")
    message: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict[str, Any] | None]


class OutboxEvent(Base):
    """An event to publish on the bus, kept until the bus has taken it: ingestion commits whatever the bus
    does, and a publisher drains what is pending when the bus is back."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    content_type: Mapped[str] = mapped_column(String(100))
    schema_version: Mapped[int] = mapped_column(default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)


class BatchInFlight(Base):
    """A batch being written: recorded before the store commit and deleted once its listeners (the bus
    outbox, data quality) have heard of it. One left behind is a batch whose run died in between; the next
    run of its source announces what the store holds of it (see ingest.service.Ingestor.announce_unfinished).
    """

    __tablename__ = "batches_in_flight"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(64), index=True)
    file: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    knowledge_time: Mapped[datetime]  # the batch's rows carry exactly this knowledge time
    archived_as: Mapped[str] = mapped_column(Text)  # the raw payload's object key
    started_at: Mapped[datetime] = mapped_column(default=utcnow)


class QualityCheck(Base):
    """One data-quality measurement: a check (gaps, duplicates, range, spike, stale, completeness,
    freshness) of a batch or a source, its value, the gate it was held to, and whether it passed."""

    __tablename__ = "quality_checks"
    __table_args__ = (Index("ix_quality_checks_source_check_time", "source", "check", "checked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    market: Mapped[str] = mapped_column(String(16))
    run: Mapped[str | None] = mapped_column(String(8))
    check: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(300))  # "file:<name>" or "source"
    value: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    passed: Mapped[bool]
    details: Mapped[dict[str, Any] | None]
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)


class SigningKey(Base):
    """A key the embedded issuer signs tokens with. Rotation retires a key (it no longer signs) but keeps it
    verifying until `verify_until`, so tokens it signed stay valid until they expire."""

    __tablename__ = "signing_keys"
    __table_args__ = (CheckConstraint(_in("algorithm", SIGNING_ALGORITHMS), name="algorithm"),)

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(8))
    private_key_pem: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None]
    verify_until: Mapped[datetime | None]


class ApiKey(Base):
    """A machine credential: shown once, stored as a hash, found by its public prefix."""

    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Entitlement(Base):
    """One grant: tenant × market × product × channel. No row, no access."""

    __tablename__ = "entitlements"
    __table_args__ = (
        UniqueConstraint("tenant_id", "market", "product", "channel"),
        CheckConstraint(_in("product", PRODUCTS), name="product"),
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    market: Mapped[str] = mapped_column(String(32))
    product: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
    granted_by: Mapped[str | None] = mapped_column(String(320))


class AuditRecord(Base):
    """One audited action. `hash` covers the record's content and `prev_hash` (the hash of the record
    before it in `id` order), so an edit, a deletion or a reordering breaks the chain where it happened."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(320))
    tenant: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    method: Mapped[str | None] = mapped_column(String(8))
    route: Mapped[str] = mapped_column(String(300))
    params: Mapped[dict[str, Any] | None]
    status: Mapped[int]
    latency_ms: Mapped[float | None] = mapped_column(Float)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's head, one row: writers lock it (SELECT … FOR UPDATE) so replicas append in turn."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_id: Mapped[int] = mapped_column(default=0, server_default="0")
    last_hash: Mapped[str] = mapped_column(String(64))


class AuditArchive(Base):
    """A segment of the chain moved to the object store by retention; it anchors verification of what
    remains hot (the first hot record's prev_hash is the last archived record's hash)."""

    __tablename__ = "audit_archives"

    id: Mapped[int] = mapped_column(primary_key=True)
    first_id: Mapped[int]
    last_id: Mapped[int]
    records: Mapped[int]
    first_prev_hash: Mapped[str] = mapped_column(String(64))
    last_hash: Mapped[str] = mapped_column(String(64))
    object_path: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CurveRun(Base):
    """One forward-curve build, immutable: its inputs (each quote with its source and hash), method,
    parameters, code version and reconciliation report. `id` is a digest of all of them, so building again
    from the same inputs is recognised as the same run."""

    __tablename__ = "curve_runs"
    __table_args__ = (Index("ix_curve_runs_market_location_as_of", "market", "location", "as_of_date"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    market: Mapped[str] = mapped_column(String(32))
    location: Mapped[str] = mapped_column(String(200))
    as_of_date: Mapped[str] = mapped_column(String(10))  # ISO date: portable across both databases
    method: Mapped[str] = mapped_column(String(64))
    parameters: Mapped[dict[str, Any]]
    code_version: Mapped[str] = mapped_column(String(32))
    inputs: Mapped[dict[str, Any]]
    reconciliation: Mapped[dict[str, Any]]
    liquid_until: Mapped[str] = mapped_column(String(10))
    points: Mapped[int]
    objective: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
