"""Tenants and users as authentication sees them: lookups by email, passwords, deactivation, listings.

Creating tenants and users is the metadata service's (`create_tenant`, `create_user`); this module adds
what signing in needs. Functions that take a session never commit.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from marketintel.auth.passwords import hash_password
from marketintel.metadata.models import Tenant, User


@dataclass(frozen=True, slots=True)
class UserStatus:
    """What a request needs to know about a token's user, small enough to cache."""

    id: int
    email: str
    tenant: str
    role: str
    active: bool


def normalise_email(email: str) -> str:
    # the metadata service stores emails lower-cased
    return email.strip().lower()


def find_user(session: Session, email: str) -> User | None:
    return session.scalars(select(User).where(User.email == normalise_email(email))).first()


def _existing_user(session: Session, email: str) -> User:
    user = find_user(session, email)
    if user is None:
        raise ValueError(f"unknown user {normalise_email(email)!r}")
    return user


def user_status(session: Session, email: str) -> UserStatus | None:
    stmt = (
        select(User.id, User.email, Tenant.slug, User.role, User.active)
        .join(Tenant, Tenant.id == User.tenant_id)
        .where(User.email == normalise_email(email))
    )
    row = session.execute(stmt).first()
    return None if row is None else UserStatus(*row)


def tenant_slug(session: Session, tenant_id: int) -> str:
    return session.get_one(Tenant, tenant_id).slug


def tenant_exists(session: Session, slug: str) -> bool:
    return session.execute(select(Tenant.id).where(Tenant.slug == slug)).first() is not None


def set_password(session: Session, email: str, password: str) -> User:
    """Give a user a password (replacing any), so they can sign in to the web hub."""
    user = _existing_user(session, email)
    user.password_hash = hash_password(password)
    session.flush()
    return user


def set_active(session: Session, email: str, active: bool) -> User:
    """Deactivate (or reactivate) a user: their tokens and API keys are refused from then on."""
    user = _existing_user(session, email)
    user.active = active
    session.flush()
    return user


def list_tenants(session: Session) -> list[Tenant]:
    return list(session.scalars(select(Tenant).order_by(Tenant.slug)))


def list_users(session: Session, tenant: str | None = None) -> list[tuple[User, str]]:
    """(user, tenant slug) pairs ordered by tenant and email, optionally of one tenant."""
    stmt = select(User, Tenant.slug).join(Tenant, Tenant.id == User.tenant_id)
    if tenant is not None:
        stmt = stmt.where(Tenant.slug == tenant)
    return [(user, slug) for user, slug in session.execute(stmt.order_by(Tenant.slug, User.email))]
