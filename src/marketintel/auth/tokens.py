"""Tokens the platform signs itself: bearer tokens for the API and session tokens for the web hub.

Claims: iss, aud, sub (the user's email), tenant, role, chn (the channel it was issued for), iat, nbf, exp,
jti; the header names the signing key (`kid`). Issuing the very first token creates the issuer's first
key, so the caller must commit the session.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import jwt
from sqlalchemy.orm import Session

from marketintel.auth.accounts import find_user, tenant_slug
from marketintel.auth.keys import ensure_signing_key, private_key
from marketintel.auth.models import AuthenticationError, Channel
from marketintel.auth.passwords import dummy_hash, verify_password
from marketintel.config import Settings
from marketintel.metadata.models import User, utcnow

TOKEN_CHANNELS: tuple[str, ...] = ("hub", "api")
BAD_SIGN_IN = "invalid email or password"


def issue_token(
    session: Session,
    settings: Settings,
    user: User,
    channel: Channel = "api",
    ttl: timedelta | None = None,
    now: datetime | None = None,
) -> str:
    """A token for `user`, signed by the active key, valid for `ttl` (default: the configured lifetime)."""
    if channel not in TOKEN_CHANNELS:
        raise ValueError(f"invalid channel {channel!r}; expected one of {', '.join(TOKEN_CHANNELS)}")
    if not user.active:
        raise ValueError(f"user {user.email!r} is deactivated")
    ttl = timedelta(minutes=settings.token_ttl_minutes) if ttl is None else ttl
    if ttl <= timedelta(0):
        raise ValueError(f"token lifetime must be positive, got {ttl}")
    now = now or utcnow()
    key = ensure_signing_key(session, now)
    issued = int(now.timestamp())
    claims = {
        "iss": settings.auth_issuer,
        "aud": settings.auth_audience,
        "sub": user.email,
        "tenant": tenant_slug(session, user.tenant_id),
        "role": user.role,
        "chn": channel,
        "iat": issued,
        "nbf": issued,
        "exp": issued + int(ttl.total_seconds()),
        "jti": secrets.token_urlsafe(16),
    }
    return jwt.encode(claims, private_key(key), algorithm=key.algorithm, headers={"kid": key.kid})


def sign_in(
    session: Session, settings: Settings, email: str, password: str, now: datetime | None = None
) -> str:
    """A web-hub session token (channel "hub") for a correct email and password; the caller commits."""
    user = find_user(session, email)
    if user is None or user.password_hash is None:
        verify_password(password, dummy_hash())  # as slow as a real check: no hint which emails exist
        raise AuthenticationError(BAD_SIGN_IN)
    if not verify_password(password, user.password_hash):
        raise AuthenticationError(BAD_SIGN_IN)
    if not user.active:
        raise AuthenticationError("user deactivated")
    return issue_token(session, settings, user, channel="hub", now=now)
