"""How the Authenticator routes credentials: by header or cookie, by issuer, and what a refusal says."""

from __future__ import annotations

from collections.abc import Iterator

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.orm import Session, sessionmaker

from marketintel.auth.apikeys import create_api_key
from marketintel.auth.models import AuthenticationError
from marketintel.auth.service import Authenticator
from tests.auth.conftest import T0, Clock, settings_for
from tests.auth.helpers import issue, refusal, with_bearer, with_cookie
from tests.auth.oidc_provider import LocalOidcProvider


@pytest.fixture
def provider() -> Iterator[LocalOidcProvider]:
    idp = LocalOidcProvider()
    yield idp
    idp.close()


@pytest.fixture
def auth(
    sqlite_sessions: sessionmaker[Session], sqlite_db_url: str, provider: LocalOidcProvider, clock: Clock
) -> Iterator[Authenticator]:
    authenticator = Authenticator(
        sqlite_sessions, settings_for(sqlite_db_url, oidc_issuer=provider.issuer), clock=clock
    )
    yield authenticator
    authenticator.close()


def test_no_credentials_is_a_bare_challenge(auth: Authenticator) -> None:
    with pytest.raises(AuthenticationError) as refused:
        auth.authenticate(authorization=None, api_key=None, session_cookie=None)
    assert refused.value.missing
    assert refused.value.www_authenticate() == 'Bearer realm="marketintel"'


def test_a_refusal_names_its_reason_in_the_challenge(auth: Authenticator) -> None:
    with pytest.raises(AuthenticationError) as refused:
        with_bearer(auth, "not-a-jwt")
    assert refused.value.www_authenticate() == (
        'Bearer realm="marketintel", error="invalid_token", error_description="malformed token"'
    )


def test_header_problems(auth: Authenticator, sqlite_sessions: sessionmaker[Session]) -> None:
    basic = "Basic YW5uOnB3"
    assert (
        refusal(lambda: auth.authenticate(authorization=basic, api_key=None, session_cookie=None))
        == "unsupported authorization scheme (Bearer only)"
    )
    assert refusal(lambda: with_bearer(auth, "")) == "empty bearer credential"
    with sqlite_sessions() as session:
        _, secret = create_api_key(session, "acme", "etl", "viewer")
        session.commit()
    bearer = f"Bearer {secret}"
    assert (
        refusal(lambda: auth.authenticate(authorization=bearer, api_key=secret, session_cookie=None))
        == "conflicting credentials: send Authorization or X-API-Key"
    )


def test_a_header_credential_wins_over_the_cookie(
    auth: Authenticator, sqlite_sessions: sessionmaker[Session], sqlite_db_url: str
) -> None:
    settings = settings_for(sqlite_db_url)
    hub_session = issue(sqlite_sessions, settings, "ann@acme.test", T0, channel="hub")
    with sqlite_sessions() as session:
        _, secret = create_api_key(session, "globex", "etl", "viewer")
        session.commit()
    principal = auth.authenticate(authorization=None, api_key=secret, session_cookie=hub_session)
    assert (principal.tenant, principal.credential, principal.channel) == ("globex", "apikey", "api")


def test_tokens_are_routed_by_issuer(auth: Authenticator, provider: LocalOidcProvider) -> None:
    external = with_bearer(auth, provider.token(T0))
    assert (external.subject, external.tenant, external.credential) == ("ann@acme.test", "acme", "oidc")
    unknown_tenant = provider.token(T0, tenant="initech")
    assert refusal(lambda: with_bearer(auth, unknown_tenant)) == "unknown tenant"
    stranger = jwt.encode(
        provider.claims(T0, iss="https://login.example.com"),
        ec.generate_private_key(ec.SECP256R1()),
        algorithm="ES256",
        headers={"kid": "k"},
    )
    assert refusal(lambda: with_bearer(auth, stranger)) == "untrusted issuer"
    # an external token is never a web-hub session
    assert refusal(lambda: with_cookie(auth, provider.token(T0))) == "not a web-hub session token"


def test_without_an_oidc_issuer_external_tokens_are_untrusted(
    sqlite_sessions: sessionmaker[Session], sqlite_db_url: str, provider: LocalOidcProvider, clock: Clock
) -> None:
    embedded_only = Authenticator(sqlite_sessions, settings_for(sqlite_db_url), clock=clock)
    assert embedded_only.oidc is None
    assert refusal(lambda: with_bearer(embedded_only, provider.token(T0))) == "untrusted issuer"
    assert sum(provider.requests.values()) == 0  # the provider was never asked
