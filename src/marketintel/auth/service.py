"""Who is calling: one entry point the gateway hands every request's credentials to.

Routing: `Authorization: Bearer <JWT>` goes by its (unverified) `iss` to the platform's own keys or to the
configured OIDC provider, anything else is refused; `Authorization: Bearer mik_…` or `X-API-Key` is an API
key; the `mi_session` cookie is a web-hub session. The channel follows how the credential arrived — a
header means "api", the cookie means "hub" — never what the credential claims. A header credential wins
over the cookie (browsers send cookies unasked).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker

from marketintel.auth.accounts import tenant_exists
from marketintel.auth.apikey_verifier import ApiKeyVerifier
from marketintel.auth.apikeys import ApiKeyRecord, looks_like_api_key
from marketintel.auth.cache import TtlCache
from marketintel.auth.embedded import CACHE_TTL, EmbeddedVerifier
from marketintel.auth.jwt_verify import unverified_claims
from marketintel.auth.keys import jwks
from marketintel.auth.models import AuthenticationError, Principal
from marketintel.auth.oidc import OidcVerifier
from marketintel.auth.tokens import sign_in
from marketintel.config import Settings
from marketintel.metadata.models import utcnow

SESSION_COOKIE = "mi_session"
API_KEY_HEADER = "X-API-Key"


def bearer_credential(authorization: str) -> str:
    """The credential of an `Authorization: Bearer <credential>` header value."""
    scheme, _, credential = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise AuthenticationError("unsupported authorization scheme (Bearer only)")
    credential = credential.strip()
    if not credential:
        raise AuthenticationError("empty bearer credential")
    return credential


class Authenticator:
    """Thread-safe; open one per process and share it. `clock` is injectable for tests."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings,
        client: httpx.Client | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        cache_ttl: timedelta = CACHE_TTL,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._clock = clock
        self.embedded = EmbeddedVerifier(sessions, settings, cache_ttl)
        self.api_keys = ApiKeyVerifier(sessions, cache_ttl)
        self.oidc = (
            OidcVerifier(
                settings.oidc_issuer,
                settings.auth_audience,
                settings.oidc_tenant_claim,
                client,
                clock=clock,
            )
            if settings.oidc_issuer
            else None
        )
        self._known_tenants: TtlCache[str, bool] = TtlCache(cache_ttl)

    def close(self) -> None:
        if self.oidc is not None:
            self.oidc.close()

    def authenticate(
        self, *, authorization: str | None, api_key: str | None, session_cookie: str | None
    ) -> Principal:
        """The caller behind the request's credentials, or AuthenticationError (a 401)."""
        now = self._clock()
        if authorization and api_key:
            raise AuthenticationError(f"conflicting credentials: send Authorization or {API_KEY_HEADER}")
        if api_key:
            return self.api_keys.principal(api_key.strip(), now)
        if authorization:
            credential = bearer_credential(authorization)
            if looks_like_api_key(credential):
                return self.api_keys.principal(credential, now)
            return self._bearer_token(credential, now)
        if session_cookie:
            if unverified_claims(session_cookie).get("iss") != self._settings.auth_issuer:
                raise AuthenticationError("not a web-hub session token")
            return self.embedded.principal(session_cookie, now, channel="hub", credential="session")
        raise AuthenticationError("no credentials", missing=True)

    def cached(
        self, *, authorization: str | None, api_key: str | None, session_cookie: str | None
    ) -> Principal | None:
        """The caller, when that takes no I/O: an API key (in `X-API-Key` or as a bearer credential) whose
        row this process holds. None otherwise — call `authenticate`, which may query the metadata store
        and gives the reason for a refusal."""
        if authorization and api_key:
            return None
        presented = api_key.strip() if api_key else None
        if presented is None and authorization:
            scheme, _, credential = authorization.strip().partition(" ")
            credential = credential.strip()
            if scheme.lower() == "bearer" and looks_like_api_key(credential):
                presented = credential
        if presented is None:
            return None
        return self.api_keys.cached_principal(presented, self._clock())

    def _bearer_token(self, token: str, now: datetime) -> Principal:
        issuer = unverified_claims(token).get("iss")
        if issuer == self._settings.auth_issuer:
            return self.embedded.principal(token, now, channel="api", credential="token")
        if self.oidc is not None and issuer == self.oidc.issuer:
            principal = self.oidc.principal(token, now)
            if not self._tenant_exists(principal.tenant, now):
                raise AuthenticationError("unknown tenant")
            return principal
        raise AuthenticationError("untrusted issuer")

    def _tenant_exists(self, slug: str, now: datetime) -> bool:
        if self._known_tenants.get(slug, now):
            return True
        with self._sessions() as session:
            found = tenant_exists(session, slug)
        if found:
            self._known_tenants.put(slug, True, now)
        return found

    def sign_in(self, email: str, password: str) -> str:
        """A web-hub session token (set it as the `mi_session` cookie), or AuthenticationError."""
        with self._sessions() as session:
            token = sign_in(session, self._settings, email, password, now=self._clock())
            session.commit()  # the issuer's first token also creates its first signing key
        return token

    def revoke_api_key(self, prefix: str) -> ApiKeyRecord:
        """Revoke a key; refused from the next request on in this process (ValueError if unknown)."""
        return self.api_keys.revoke(prefix, self._clock())

    def jwks(self) -> dict[str, Any]:
        """The embedded issuer's public keys, for `GET /.well-known/jwks.json`."""
        with self._sessions() as session:
            return jwks(session, self._clock())
