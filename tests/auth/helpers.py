"""Small shared steps of the auth tests: issuing tokens and presenting credentials as the gateway would."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import jwt
import pytest
from sqlalchemy.orm import Session, sessionmaker

from marketintel.auth.accounts import find_user
from marketintel.auth.models import AuthenticationError, Principal
from marketintel.auth.service import Authenticator
from marketintel.auth.tokens import issue_token
from marketintel.config import Settings


def issue(
    sessions: sessionmaker[Session],
    settings: Settings,
    email: str,
    now: datetime,
    ttl: timedelta | None = None,
    channel: str = "api",
) -> str:
    with sessions() as session:
        user = find_user(session, email)
        assert user is not None
        token = issue_token(session, settings, user, channel=channel, ttl=ttl, now=now)  # type: ignore[arg-type]
        session.commit()
    return token


def with_bearer(auth: Authenticator, credential: str) -> Principal:
    return auth.authenticate(authorization=f"Bearer {credential}", api_key=None, session_cookie=None)


def with_api_key_header(auth: Authenticator, key: str) -> Principal:
    return auth.authenticate(authorization=None, api_key=key, session_cookie=None)


def with_cookie(auth: Authenticator, token: str) -> Principal:
    return auth.authenticate(authorization=None, api_key=None, session_cookie=token)


def refusal(attempt: Callable[[], Any]) -> str:
    """The detail of the AuthenticationError `attempt` raises."""
    with pytest.raises(AuthenticationError) as refused:
        attempt()
    return refused.value.detail


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])
