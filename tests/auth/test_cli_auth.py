"""The real `marketintel` command in a subprocess: tenants, users, tokens, key rotation and API keys, then
the credentials it printed checked by an Authenticator on the same metadata store."""

from __future__ import annotations

import re
from pathlib import Path

import jwt
import pytest
from sqlalchemy.orm import Session, sessionmaker

from marketintel.auth.service import Authenticator
from marketintel.metadata.service import engine_for, session_factory
from tests.auth.conftest import settings_for, sqlite_url
from tests.auth.helpers import kid_of, refusal, with_api_key_header, with_bearer, with_cookie
from tests.helpers import run_cli

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery staple"


def ok(data_dir: Path, *args: str, **env: str) -> str:
    done = run_cli(data_dir, *args, **env)
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def sessions_on(data_dir: Path) -> sessionmaker[Session]:
    return session_factory(engine_for(sqlite_url(data_dir)))


def test_accounts_tokens_and_keys_end_to_end(tmp_path: Path) -> None:
    ok(tmp_path, "tenants", "create", "acme", "--name", "Acme Trading")
    ok(
        tmp_path,
        "users", "create", "--tenant", "acme", "--email", "Ann@Acme.test", "--role", "analyst",
        "--password-env", "ANN_PASSWORD",
        ANN_PASSWORD=PASSWORD,
    )  # fmt: skip
    row = r"ann@acme\.test[\s│]+acme[\s│]+analyst[\s│]+yes[\s│]+yes"  # active, has a password
    assert re.search(row, ok(tmp_path, "users", "list"))

    first = ok(tmp_path, "token", "--email", "ann@acme.test").strip()
    sessions = sessions_on(tmp_path)
    auth = Authenticator(sessions, settings_for(sqlite_url(tmp_path)))
    principal = with_bearer(auth, first)
    assert (principal.subject, principal.tenant, principal.role, principal.channel) == (
        "ann@acme.test", "acme", "analyst", "api",
    )  # fmt: skip
    hub = auth.sign_in("ann@acme.test", PASSWORD)
    assert with_cookie(auth, hub).channel == "hub"

    assert "now signing with" in ok(tmp_path, "keys", "rotate", "--overlap-minutes", "30")
    second = ok(tmp_path, "token", "--email", "ann@acme.test", "--ttl-minutes", "5").strip()
    assert kid_of(second) != kid_of(first)
    claims = jwt.decode(second, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 300
    assert with_bearer(auth, first).subject == with_bearer(auth, second).subject  # both keys verify
    keys = ok(tmp_path, "keys", "list")
    assert "signing" in keys
    assert "verifying until" in keys

    created = run_cli(tmp_path, "apikeys", "create", "--tenant", "acme", "--name", "etl", "--role", "viewer")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert re.fullmatch(r"mik_[a-z0-9]{8}_[A-Za-z0-9_-]{43}", secret)
    assert "cannot be shown again" in created.stderr
    prefix = secret.split("_")[1]
    assert with_api_key_header(auth, secret).subject == f"apikey:{prefix}"
    listing = ok(tmp_path, "apikeys", "list", "--tenant", "acme")
    assert prefix in listing
    assert secret.split("_", 2)[2] not in listing
    assert "revoked" in ok(tmp_path, "apikeys", "revoke", prefix)
    assert (
        refusal(
            lambda: with_api_key_header(Authenticator(sessions, settings_for(sqlite_url(tmp_path))), secret)
        )
        == "API key revoked"
    )

    ok(tmp_path, "users", "deactivate", "ann@acme.test")
    fresh = Authenticator(sessions, settings_for(sqlite_url(tmp_path)))
    assert refusal(lambda: with_bearer(fresh, second)) == "user deactivated"


def test_errors_are_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    for args in (
        ("users", "create", "--tenant", "nowhere", "--email", "a@b.test", "--role", "viewer"),
        ("token", "--email", "nobody@b.test"),
        ("apikeys", "revoke", "nothere0"),
    ):
        done = run_cli(tmp_path, *args)
        assert done.returncode == 1, done.stdout
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert done.stderr.startswith("error: ")
    both = run_cli(tmp_path, "users", "create", "--tenant", "t", "--email", "e@x.test", "--role", "viewer",
                   "--password-stdin", "--password-env", "X")  # fmt: skip
    assert both.returncode == 2
    assert "not both" in both.stderr
