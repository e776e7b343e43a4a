"""API keys for machines, on SQLite and PostgreSQL: shown once, stored hashed, found by prefix, revocable,
expiring, with their last use recorded sparingly."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, text
from sqlalchemy.orm import Session, sessionmaker

from marketintel.auth.accounts import set_active
from marketintel.auth.apikeys import create_api_key, list_api_keys, revoke_api_key
from marketintel.auth.service import Authenticator
from marketintel.config import Settings
from marketintel.metadata.models import ApiKey
from tests.auth.conftest import T0, Clock, settings_for
from tests.auth.helpers import refusal, with_api_key_header, with_bearer

KEY_SHAPE = re.compile(r"mik_([a-z0-9]{8})_([A-Za-z0-9_-]{43})")


@pytest.fixture
def settings(db_url: str) -> Settings:
    return settings_for(db_url)


@pytest.fixture
def auth(sessions: sessionmaker[Session], settings: Settings, clock: Clock) -> Authenticator:
    return Authenticator(sessions, settings, clock=clock)


def new_key(sessions: sessionmaker[Session], **options: Any) -> tuple[ApiKey, str]:
    arguments = {"tenant_slug": "acme", "name": "risk-etl", "role": "viewer"} | options
    with sessions() as session:
        key, secret = create_api_key(session, **arguments)
        session.commit()
    return key, secret


@pytest.fixture
def update_statements(engine: Engine) -> Iterator[list[str]]:
    """Every UPDATE of api_keys the engine runs, as seen on the wire."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE API_KEYS"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def test_the_secret_is_shown_once_and_stored_only_as_a_hash(
    sessions: sessionmaker[Session], engine: Engine, db_url: str, tmp_path: Path
) -> None:
    key, secret = new_key(sessions, user_email="bob@acme.test")
    shape = KEY_SHAPE.fullmatch(secret)
    assert shape is not None
    prefix, random_part = shape.groups()
    assert key.prefix == prefix
    with engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM api_keys WHERE prefix = :p"), {"p": prefix}).mappings().one()
    stored = " ".join(str(value) for value in row.values())
    assert random_part not in stored
    assert secret not in stored
    assert row["secret_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    if db_url.startswith("sqlite"):
        engine.dispose()
        assert random_part.encode() not in (tmp_path / "metadata.sqlite").read_bytes()
    with sessions() as session:
        (listed,) = list_api_keys(session, "acme")
    assert (listed.prefix, listed.name, listed.role, listed.user_email) == (
        prefix,
        "risk-etl",
        "viewer",
        "bob@acme.test",
    )
    assert random_part not in repr(listed)
    assert listed.secret_hash not in repr(listed)


def test_a_key_authenticates_from_either_header(sessions: sessionmaker[Session], auth: Authenticator) -> None:
    key, secret = new_key(sessions, role="analyst")
    for principal in (with_api_key_header(auth, secret), with_bearer(auth, secret)):
        assert principal.subject == f"apikey:{key.prefix}"
        assert (principal.tenant, principal.role) == ("acme", "analyst")
        assert (principal.channel, principal.credential) == ("api", "apikey")
        assert (principal.api_key_id, principal.user_id) == (key.id, None)


def test_wrong_unknown_and_malformed_keys_are_refused(
    sessions: sessionmaker[Session], auth: Authenticator
) -> None:
    key, secret = new_key(sessions)
    wrong_secret = f"mik_{key.prefix}_" + "A" * 43
    assert refusal(lambda: with_api_key_header(auth, wrong_secret)) == "invalid API key"
    assert refusal(lambda: with_api_key_header(auth, "mik_zzzzzzzz_" + "A" * 43)) == "unknown API key"
    assert refusal(lambda: with_api_key_header(auth, secret[:-20])) == "malformed API key"
    assert refusal(lambda: with_bearer(auth, "mik_short")) == "malformed API key"
    assert with_api_key_header(auth, secret).subject == f"apikey:{key.prefix}"


def test_revoking_through_the_authenticator_applies_at_once(
    sessions: sessionmaker[Session], auth: Authenticator
) -> None:
    key, secret = new_key(sessions)
    other_key, other_secret = new_key(sessions, name="other")
    assert with_api_key_header(auth, secret).api_key_id == key.id  # cached now
    revoked = auth.revoke_api_key(key.prefix)
    assert revoked.revoked_at == T0
    assert refusal(lambda: with_api_key_header(auth, secret)) == "API key revoked"  # same instant
    assert with_api_key_header(auth, other_secret).api_key_id == other_key.id
    with pytest.raises(ValueError, match="unknown API key prefix 'nothere0'"):
        auth.revoke_api_key("nothere0")


def test_revoking_elsewhere_applies_within_the_cache_time(
    sessions: sessionmaker[Session], auth: Authenticator, clock: Clock
) -> None:
    key, secret = new_key(sessions)
    with_api_key_header(auth, secret)
    with sessions() as session:  # e.g. `marketintel apikeys revoke` in another process
        revoke_api_key(session, key.prefix, now=T0)
        session.commit()
    clock.advance(seconds=5)
    assert refusal(lambda: with_api_key_header(auth, secret)) == "API key revoked"
    with sessions() as session:
        first = revoke_api_key(session, key.prefix, now=T0 + timedelta(hours=1)).revoked_at
    assert first == T0  # revoking twice keeps the first time


def test_expired_keys_and_keys_of_deactivated_owners_are_refused(
    sessions: sessionmaker[Session], auth: Authenticator, clock: Clock
) -> None:
    _, expiring = new_key(sessions, expires_at=T0 + timedelta(hours=1))
    _, owned = new_key(sessions, name="bob's laptop", user_email="bob@acme.test")
    assert with_api_key_header(auth, expiring).tenant == "acme"
    assert with_api_key_header(auth, owned).user_id is not None
    with sessions() as session:
        set_active(session, "bob@acme.test", False)
        session.commit()
    clock.advance(hours=1)
    assert refusal(lambda: with_api_key_header(auth, expiring)) == "API key expired"
    assert refusal(lambda: with_api_key_header(auth, owned)) == "API key owner deactivated"


def test_last_use_is_recorded_at_most_once_a_minute(
    sessions: sessionmaker[Session],
    settings: Settings,
    auth: Authenticator,
    clock: Clock,
    update_statements: list[str],
) -> None:
    key, secret = new_key(sessions)

    def last_used() -> Any:
        with sessions() as session:
            return session.scalars(select(ApiKey.last_used_at).where(ApiKey.id == key.id)).one()

    assert last_used() is None
    with_api_key_header(auth, secret)
    assert last_used() == T0
    for _ in range(59):  # a busy key: a request a second
        clock.advance(seconds=1)
        with_api_key_header(auth, secret)
    assert len(update_statements) == 1
    assert last_used() == T0
    # another process (its own authenticator) sees the recent use in the row and does not write either
    assert with_api_key_header(Authenticator(sessions, settings, clock=clock), secret).api_key_id == key.id
    assert len(update_statements) == 1
    clock.advance(seconds=1)
    with_api_key_header(auth, secret)
    assert last_used() == T0 + timedelta(minutes=1)
    assert len(update_statements) == 2


def test_creation_checks_its_arguments(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        with pytest.raises(ValueError, match="unknown tenant 'initech'"):
            create_api_key(session, "initech", "etl", "viewer")
        with pytest.raises(ValueError, match="invalid role 'owner'"):
            create_api_key(session, "acme", "etl", "owner")
        with pytest.raises(ValueError, match=r"no user 'cat@globex\.test' in tenant 'acme'"):
            create_api_key(session, "acme", "etl", "viewer", user_email="cat@globex.test")
        with pytest.raises(ValueError, match="needs a name"):
            create_api_key(session, "acme", "  ", "viewer")
        prefixes = {create_api_key(session, "acme", f"key {i}", "viewer")[0].prefix for i in range(20)}
    assert len(prefixes) == 20
