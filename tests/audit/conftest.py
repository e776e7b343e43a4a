"""Audit tests run on both metadata engines: SQLite (a file under tmp_path) and PostgreSQL (a throwaway
database per test session, a fresh schema per test, a non-UTC session clock)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import URL, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from marketintel.metadata.service import engine_for, session_factory, upgrade
from tests.helpers import TEST_PG_URL, postgres_admin


@pytest.fixture(scope="session")
def pg_database() -> Iterator[URL]:
    admin = postgres_admin(TEST_PG_URL)
    name = f"mi_audit_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(TEST_PG_URL).set(database=name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def blank_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, never-migrated metadata store."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'metadata.sqlite'}"
        return
    database: URL = request.getfixturevalue("pg_database")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(database)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    # a non-UTC session clock: hashes must not depend on the time zone timestamps are read back in
    options = f"-csearch_path={schema} -ctimezone=America/Chicago"
    yield database.set(query={"options": options}).render_as_string(hide_password=False)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def db_url(blank_url: str) -> str:
    upgrade(blank_url)
    return blank_url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = engine_for(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)
