"""Who a request is (`Principal`), the roles it may hold, and the one error every refused credential raises."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from marketintel.metadata.models import ROLES

Channel = Literal["hub", "api"]
Credential = Literal["session", "token", "oidc", "apikey"]

REALM = "marketintel"
# ROLES runs from most to least privileged: admin, analyst, viewer
ROLE_RANK: dict[str, int] = {role: len(ROLES) - i for i, role in enumerate(ROLES)}


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str  # the user's email, or "apikey:<prefix>"
    tenant: str  # the tenant's slug
    role: str
    channel: Channel  # decided by how the credential arrived, never by what it claims
    credential: Credential
    user_id: int | None = None
    api_key_id: int | None = None


class AuthenticationError(Exception):
    """A credential was missing or refused; `detail` says what was wrong and never repeats a secret.

    `missing` marks "no credential at all", which RFC 6750 answers with a bare challenge (no error code).
    """

    def __init__(self, detail: str, *, missing: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.missing = missing

    def www_authenticate(self) -> str:
        """The `WWW-Authenticate` value for the 401 response (RFC 6750 §3)."""
        if self.missing:
            return f'Bearer realm="{REALM}"'
        description = self.detail.replace("\\", "").replace('"', "'")
        return f'Bearer realm="{REALM}", error="invalid_token", error_description="{description}"'


class UnknownSigningKey(AuthenticationError):
    """The token names a key id the key set lacks: the caller may refresh its keys and try once more."""

    def __init__(self, kid: str) -> None:
        super().__init__("unknown signing key")
        self.kid = kid


class IdentityProviderUnavailable(AuthenticationError):
    """The external OIDC provider could not be asked for its keys (the gateway may prefer a 503)."""


def highest_role(roles: Iterable[str]) -> str | None:
    """The most privileged platform role among `roles` (others ignored), or None if there is none."""
    known = [r for r in roles if r in ROLE_RANK]
    return max(known, key=ROLE_RANK.__getitem__) if known else None
