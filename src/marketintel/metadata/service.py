"""The metadata store's logic: engines, migrations, checkpoints, runs, instruments, tenants and users.

Functions that take a session never commit: the caller's commit is what makes a checkpoint move together
with the data it describes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, delete, event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from marketintel.metadata.models import (
    LOCATION_TYPES,
    ROLES,
    BatchInFlight,
    Checkpoint,
    Instrument,
    Run,
    Source,
    Tenant,
    User,
    utcnow,
)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
INSTRUMENT_KEY = ("market", "location")
INSTRUMENT_REQUIRED = ("market", "location", "location_type", "timezone", "currency", "unit")
INSTRUMENT_COLUMNS = (*INSTRUMENT_REQUIRED, "name")
FINAL_STATUSES = ("succeeded", "failed")


# --- engines and migrations -------------------------------------------------------------------------


def _enable_sqlite_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    # SQLite ignores FOREIGN KEY clauses unless this pragma is set on every new connection.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def engine_for(url: str) -> Engine:
    """An engine for `url`; for a SQLite file, its directory is created and foreign keys are enforced."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed)
        event.listen(engine, "connect", _enable_sqlite_foreign_keys)
        return engine
    return create_engine(parsed, pool_pre_ping=True)


def alembic_config(url: str) -> Config:
    """The Alembic configuration of the store at `url`, built in code (the package ships no alembic.ini)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    # ConfigParser interpolates '%', which percent-encoded URLs (passwords, options) contain.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> str:
    """Migrate the store at `url` to `revision` and return the revision it is now at (a no-op if there)."""
    cfg = alembic_config(url)
    engine = engine_for(url)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            current = MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
    if current is None:
        raise RuntimeError(f"upgrade of {make_url(url)!r} to {revision!r} left no revision")
    return current


def current_revision(url: str) -> str | None:
    """The Alembic revision of the store at `url`, or None if it was never migrated."""
    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    # expire_on_commit=False: objects returned by the API stay readable after the caller commits.
    return sessionmaker(engine, expire_on_commit=False)


def _insert(session: Session, model: type[Any]) -> Any:
    """A dialect-specific INSERT (both offer ON CONFLICT) for `model`."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model)
    if dialect == "sqlite":
        return sqlite.insert(model)
    raise NotImplementedError(f"the metadata store supports sqlite and postgresql, not {dialect!r}")


# --- sources and checkpoints ------------------------------------------------------------------------


def ensure_source(
    session: Session, name: str, market: str | None = None, description: str | None = None
) -> int:
    """The id of source `name`, created if missing. Source names read '<market>-<feed>' (e.g. 'miso-da'),
    so the market defaults to the upper-cased prefix."""
    if market is None:
        market = name.split("-", 1)[0].upper()
    # ON CONFLICT DO NOTHING: two writers creating the same source must not fail each other.
    stmt = _insert(session, Source).values(name=name, market=market, description=description)
    session.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
    return session.execute(select(Source.id).where(Source.name == name)).scalar_one()


def get_checkpoint(session: Session, source: str, stream: str) -> str | None:
    """The position recorded for (source, stream), or None if there is none."""
    stmt = (
        select(Checkpoint.position)
        .join(Source, Source.id == Checkpoint.source_id)
        .where(Source.name == source, Checkpoint.stream == stream)
    )
    return session.execute(stmt).scalar_one_or_none()


def set_checkpoint(session: Session, source: str, stream: str, position: str) -> None:
    """Record `position` for (source, stream), creating the source if missing. The caller commits."""
    source_id = ensure_source(session, source)
    stmt = _insert(session, Checkpoint).values(
        source_id=source_id, stream=stream, position=position, updated_at=utcnow()
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["source_id", "stream"],
        set_={"position": stmt.excluded.position, "updated_at": stmt.excluded.updated_at},
    )
    session.execute(stmt)


# --- runs -------------------------------------------------------------------------------------------


def start_run(
    session: Session, kind: str, source: str | None = None, params: dict[str, Any] | None = None
) -> int:
    """Record a run as 'running' and return its id (flushed, not committed)."""
    source_id = ensure_source(session, source) if source is not None else None
    run = Run(kind=kind, source_id=source_id, status="running", params=params)
    session.add(run)
    session.flush()
    return run.id


def finish_run(
    session: Session, run_id: int, status: str, rows_written: int, message: str | None = None
) -> None:
    """Mark a running run as succeeded or failed."""
    if status not in FINAL_STATUSES:
        raise ValueError(f"invalid final run status {status!r}; expected one of {', '.join(FINAL_STATUSES)}")
    run = session.get(Run, run_id)
    if run is None:
        raise ValueError(f"unknown run id {run_id}")
    if run.status != "running":
        raise ValueError(f"run {run_id} already finished with status {run.status!r}")
    run.status = status
    run.rows_written = rows_written
    run.message = message
    run.finished_at = utcnow()
    session.flush()


