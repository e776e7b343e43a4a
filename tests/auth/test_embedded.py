"""The platform as its own issuer: tokens, web-hub sessions, signing-key rotation with an overlap."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.orm import Session, sessionmaker

from marketintel.auth.accounts import find_user, set_active, set_password
from marketintel.auth.keys import active_signing_key, jwks, rotate
from marketintel.auth.service import Authenticator
from marketintel.auth.tokens import issue_token, sign_in
from marketintel.config import Settings
from marketintel.metadata.models import SigningKey
from tests.auth.conftest import T0, Clock, settings_for
from tests.auth.helpers import issue, kid_of, refusal, with_bearer, with_cookie

PASSWORD = "correct horse battery staple"


@pytest.fixture
def settings(db_url: str) -> Settings:
    return settings_for(db_url)


@pytest.fixture
def sqlite_settings(sqlite_db_url: str) -> Settings:
    return settings_for(sqlite_db_url)


@pytest.fixture
def auth(sqlite_sessions: sessionmaker[Session], sqlite_settings: Settings, clock: Clock) -> Authenticator:
    return Authenticator(sqlite_sessions, sqlite_settings, clock=clock)


# --- tokens -------------------------------------------------------------------------------------------


def test_a_token_carries_the_claims_and_authenticates(
    sqlite_sessions: sessionmaker[Session], sqlite_settings: Settings, auth: Authenticator
) -> None:
    token = issue(sqlite_sessions, sqlite_settings, "Ann@Acme.test", T0)
    with sqlite_sessions() as session:
        active = active_signing_key(session)
        assert active is not None
    header = jwt.get_unverified_header(token)
    assert (header["alg"], header["kid"]) == ("ES256", active.kid)
    claims = jwt.decode(token, options={"verify_signature": False})
    issued = int(T0.timestamp())
    assert claims | {"jti": "-"} == {
        "iss": "http://127.0.0.1:8000",
        "aud": "marketintel",
        "sub": "ann@acme.test",
        "tenant": "acme",
        "role": "analyst",
        "chn": "api",
        "iat": issued,
        "nbf": issued,
        "exp": issued + 3600,
        "jti": "-",
    }
    principal = with_bearer(auth, token)
    assert (principal.subject, principal.tenant, principal.role) == ("ann@acme.test", "acme", "analyst")
    assert (principal.channel, principal.credential, principal.api_key_id) == ("api", "token", None)
    assert principal.user_id is not None


def test_expired_and_forged_tokens_are_refused(
    sqlite_sessions: sessionmaker[Session], sqlite_settings: Settings, auth: Authenticator, clock: Clock
) -> None:
    token = issue(sqlite_sessions, sqlite_settings, "ann@acme.test", T0, ttl=timedelta(minutes=5))
    forged_claims = jwt.decode(token, options={"verify_signature": False}) | {"role": "admin"}
    impostor = ec.generate_private_key(ec.SECP256R1())
    forged = jwt.encode(forged_claims, impostor, algorithm="ES256", headers={"kid": kid_of(token)})
    assert refusal(lambda: with_bearer(auth, forged)) == "invalid signature"
    made_up_kid = jwt.encode(forged_claims, impostor, algorithm="ES256", headers={"kid": "made-up"})
    assert refusal(lambda: with_bearer(auth, made_up_kid)) == "unknown signing key"
    clock.advance(minutes=6)
    assert refusal(lambda: with_bearer(auth, token)) == "token expired"


def test_the_users_current_role_counts_and_a_deactivated_user_is_refused(
    sqlite_sessions: sessionmaker[Session], sqlite_settings: Settings, auth: Authenticator, clock: Clock
) -> None:
    token = issue(sqlite_sessions, sqlite_settings, "ann@acme.test", T0)
    assert with_bearer(auth, token).role == "analyst"
    with sqlite_sessions() as session:
        user = find_user(session, "ann@acme.test")
        assert user is not None
        user.role = "viewer"
        session.commit()
    clock.advance(seconds=5)  # the user lookup is cached for 5 s
    assert with_bearer(auth, token).role == "viewer"
    with sqlite_sessions() as session:
        set_active(session, "ann@acme.test", False)
        session.commit()
    clock.advance(seconds=5)
    assert refusal(lambda: with_bearer(auth, token)) == "user deactivated"
    with sqlite_sessions() as session:
        user = find_user(session, "ann@acme.test")
        assert user is not None
        with pytest.raises(ValueError, match="deactivated"):
            issue_token(session, sqlite_settings, user)


# --- web-hub sessions ---------------------------------------------------------------------------------


def test_sign_in_gives_a_hub_session_and_the_channel_follows_how_it_arrives(
    sqlite_sessions: sessionmaker[Session], auth: Authenticator
) -> None:
    with sqlite_sessions() as session:
        set_password(session, "ann@acme.test", PASSWORD)
        session.commit()
    session_token = auth.sign_in("ANN@acme.test", PASSWORD)
    assert jwt.decode(session_token, options={"verify_signature": False})["chn"] == "hub"
    from_cookie = with_cookie(auth, session_token)
    assert (from_cookie.channel, from_cookie.credential, from_cookie.subject) == (
        "hub",
        "session",
        "ann@acme.test",
    )
    # the same token sent as a header is programmatic use: channel "api"
    as_header = with_bearer(auth, session_token)
    assert (as_header.channel, as_header.credential) == ("api", "token")


def test_an_api_token_is_not_a_hub_session(
    sqlite_sessions: sessionmaker[Session], sqlite_settings: Settings, auth: Authenticator
) -> None:
    api_token = issue(sqlite_sessions, sqlite_settings, "ann@acme.test", T0)
    assert refusal(lambda: with_cookie(auth, api_token)) == "not a web-hub session token"


def test_sign_in_refusals(
    sqlite_sessions: sessionmaker[Session], sqlite_settings: Settings, auth: Authenticator
) -> None:
    with sqlite_sessions() as session:
        set_password(session, "ann@acme.test", PASSWORD)
        session.commit()
    assert refusal(lambda: auth.sign_in("ann@acme.test", "wrong password")) == "invalid email or password"
    assert refusal(lambda: auth.sign_in("nobody@acme.test", PASSWORD)) == "invalid email or password"
    # bob has no password: he cannot sign in to the hub at all
    assert refusal(lambda: auth.sign_in("bob@acme.test", PASSWORD)) == "invalid email or password"
    with sqlite_sessions() as session:
        set_active(session, "ann@acme.test", False)
        session.commit()
        assert (
            refusal(lambda: sign_in(session, sqlite_settings, "ann@acme.test", PASSWORD))
            == "user deactivated"
        )


# --- signing keys -------------------------------------------------------------------------------------


def test_rotation_keeps_old_tokens_valid_for_the_overlap(
    sessions: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    auth = Authenticator(sessions, settings, clock=clock)
    old_token = issue(sessions, settings, "ann@acme.test", T0, ttl=timedelta(hours=3))
    assert with_bearer(auth, old_token).subject == "ann@acme.test"  # the key set is now cached

    rotated_at = clock.advance(minutes=10)
    with sessions() as session:
        new_key = rotate(session, timedelta(minutes=60), now=rotated_at)
        session.commit()
    new_token = issue(sessions, settings, "cat@globex.test", rotated_at)
    assert kid_of(new_token) == new_key.kid != kid_of(old_token)
    # the running authenticator has not re-read its keys yet: the unknown kid makes it
    assert with_bearer(auth, new_token).tenant == "globex"

    clock.advance(minutes=10)
    assert with_bearer(auth, old_token).subject == "ann@acme.test"
    with sessions() as session:
        old_key = session.get_one(SigningKey, kid_of(old_token))
        assert old_key.retired_at == rotated_at
        assert old_key.verify_until == rotated_at + timedelta(minutes=60)
        assert {k["kid"] for k in jwks(session, clock.now)["keys"]} == {old_key.kid, new_key.kid}

    clock.now = rotated_at + timedelta(minutes=60)  # verify_until: the old key stops verifying
    assert refusal(lambda: with_bearer(auth, old_token)) == "unknown signing key"
    assert with_bearer(auth, new_token).tenant == "globex"
    with sessions() as session:
        assert [k["kid"] for k in jwks(session, clock.now)["keys"]] == [new_key.kid]


def test_rsa_keys_sign_and_verify(sessions: sessionmaker[Session], settings: Settings, clock: Clock) -> None:
    with sessions() as session:
        rotate(session, timedelta(0), algorithm="RS256", now=T0)
        session.commit()
    token = issue(sessions, settings, "bob@acme.test", T0)
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert with_bearer(Authenticator(sessions, settings, clock=clock), token).role == "viewer"
    with sessions() as session, pytest.raises(ValueError, match="invalid algorithm 'HS256'"):
        rotate(session, timedelta(0), algorithm="HS256", now=T0)


def test_the_jwks_holds_public_keys_only(sqlite_sessions: sessionmaker[Session], auth: Authenticator) -> None:
    with sqlite_sessions() as session:
        rotate(session, timedelta(minutes=60), now=T0)
        rotate(session, timedelta(minutes=60), algorithm="RS256", now=T0 + timedelta(seconds=1))
        session.commit()
    document = auth.jwks()
    assert len(document["keys"]) == 2
    for key in document["keys"]:
        assert {"kid", "kty", "alg", "use"} <= set(key)
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
