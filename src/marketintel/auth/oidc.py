"""Tokens from an external OIDC provider (Keycloak-compatible): discovery, a cached JWKS, claim mapping.

The JWKS is fetched from the `jwks_uri` that discovery names, kept for `jwks_ttl`, and fetched again at
once when a token names an unknown `kid` (the provider rotated its keys) — but never more often than
`min_refetch_interval`, so tokens with made-up kids cannot make us hammer the provider.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from marketintel.auth.jwt_verify import ALGORITHMS, PublicKey, verify_jwt
from marketintel.auth.models import (
    AuthenticationError,
    IdentityProviderUnavailable,
    Principal,
    UnknownSigningKey,
    highest_role,
)
from marketintel.metadata.models import utcnow

log = logging.getLogger(__name__)

DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_TTL = timedelta(minutes=10)
MIN_REFETCH_INTERVAL = timedelta(seconds=30)
FETCH_TIMEOUT_S = 5.0
_KEY_CODECS = {"RSA": RSAAlgorithm, "EC": ECAlgorithm}


def _public_keys(document: Any) -> dict[str, PublicKey]:
    """kid → key for the signing keys of a JWKS we can use; encryption, symmetric and other keys skipped."""
    keys: dict[str, PublicKey] = {}
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError("JWKS has no 'keys' list")
    for jwk in entries:
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
            continue
        algorithm = jwk.get("alg")  # optional in a JWK; when present it must be one we accept
        if jwk.get("use", "sig") != "sig" or (algorithm is not None and algorithm not in ALGORITHMS):
            continue
        codec = _KEY_CODECS.get(jwk.get("kty", ""))
        if codec is None or "d" in jwk:  # "d": a private key, which a public JWKS must never carry
            continue
        try:
            keys[jwk["kid"]] = codec.from_jwk(jwk)
        except Exception as exc:  # one unreadable key must not hide the others
            log.warning("skipping an unreadable JWKS key", extra={"kid": jwk["kid"], "error": str(exc)})
    return keys


def _roles(claims: dict[str, Any]) -> list[str]:
    """Roles from a top-level `roles` claim and from Keycloak's `realm_access.roles`."""
    found: list[str] = []
    for holder in (claims, claims.get("realm_access")):
        roles = holder.get("roles") if isinstance(holder, dict) else None
        if isinstance(roles, str):
            roles = [roles]
        if isinstance(roles, list):
            found += [r for r in roles if isinstance(r, str)]
    return found


def _subject(claims: dict[str, Any]) -> str:
    """The user's email (lower-cased, as the platform stores emails), else their username or `sub`."""
    email = claims.get("email")
    if isinstance(email, str) and email:
        return email.strip().lower()
    for name in ("preferred_username", "sub"):
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value
    raise AuthenticationError("no subject in the token")


class OidcVerifier:
    """Verifies the provider's tokens and maps them to a Principal (channel "api", credential "oidc").

    Thread-safe; `client` (optional) is used for every fetch, each with `timeout` seconds, and is closed
    by `close()` only if this verifier created it.
    """

    def __init__(
        self,
        issuer: str,
        audience: str,
        tenant_claim: str = "tenant",
        client: httpx.Client | None = None,
        *,
        jwks_ttl: timedelta = JWKS_TTL,
        min_refetch_interval: timedelta = MIN_REFETCH_INTERVAL,
        timeout: float = FETCH_TIMEOUT_S,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.tenant_claim = tenant_claim
        self.jwks_ttl = jwks_ttl
        self.min_refetch_interval = min_refetch_interval
        self.timeout = timeout
        self._clock = clock
        self._owns_client = client is None
        self._client = client or httpx.Client()
        self._lock = threading.Lock()
        self._jwks_uri: str | None = None
        self._keys: dict[str, PublicKey] = {}
        self._fetched_at: datetime | None = None
        self._attempted_at: datetime | None = None
        self._last_failure = ""

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    # --- fetching ---------------------------------------------------------------------------------

    def _get_json(self, url: str) -> Any:
        try:
            response = self._client.get(url, timeout=self.timeout, headers={"Accept": "application/json"})
        except httpx.TimeoutException:
            raise ValueError("timed out") from None
        except (httpx.HTTPError, httpx.InvalidURL):
            raise ValueError("connection failed") from None
        if response.status_code != 200:
            raise ValueError(f"HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise ValueError("response is not JSON") from None

    def _discover(self) -> str:
        document = self._get_json(self.issuer.rstrip("/") + DISCOVERY_PATH)
        if not isinstance(document, dict):
            raise ValueError("discovery document is not an object")
        # OIDC Discovery §4.3: the document must name exactly the issuer we asked
        if document.get("issuer") != self.issuer:
            raise ValueError("discovery names another issuer")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise ValueError("discovery has no jwks_uri")
        return jwks_uri

    def _refresh(self, now: datetime) -> None:
        """Fetch the JWKS (discovering its URL first if needed). On failure keep any keys we hold."""
        self._attempted_at = now
        try:
            if self._jwks_uri is None:
                self._jwks_uri = self._discover()
            keys = _public_keys(self._get_json(self._jwks_uri))
        except ValueError as exc:
            self._jwks_uri = None  # rediscover next time: the provider may have moved its keys
            self._last_failure = str(exc)
            log.warning(
                "OIDC provider unavailable", extra={"issuer": self.issuer, "error": self._last_failure}
            )
            return
        self._keys, self._fetched_at = keys, now

    def _may_fetch(self, now: datetime) -> bool:
        last = self._attempted_at
        return last is None or not last <= now < last + self.min_refetch_interval

    def _current_keys(self, now: datetime, *, unknown_kid: bool = False) -> dict[str, PublicKey]:
        with self._lock:
            stale = self._fetched_at is None or not self._fetched_at <= now < self._fetched_at + self.jwks_ttl
            if (stale or unknown_kid) and self._may_fetch(now):
                self._refresh(now)
            if self._fetched_at is None:
                raise IdentityProviderUnavailable(
                    f"identity provider unreachable ({self._last_failure or 'not yet asked'})"
                )
            return self._keys

    # --- verifying --------------------------------------------------------------------------------

    def verify(self, token: str, now: datetime | None = None) -> dict[str, Any]:
        """The token's verified claims; an unknown kid triggers one (throttled) JWKS refetch."""
        now = now or self._clock()
        try:
            return self._verify_with(self._current_keys(now), token, now)
        except UnknownSigningKey:
            return self._verify_with(self._current_keys(now, unknown_kid=True), token, now)

    def _verify_with(self, keys: dict[str, PublicKey], token: str, now: datetime) -> dict[str, Any]:
        return verify_jwt(token, keys, issuer=self.issuer, audience=self.audience, now=now)

    def principal(self, token: str, now: datetime | None = None) -> Principal:
        claims = self.verify(token, now)
        tenant = claims.get(self.tenant_claim)
        if not isinstance(tenant, str) or not tenant:
            raise AuthenticationError(f"no tenant in the token (claim '{self.tenant_claim}')")
        role = highest_role(_roles(claims))
        if role is None:
            raise AuthenticationError("no platform role in the token (admin, analyst or viewer)")
        return Principal(
            subject=_subject(claims),
            tenant=tenant,
            role=role,
            channel="api",
            credential="oidc",
        )
