"""The embedded issuer's signing keys, kept in the metadata store.

The newest key not retired signs. Rotation adds a new key and retires the old one, which keeps verifying
until its `verify_until` (now + the overlap), so tokens it signed stay valid until they expire. A key's id
is its RFC 7638 thumbprint. Functions that take a session never commit.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from marketintel.auth.jwt_verify import PublicKey
from marketintel.metadata.models import SIGNING_ALGORITHMS, SigningKey, utcnow

DEFAULT_ALGORITHM = "ES256"
RSA_BITS = 2048
# the members RFC 7638 hashes, per key type
_THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638: SHA-256 of the key's required members, sorted, without whitespace; base64url."""
    members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


def _generate(algorithm: str) -> PrivateKey:
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)


def _public_jwk(private: PrivateKey, algorithm: str) -> dict[str, Any]:
    codec = ECAlgorithm if algorithm == "ES256" else RSAAlgorithm
    jwk: dict[str, Any] = codec.to_jwk(private.public_key(), as_dict=True)
    return {**jwk, "kid": jwk_thumbprint(jwk), "alg": algorithm, "use": "sig"}


def create_signing_key(
    session: Session, algorithm: str = DEFAULT_ALGORITHM, now: datetime | None = None
) -> SigningKey:
    """A new active signing key (flushed, not committed)."""
    if algorithm not in SIGNING_ALGORITHMS:
        raise ValueError(f"invalid algorithm {algorithm!r}; expected one of {', '.join(SIGNING_ALGORITHMS)}")
    private = _generate(algorithm)
    jwk = _public_jwk(private, algorithm)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    key = SigningKey(
        kid=jwk["kid"], algorithm=algorithm, private_key_pem=pem, public_jwk=jwk, created_at=now or utcnow()
    )
    session.add(key)
    session.flush()
    return key


def active_signing_key(session: Session) -> SigningKey | None:
    """The key that signs: the newest one not retired."""
    stmt = (
        select(SigningKey)
        .where(SigningKey.retired_at.is_(None))
        .order_by(SigningKey.created_at.desc(), SigningKey.kid)
        .limit(1)
    )
    return session.scalars(stmt).first()


def ensure_signing_key(session: Session, now: datetime | None = None) -> SigningKey:
    """The active key, created (ES256) if the issuer has none yet; the caller commits."""
    return active_signing_key(session) or create_signing_key(session, now=now)


def rotate(
    session: Session,
    overlap: timedelta,
    algorithm: str = DEFAULT_ALGORITHM,
    now: datetime | None = None,
) -> SigningKey:
    """Make a new key the signing one; the keys it replaces verify until now + `overlap`, which should be
    at least the token lifetime so every token they signed can run its course."""
    if overlap < timedelta(0):
        raise ValueError(f"overlap must not be negative, got {overlap}")
    now = now or utcnow()
    for old in session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None))):
        old.retired_at = now
        old.verify_until = now + overlap
    return create_signing_key(session, algorithm, now)


def list_signing_keys(session: Session) -> list[SigningKey]:
    """Every key, newest first."""
    return list(session.scalars(select(SigningKey).order_by(SigningKey.created_at.desc(), SigningKey.kid)))


def verifying_keys(session: Session, now: datetime | None = None) -> list[SigningKey]:
    """The keys whose signatures are accepted at `now`: the active one and those within their overlap."""
    stmt = select(SigningKey).where(
        or_(SigningKey.retired_at.is_(None), SigningKey.verify_until > (now or utcnow()))
    )
    return list(session.scalars(stmt.order_by(SigningKey.created_at.desc(), SigningKey.kid)))


def jwks(session: Session, now: datetime | None = None) -> dict[str, list[dict[str, Any]]]:
    """The JWKS document of the verifying keys' public halves (what `/.well-known/jwks.json` serves)."""
    return {"keys": [dict(key.public_jwk) for key in verifying_keys(session, now)]}


def public_key(key: SigningKey) -> PublicKey:
    codec = ECAlgorithm if key.algorithm == "ES256" else RSAAlgorithm
    return codec.from_jwk(key.public_jwk)


def private_key(key: SigningKey) -> PrivateKey:
    loaded = serialization.load_pem_private_key(key.private_key_pem.encode("ascii"), password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"signing key {key.kid} holds an unsupported key type")
    return loaded
