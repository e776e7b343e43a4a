"""Verifying the platform's own tokens: the signing keys and the token's user, each cached briefly.

The verifying keys are re-read from the metadata store every `cache_ttl` and at once when a token names a
kid we do not hold (a rotation in another process); retired keys stop verifying at their `verify_until`
even while cached. The user must still exist and be active; their current role and tenant are used, not
the ones the token was issued with.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from marketintel.auth.accounts import UserStatus, user_status
from marketintel.auth.cache import TtlCache
from marketintel.auth.jwt_verify import PublicKey, verify_jwt
from marketintel.auth.keys import public_key, verifying_keys
from marketintel.auth.models import AuthenticationError, Channel, Credential, Principal, UnknownSigningKey
from marketintel.auth.tokens import TOKEN_CHANNELS
from marketintel.config import Settings

CACHE_TTL = timedelta(seconds=5)


class EmbeddedVerifier:
    def __init__(
        self, sessions: sessionmaker[Session], settings: Settings, cache_ttl: timedelta = CACHE_TTL
    ) -> None:
        self._sessions = sessions
        self.issuer = settings.auth_issuer
        self.audience = settings.auth_audience
        self.cache_ttl = cache_ttl
        self._lock = threading.Lock()
        # kid → (key, verify_until); None means the key is the active one
        self._keys: dict[str, tuple[PublicKey, datetime | None]] = {}
        self._keys_read_at: datetime | None = None
        self._users: TtlCache[str, UserStatus] = TtlCache(cache_ttl)

    def _read_keys(self, now: datetime) -> None:
        with self._sessions() as session:
            stored = verifying_keys(session, now)
            self._keys = {k.kid: (public_key(k), k.verify_until) for k in stored}
        self._keys_read_at = now

    def _key_set(self, now: datetime, *, reread: bool = False) -> dict[str, PublicKey]:
        with self._lock:
            read_at = self._keys_read_at
            if reread or read_at is None or not read_at <= now < read_at + self.cache_ttl:
                self._read_keys(now)
            return {kid: key for kid, (key, until) in self._keys.items() if until is None or now < until}

    def claims(self, token: str, now: datetime) -> dict[str, Any]:
        def verify(keys: dict[str, PublicKey]) -> dict[str, Any]:
            return verify_jwt(token, keys, issuer=self.issuer, audience=self.audience, now=now)

        try:
            return verify(self._key_set(now))
        except UnknownSigningKey:
            return verify(self._key_set(now, reread=True))

    def _user(self, email: str, now: datetime) -> UserStatus | None:
        cached = self._users.get(email, now)
        if cached is not None:
            return cached
        with self._sessions() as session:
            found = user_status(session, email)
        if found is not None:
            self._users.put(email, found, now)
        return found

    def forget_user(self, email: str) -> None:
        """Drop a cached user (after deactivating them in this process), so the change applies at once."""
        self._users.pop(email)

    def principal(self, token: str, now: datetime, *, channel: Channel, credential: Credential) -> Principal:
        claims = self.claims(token, now)
        issued_for, email = claims.get("chn"), claims.get("sub")
        if issued_for not in TOKEN_CHANNELS or not isinstance(email, str):
            raise AuthenticationError("malformed token claims")
        if credential == "session" and issued_for != "hub":
            raise AuthenticationError("not a web-hub session token")
        user = self._user(email, now)
        if user is None:
            raise AuthenticationError("unknown user")
        if not user.active:
            raise AuthenticationError("user deactivated")
        return Principal(
            subject=user.email,
            tenant=user.tenant,
            role=user.role,
            channel=channel,
            credential=credential,
            user_id=user.id,
        )
