"""Authentication for the API gateway: the platform's own tokens, an external OIDC provider's, API keys."""

from marketintel.auth.models import (
    AuthenticationError,
    IdentityProviderUnavailable,
    Principal,
    UnknownSigningKey,
)
from marketintel.auth.service import API_KEY_HEADER, SESSION_COOKIE, Authenticator

__all__ = [
    "API_KEY_HEADER",
    "SESSION_COOKIE",
    "AuthenticationError",
    "Authenticator",
    "IdentityProviderUnavailable",
    "Principal",
    "UnknownSigningKey",
]