# --- batches in flight ------------------------------------------------------------------------------


def begin_batch(
    session: Session, source: str, file: str, sha256: str, knowledge_time: datetime, archived_as: str
) -> int:
    """Record that a batch of `source` is about to be written; its id (flushed, not committed)."""
    batch = BatchInFlight(
        source=source, file=file, sha256=sha256, knowledge_time=knowledge_time, archived_as=archived_as
    )
    session.add(batch)
    session.flush()
    return batch.id


def end_batch(session: Session, batch_id: int) -> None:
    """The batch's listeners have heard of it (or it wrote nothing): forget it. The caller commits."""
    session.execute(delete(BatchInFlight).where(BatchInFlight.id == batch_id))


def batches_in_flight(session: Session, source: str) -> list[BatchInFlight]:
    """The batches of `source` begun and never ended, oldest first."""
    stmt = select(BatchInFlight).where(BatchInFlight.source == source).order_by(BatchInFlight.id)
    return list(session.scalars(stmt))


# --- instruments ------------------------------------------------------------------------------------


def _instrument_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validated rows, one per (market, location) (the last one wins), in first-seen order."""
    by_key: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        missing = [c for c in INSTRUMENT_REQUIRED if row.get(c) is None]
        unknown = sorted(set(row) - set(INSTRUMENT_COLUMNS))
        if missing or unknown:
            raise ValueError(f"bad instrument row {row!r}: missing {missing}, unknown columns {unknown}")
        if row["location_type"] not in LOCATION_TYPES:
            raise ValueError(f"invalid location_type {row['location_type']!r} in instrument row {row!r}")
        by_key[(row["market"], row["location"])] = {c: row.get(c) for c in INSTRUMENT_COLUMNS}
    return list(by_key.values())


def upsert_instruments(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert new instruments and update the attributes of existing (market, location) ones.

    Returns how many were newly inserted. Two statements: INSERT ... ON CONFLICT DO NOTHING RETURNING
    tells exactly which keys were new (neither dialect's DO UPDATE says so), then DO UPDATE the rest.
    """
    clean = _instrument_rows(rows)
    if not clean:
        return 0
    insert_new = (
        _insert(session, Instrument)
        .on_conflict_do_nothing(index_elements=list(INSTRUMENT_KEY))
        .returning(Instrument.market, Instrument.location)
    )
    inserted = {(r.market, r.location) for r in session.execute(insert_new, clean)}
    existing = [r for r in clean if (r["market"], r["location"]) not in inserted]
    if existing:
        update_old = _insert(session, Instrument)
        update_old = update_old.on_conflict_do_update(
            index_elements=list(INSTRUMENT_KEY),
            set_={c: update_old.excluded[c] for c in INSTRUMENT_COLUMNS if c not in INSTRUMENT_KEY},
        )
        session.execute(update_old, existing)
    return len(inserted)


def list_instruments(session: Session, market: str | None = None) -> list[Instrument]:
    """Instruments ordered by (market, location), optionally for one market."""
    # populate_existing: upserts bypass the identity map, so refresh objects this session already holds.
    stmt = (
        select(Instrument)
        .order_by(Instrument.market, Instrument.location)
        .execution_options(populate_existing=True)
    )
    if market is not None:
        stmt = stmt.where(Instrument.market == market)
    return list(session.scalars(stmt))


# --- tenants and users ------------------------------------------------------------------------------


def create_tenant(session: Session, slug: str, name: str) -> Tenant:
    if session.execute(select(Tenant.id).where(Tenant.slug == slug)).first() is not None:
        raise ValueError(f"tenant {slug!r} already exists")
    tenant = Tenant(slug=slug, name=name)
    session.add(tenant)
    session.flush()
    return tenant


def create_user(
    session: Session, tenant_slug: str, email: str, role: str, display_name: str | None = None
) -> User:
    """Add a user to a tenant. Emails are stored lower-cased, so uniqueness ignores case."""
    if role not in ROLES:
        raise ValueError(f"invalid role {role!r}; expected one of {', '.join(ROLES)}")
    tenant_id = session.execute(select(Tenant.id).where(Tenant.slug == tenant_slug)).scalar_one_or_none()
    if tenant_id is None:
        raise ValueError(f"unknown tenant {tenant_slug!r}")
    email = email.strip().lower()
    if session.execute(select(User.id).where(User.email == email)).first() is not None:
        raise ValueError(f"duplicate email {email!r}: a user with it already exists")
    user = User(tenant_id=tenant_id, email=email, role=role, display_name=display_name)
    session.add(user)
    session.flush()
    return user
