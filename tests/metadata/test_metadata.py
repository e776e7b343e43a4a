"""The metadata store on real engines: SQLite (a file under tmp_path) and PostgreSQL (a throwaway database
per test session, a fresh schema per test)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Engine, create_engine, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from marketintel.catalog.markets import LOCATION_TYPES as CATALOG_LOCATION_TYPES
from marketintel.metadata.models import (
    LOCATION_TYPES,
    Base,
    Instrument,
    Run,
    Source,
    Tenant,
    User,
)
from marketintel.metadata.service import (
    alembic_config,
    create_tenant,
    create_user,
    current_revision,
    engine_for,
    finish_run,
    get_checkpoint,
    list_instruments,
    session_factory,
    set_checkpoint,
    start_run,
    upgrade,
    upsert_instruments,
)
from tests.helpers import TEST_PG_URL, postgres_admin

TABLES = {"tenants", "users", "sources", "instruments", "checkpoints", "runs", "outbox", "quality_checks"}


@pytest.fixture(scope="session")
def pg_database() -> Iterator[URL]:
    """A uniquely named database created from the `test` database for this session, dropped at its end."""
    admin_url = make_url(TEST_PG_URL)
    admin = postgres_admin(TEST_PG_URL)
    name = f"mi_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name)
    finally:
        with admin.connect() as conn:
            # FORCE: a connection a failed test left open must not keep the database alive.
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """An empty, never-migrated store; the SQLite file sits in a directory engine_for() must create."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'nested' / 'metadata.db'}"
        return
    database: URL = request.getfixturevalue("pg_database")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(database)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    # A non-UTC session clock proves timestamps are normalised to UTC, not merely read back as stored.
    options = f"-csearch_path={schema} -ctimezone=America/Chicago"
    yield database.set(query={"options": options}).render_as_string(hide_password=False)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    upgrade(db_url)
    eng = engine_for(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


def _instrument(location: str, **overrides: str | None) -> dict[str, str | None]:
    row: dict[str, str | None] = {
        "market": "MISO",
        "location": location,
        "location_type": "hub",
        "timezone": "Etc/GMT+5",
        "currency": "USD",
        "unit": "MWh",
    }
    return row | overrides


# --- migrations -------------------------------------------------------------------------------------


def head_revision(db_url: str) -> str:
    head = ScriptDirectory.from_config(alembic_config(db_url)).get_current_head()
    assert head is not None
    return head


def test_upgrade_creates_tables_and_is_idempotent(db_url: str) -> None:
    head = head_revision(db_url)
    assert current_revision(db_url) is None
    assert upgrade(db_url, "0001") == "0001"
    assert upgrade(db_url, "0001") == "0001"
    assert upgrade(db_url) == head
    assert upgrade(db_url) == head
    assert current_revision(db_url) == head
    eng = engine_for(db_url)
    try:
        assert set(inspect(eng).get_table_names()) >= TABLES
    finally:
        eng.dispose()


def test_models_match_migration(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_downgrade_to_base_then_upgrade_again(db_url: str, engine: Engine) -> None:
    command.downgrade(alembic_config(db_url), "base")
    assert current_revision(db_url) is None
    assert not TABLES & set(inspect(engine).get_table_names())
    assert upgrade(db_url) == head_revision(db_url)


# --- checkpoints ------------------------------------------------------------------------------------


def test_checkpoint_set_get_update(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        assert get_checkpoint(s, "miso-da", "RT5") is None
        set_checkpoint(s, "miso-da", "RT5", "2024-06-01T00:05:00Z")
        set_checkpoint(s, "miso-da", "da_lmp_*.csv", "da_lmp_20240601.csv")
        s.commit()
    with sessions() as s:
        assert get_checkpoint(s, "miso-da", "RT5") == "2024-06-01T00:05:00Z"
        set_checkpoint(s, "miso-da", "RT5", "2024-06-01T00:10:00Z")
        s.commit()
    with sessions() as s:
        assert get_checkpoint(s, "miso-da", "RT5") == "2024-06-01T00:10:00Z"
        assert get_checkpoint(s, "miso-da", "da_lmp_*.csv") == "da_lmp_20240601.csv"
        assert get_checkpoint(s, "miso-rt", "RT5") is None
        source = s.execute(select(Source).where(Source.name == "miso-da")).scalar_one()
        assert (source.market, source.enabled) == ("MISO", True)


def test_rolled_back_checkpoint_is_not_visible(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        set_checkpoint(s, "miso-da", "RT5", "committed")
        s.commit()
    with sessions() as writer, sessions() as reader:
        set_checkpoint(writer, "miso-da", "RT5", "uncommitted")
        set_checkpoint(writer, "pjm-da", "DA", "uncommitted")
        assert get_checkpoint(writer, "miso-da", "RT5") == "uncommitted"
        assert get_checkpoint(reader, "miso-da", "RT5") == "committed"
        writer.rollback()
    with sessions() as s:
        assert get_checkpoint(s, "miso-da", "RT5") == "committed"
        assert get_checkpoint(s, "pjm-da", "DA") is None
        assert s.execute(select(Source).where(Source.name == "pjm-da")).first() is None


# --- runs -------------------------------------------------------------------------------------------


def test_run_start_and_finish(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        run_id = start_run(s, "ingest", source="miso-da", params={"day": "2024-06-01", "streams": ["RT5"]})
        plain_id = start_run(s, "simulate")
        s.commit()
    with sessions() as s:
        run = s.get_one(Run, run_id)
        assert (run.status, run.rows_written, run.finished_at) == ("running", 0, None)
        assert run.params == {"day": "2024-06-01", "streams": ["RT5"]}
        assert run.source_id is not None
        assert s.get_one(Run, plain_id).source_id is None
        finish_run(s, run_id, "succeeded", 288, message="ok")
        finish_run(s, plain_id, "failed", 0, message="boom")
        s.commit()
    with sessions() as s:
        run = s.get_one(Run, run_id)
        assert (run.status, run.rows_written, run.message) == ("succeeded", 288, "ok")
        assert run.finished_at is not None
        assert run.finished_at >= run.started_at
        assert s.get_one(Run, plain_id).status == "failed"
        with pytest.raises(ValueError, match="already finished"):
            finish_run(s, run_id, "failed", 0)
        with pytest.raises(ValueError, match="'done'"):
            finish_run(s, run_id, "done", 0)
        with pytest.raises(ValueError, match="unknown run id 9999"):
            finish_run(s, 9999, "failed", 0)


# --- instruments ------------------------------------------------------------------------------------


def test_upsert_instruments_counts_new_and_updates_existing(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        assert upsert_instruments(s, []) == 0
        assert (
            upsert_instruments(
                s, [_instrument("ILLINOIS.HUB"), _instrument("ALTW.WELLS1", location_type="node")]
            )
            == 2
        )
        s.commit()
        hub_id = list_instruments(s, "MISO")[1].id
    with sessions() as s:
        hub = s.get_one(Instrument, hub_id)
        new = upsert_instruments(
            s,
            [
                _instrument("ILLINOIS.HUB", name="Illinois Hub", unit="MW"),
                _instrument("INDIANA.HUB"),
                _instrument("INDIANA.HUB", name="Indiana Hub"),  # same key twice in a batch: the last wins
                _instrument("TH_NP15_GEN-APND", market="CAISO", timezone="America/Los_Angeles"),
            ],
        )
        assert new == 2
        # the same session sees the update, although it already held the hub object from before
        assert hub.name is None
        assert {i.location: i.name for i in list_instruments(s, "MISO")}["ILLINOIS.HUB"] == "Illinois Hub"
        s.commit()
    with sessions() as s:
        miso = list_instruments(s, "MISO")
        assert [i.location for i in miso] == ["ALTW.WELLS1", "ILLINOIS.HUB", "INDIANA.HUB"]
        hub = miso[1]
        assert (hub.id, hub.name, hub.unit, hub.location_type) == (hub_id, "Illinois Hub", "MW", "hub")
        assert miso[2].name == "Indiana Hub"
        assert [i.market for i in list_instruments(s)] == ["CAISO", "MISO", "MISO", "MISO"]
        with pytest.raises(ValueError, match="'planet'"):
            upsert_instruments(s, [_instrument("X", location_type="planet")])
        with pytest.raises(ValueError, match="currency"):
            upsert_instruments(s, [_instrument("X", currency=None)])


# --- constraints ------------------------------------------------------------------------------------


def _bad_user(tenant_id: int) -> Base:
    return User(tenant_id=tenant_id, email="eve@example.com", role="owner")


def _bad_instrument(_tenant_id: int) -> Base:
    return Instrument(**_instrument("ILLINOIS.HUB", location_type="planet"))


def _bad_run(_tenant_id: int) -> Base:
    return Run(kind="ingest", status="paused")


@pytest.mark.parametrize(
    ("make", "constraint"),
    [
        (_bad_user, "ck_users_role"),
        (_bad_instrument, "ck_instruments_location_type"),
        (_bad_run, "ck_runs_status"),
    ],
)
def test_check_constraints_reject_invalid_values(
    sessions: sessionmaker[Session], make: Callable[[int], Base], constraint: str
) -> None:
    with sessions() as s:
        tenant = create_tenant(s, "pilot_miso", "Pilot MISO")
        s.commit()
        s.add(make(tenant.id))
        with pytest.raises(IntegrityError, match=constraint):
            s.flush()


def test_foreign_keys_are_enforced(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        s.add(User(tenant_id=424242, email="ghost@example.com", role="viewer"))
        with pytest.raises(IntegrityError):
            s.flush()


def test_unique_email(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        create_tenant(s, "pilot_miso", "Pilot MISO")
        tenant_id = create_tenant(s, "pilot_pjm", "Pilot PJM").id
        user = create_user(s, "pilot_miso", "Ann@Example.com", "analyst", display_name="Ann")
        s.commit()
        assert (user.email, user.role, user.active) == ("ann@example.com", "analyst", True)
        with pytest.raises(ValueError, match=r"'ann@example\.com'"):
            create_user(s, "pilot_pjm", "ANN@example.com", "viewer")
        s.add(User(tenant_id=tenant_id, email="ann@example.com", role="viewer"))
        with pytest.raises(IntegrityError, match="email"):
            s.flush()


def test_create_user_rejects_unknown_tenant_and_role(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        with pytest.raises(ValueError, match="unknown tenant 'pilot_nowhere'"):
            create_user(s, "pilot_nowhere", "bob@example.com", "viewer")
        create_tenant(s, "pilot_miso", "Pilot MISO")
        with pytest.raises(ValueError, match="invalid role 'owner'"):
            create_user(s, "pilot_miso", "bob@example.com", "owner")
        with pytest.raises(ValueError, match="'pilot_miso' already exists"):
            create_tenant(s, "pilot_miso", "again")


# --- timestamps -------------------------------------------------------------------------------------


def test_timestamps_come_back_tz_aware_utc(sessions: sessionmaker[Session]) -> None:
    new_york = datetime(2024, 3, 10, 1, 30, tzinfo=ZoneInfo("America/New_York"))  # 06:30 UTC
    with sessions() as s:
        create_tenant(s, "pilot_miso", "Pilot MISO")
        s.add(Tenant(slug="pilot_ny", name="Pilot NY", created_at=new_york))
        set_checkpoint(s, "miso-da", "RT5", "x")
        s.commit()
    with sessions() as s:
        tenants = {t.slug: t for t in s.scalars(select(Tenant))}
        stamps = [tenants["pilot_miso"].created_at, tenants["pilot_ny"].created_at]
        stamps += s.scalars(select(Source.created_at)).all()
        for stamp in stamps:
            assert stamp.tzinfo is UTC
        ny = tenants["pilot_ny"].created_at
        assert ny == new_york
        assert (ny.hour, ny.minute) == (6, 30)
        # comparisons in SQL must agree with the stored instant on both backends
        cutoff = datetime(2024, 3, 10, 6, 31, tzinfo=UTC)
        assert s.scalars(select(Tenant.slug).where(Tenant.created_at < cutoff)).all() == ["pilot_ny"]
        s.add(Tenant(slug="naive", name="Naive", created_at=datetime(2024, 1, 1)))
        with pytest.raises(StatementError, match="naive datetime"):
            s.flush()


def test_location_types_match_the_catalog() -> None:
    assert set(LOCATION_TYPES) == CATALOG_LOCATION_TYPES
