"""Metadata stores for the auth tests: SQLite (a file under tmp_path) and, where a test asks for `db_url`,
PostgreSQL too (a throwaway database per session, a fresh schema per test), and a clock tests move."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import URL, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from marketintel.config import Settings
from marketintel.metadata.service import create_tenant, create_user, engine_for, session_factory, upgrade
from tests.helpers import TEST_PG_URL, postgres_admin

# a fixed instant: every test that involves time moves a Clock from here
T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[URL]:
    admin_url = make_url(TEST_PG_URL)
    admin = postgres_admin(TEST_PG_URL)
    name = f"mi_test_auth_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'metadata.sqlite'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated store on SQLite, then on PostgreSQL (in a non-UTC session time zone)."""
    if request.param == "sqlite":
        url = sqlite_url(tmp_path)
        upgrade(url)
        yield url
        return
    database: URL = request.getfixturevalue("pg_database")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(database)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    options = f"-csearch_path={schema} -ctimezone=America/Chicago"
    url = database.set(query={"options": options}).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def sqlite_db_url(tmp_path: Path) -> str:
    url = sqlite_url(tmp_path)
    upgrade(url)
    return url


def _engine(url: str) -> Iterator[Engine]:
    engine = engine_for(url)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    yield from _engine(db_url)


@pytest.fixture
def sqlite_engine(sqlite_db_url: str) -> Iterator[Engine]:
    yield from _engine(sqlite_db_url)


def settings_for(url: str, **overrides: str | int) -> Settings:
    defaults: dict[str, str | int] = {
        "metadata_url": url,
        "auth_issuer": "http://127.0.0.1:8000",
        "auth_audience": "marketintel",
        "token_ttl_minutes": 60,
        "oidc_issuer": "",
    }
    return Settings(**(defaults | overrides))


def add_tenant_and_users(sessions: sessionmaker[Session]) -> None:
    """Tenant `acme` with ann (analyst) and bob (viewer), tenant `globex` with cat (admin)."""
    with sessions() as session:
        create_tenant(session, "acme", "Acme Trading")
        create_tenant(session, "globex", "Globex Energy")
        create_user(session, "acme", "ann@acme.test", "analyst")
        create_user(session, "acme", "bob@acme.test", "viewer")
        create_user(session, "globex", "cat@globex.test", "admin")
        session.commit()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    factory = session_factory(engine)
    add_tenant_and_users(factory)
    return factory


@pytest.fixture
def sqlite_sessions(sqlite_engine: Engine) -> sessionmaker[Session]:
    factory = session_factory(sqlite_engine)
    add_tenant_and_users(factory)
    return factory
