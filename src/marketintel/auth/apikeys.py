"""API keys for machines: `mik_<prefix>_<secret>`, shown once, stored as a SHA-256 hash, found by prefix.

The prefix is public (lists, logs, `apikey:<prefix>` as the subject); the secret part carries 256 random
bits, so a fast hash is enough — there is nothing to brute-force. Functions that take a session never
commit.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session

from marketintel.auth.accounts import find_user
from marketintel.auth.models import AuthenticationError, Principal
from marketintel.metadata.models import ROLES, ApiKey, Tenant, User, utcnow

KEY_MARK = "mik_"
PREFIX_LENGTH = 8
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
_SECRET_BYTES = 32  # token_urlsafe(32): 43 characters
_KEY_PATTERN = re.compile(rf"{KEY_MARK}([a-z0-9]{{{PREFIX_LENGTH}}})_([A-Za-z0-9_-]{{32,128}})")


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """A stored key with its tenant and owner: what listing shows and what verifying needs."""

    id: int
    prefix: str
    name: str
    tenant: str
    role: str
    user_id: int | None
    user_email: str | None
    user_active: bool | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    secret_hash: str = field(repr=False)

    def principal(self) -> Principal:
        return Principal(
            subject=f"apikey:{self.prefix}",
            tenant=self.tenant,
            role=self.role,
            channel="api",
            credential="apikey",
            user_id=self.user_id,
            api_key_id=self.id,
        )


def looks_like_api_key(text: str) -> bool:
    return text.startswith(KEY_MARK)


def key_prefix(presented: str) -> str:
    """The public prefix of a presented key, or AuthenticationError if it is not shaped like one."""
    match = _KEY_PATTERN.fullmatch(presented)
    if match is None:
        raise AuthenticationError("malformed API key")
    return match.group(1)


def secret_hash(presented: str) -> str:
    return hashlib.sha256(presented.encode("ascii")).hexdigest()


def _unused_prefix(session: Session) -> str:
    while True:
        prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
        if session.execute(select(ApiKey.id).where(ApiKey.prefix == prefix)).first() is None:
            return prefix


def create_api_key(
    session: Session,
    tenant_slug: str,
    name: str,
    role: str,
    user_email: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """A new key and its full secret — the only time the secret exists outside the caller's hands."""
    if role not in ROLES:
        raise ValueError(f"invalid role {role!r}; expected one of {', '.join(ROLES)}")
    if not name.strip():
        raise ValueError("an API key needs a name")
    tenant_id = session.execute(select(Tenant.id).where(Tenant.slug == tenant_slug)).scalar_one_or_none()
    if tenant_id is None:
        raise ValueError(f"unknown tenant {tenant_slug!r}")
    user_id = None
    if user_email is not None:
        user = find_user(session, user_email)
        if user is None or user.tenant_id != tenant_id:
            raise ValueError(f"no user {user_email!r} in tenant {tenant_slug!r}")
        user_id = user.id
    prefix = _unused_prefix(session)
    secret = f"{KEY_MARK}{prefix}_{secrets.token_urlsafe(_SECRET_BYTES)}"
    key = ApiKey(
        tenant_id=tenant_id,
        user_id=user_id,
        name=name.strip(),
        prefix=prefix,
        secret_hash=secret_hash(secret),
        role=role,
        expires_at=expires_at,
    )
    session.add(key)
    session.flush()
    return key, secret


def revoke_api_key(session: Session, prefix: str, now: datetime | None = None) -> ApiKeyRecord:
    """Revoke a key for good and return it; revoking it again keeps the first revocation time."""
    key = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).first()
    if key is None:
        raise ValueError(f"unknown API key prefix {prefix!r}")
    if key.revoked_at is None:
        key.revoked_at = now or utcnow()
        session.flush()
    return _records(session, ApiKey.id == key.id)[0]


def _records(session: Session, *conditions: ColumnElement[bool]) -> list[ApiKeyRecord]:
    stmt = (
        select(ApiKey, Tenant.slug, User.email, User.active)
        .join(Tenant, Tenant.id == ApiKey.tenant_id)
        .outerjoin(User, User.id == ApiKey.user_id)
        .where(*conditions)
        .order_by(Tenant.slug, ApiKey.created_at, ApiKey.prefix)
    )
    return [
        ApiKeyRecord(
            id=key.id,
            prefix=key.prefix,
            name=key.name,
            tenant=slug,
            role=key.role,
            user_id=key.user_id,
            user_email=email,
            user_active=active,
            created_at=key.created_at,
            expires_at=key.expires_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
            secret_hash=key.secret_hash,
        )
        for key, slug, email, active in session.execute(stmt)
    ]


def list_api_keys(session: Session, tenant_slug: str | None = None) -> list[ApiKeyRecord]:
    """Every key (revoked and expired too), by tenant then age; secrets are never stored, so never shown."""
    if tenant_slug is None:
        return _records(session)
    return _records(session, Tenant.slug == tenant_slug)


def find_api_key(session: Session, prefix: str) -> ApiKeyRecord | None:
    found = _records(session, ApiKey.prefix == prefix)
    return found[0] if found else None


def check_api_key(record: ApiKeyRecord, presented: str, now: datetime) -> None:
    """Refuse a wrong secret, a revoked or expired key, or a key whose owner was deactivated."""
    if not hmac.compare_digest(secret_hash(presented), record.secret_hash):
        raise AuthenticationError("invalid API key")
    if record.revoked_at is not None:
        raise AuthenticationError("API key revoked")
    if record.expires_at is not None and record.expires_at <= now:
        raise AuthenticationError("API key expired")
    if record.user_active is False:
        raise AuthenticationError("API key owner deactivated")


def record_use(session: Session, key_id: int, now: datetime, resolution: timedelta) -> bool:
    """Set `last_used_at` unless it is already within `resolution` of `now`; whether a row changed.
    The condition in SQL keeps concurrent processes from writing more than the resolution needs."""
    stmt = (
        update(ApiKey)
        .where(ApiKey.id == key_id)
        .where(or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= now - resolution))
        .values(last_used_at=now)
    )
    return session.execute(stmt).rowcount > 0
