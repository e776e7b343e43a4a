"""The one JWT check, for the platform's own tokens and an external OIDC provider's alike.

Only RS256 and ES256 are accepted, and the key must be of the algorithm's type: `alg: none` and the
HS256-signed-with-the-public-key confusion fail before any signature math. The key comes from the caller's
key set by `kid`, never from the token (`jwk`, `jku` and `x5u` headers are ignored). Claims are checked
here against an injectable `now`, with a small leeway for clock skew.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from marketintel.auth.models import AuthenticationError, UnknownSigningKey

PublicKey = RSAPublicKey | EllipticCurvePublicKey
ALGORITHMS: tuple[str, ...] = ("RS256", "ES256")
LEEWAY = timedelta(seconds=30)
# a registry holding only the accepted algorithms, and refusing RSA keys under 2048 bits
_JWS = jwt.PyJWS(algorithms=list(ALGORITHMS), options={"enforce_minimum_key_length": True})


def _malformed(what: str = "malformed token") -> AuthenticationError:
    return AuthenticationError(what)


def unverified_header(token: str) -> dict[str, Any]:
    try:
        return jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise _malformed() from None


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload WITHOUT any check: only to decide which verifier a token goes to."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise _malformed() from None
    if not isinstance(claims, dict):
        raise _malformed()
    return claims


def _key_fits(algorithm: str, key: PublicKey) -> bool:
    if algorithm == "RS256":
        return isinstance(key, RSAPublicKey)
    return isinstance(key, EllipticCurvePublicKey) and isinstance(key.curve, SECP256R1)


def _signed_claims(token: str, algorithm: str, key: PublicKey) -> dict[str, Any]:
    try:
        payload = _JWS.decode_complete(token, key, algorithms=[algorithm])["payload"]
    except jwt.InvalidSignatureError:
        raise AuthenticationError("invalid signature") from None
    except jwt.InvalidKeyError:
        raise AuthenticationError("signing key too weak") from None
    except jwt.PyJWTError:
        raise _malformed() from None
    try:
        claims = json.loads(payload)
    except ValueError:
        raise _malformed("malformed token payload") from None
    if not isinstance(claims, dict):
        raise _malformed("malformed token payload")
    return claims


def _instant(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    # bool is an int in Python, and NaN compares false with everything: neither is a time
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _malformed(f"malformed '{name}' claim")
    return float(value)


def check_claims(
    claims: dict[str, Any], *, issuer: str, audience: str, now: datetime, leeway: timedelta = LEEWAY
) -> None:
    """Refuse claims that are expired, not yet valid, issued in the future, or for another iss or aud."""
    at, slack = now.timestamp(), leeway.total_seconds()
    expires = _instant(claims, "exp")
    if expires is None:
        raise AuthenticationError("token has no expiry (exp)")
    if expires <= at - slack:
        raise AuthenticationError("token expired")
    not_before = _instant(claims, "nbf")
    if not_before is not None and not_before > at + slack:
        raise AuthenticationError("token not yet valid (nbf)")
    issued = _instant(claims, "iat")
    if issued is not None and issued > at + slack:
        raise AuthenticationError("token issued in the future (iat)")
    if claims.get("iss") != issuer:
        raise AuthenticationError("issuer mismatch")
    audiences = claims.get("aud")
    if isinstance(audiences, str):
        audiences = [audiences]
    if not isinstance(audiences, list) or audience not in audiences:
        raise AuthenticationError("audience mismatch")


def verify_jwt(
    token: str,
    keys: Mapping[str, PublicKey],
    *,
    issuer: str,
    audience: str,
    now: datetime | None = None,
    leeway: timedelta = LEEWAY,
) -> dict[str, Any]:
    """The verified claims of `token`, or AuthenticationError (UnknownSigningKey when `kid` is not in
    `keys`, so the caller can refresh its key set and try once more)."""
    header = unverified_header(token)
    algorithm = header.get("alg")
    if algorithm not in ALGORITHMS:
        raise AuthenticationError("signing algorithm not accepted (RS256 or ES256 only)")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise AuthenticationError("token has no key id (kid)")
    key = keys.get(kid)
    if key is None:
        raise UnknownSigningKey(kid)
    if not _key_fits(algorithm, key):
        raise AuthenticationError("signing key does not match the token's algorithm")
    claims = _signed_claims(token, algorithm, key)
    check_claims(claims, issuer=issuer, audience=audience, now=now or datetime.now(UTC), leeway=leeway)
    return claims
