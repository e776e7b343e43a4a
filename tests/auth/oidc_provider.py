"""A real, local OIDC provider for the tests: discovery and a JWKS served over HTTP on 127.0.0.1.

Keycloak-shaped (`/realms/<realm>/.well-known/openid-configuration`, `/protocol/openid-connect/certs`,
an encryption key in the JWKS next to the signing keys). It signs tokens with its own RSA and EC keys,
can rotate them, and counts the requests it served so tests can see the verifier's fetches.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections import Counter
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
DISCOVERY = "/.well-known/openid-configuration"
CERTS = "/protocol/openid-connect/certs"
AUDIENCE = "marketintel"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def new_ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def unsigned_token(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    head = b64url(json.dumps(header).encode())
    body = b64url(json.dumps(claims).encode())
    return f"{head}.{body}.{b64url(signature)}"


def hs256_token(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    """An HS256 token made by hand (PyJWT refuses a PEM as an HMAC secret, which is the attack)."""
    head = b64url(json.dumps({**header, "alg": "HS256"}).encode())
    body = b64url(json.dumps(claims).encode())
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(mac)}"


class LocalOidcProvider:
    def __init__(self, realm: str = "test") -> None:
        self.keys: dict[str, PrivateKey] = {"rsa-1": new_rsa_key(), "ec-1": new_ec_key()}
        self.encryption_key = new_rsa_key()
        self.requests: Counter[str] = Counter()
        self.discovery_issuer: str | None = None  # set to serve a discovery naming another issuer
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.realm_path = f"/realms/{realm}"
        self.issuer = self.base + self.realm_path
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    # --- what it serves ---------------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.discovery_issuer or self.issuer,
            "jwks_uri": self.issuer + CERTS,
            "authorization_endpoint": self.issuer + "/protocol/openid-connect/auth",
            "token_endpoint": self.issuer + "/protocol/openid-connect/token",
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        }

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            keys = dict(self.keys)
        served = []
        for kid, key in keys.items():
            codec = RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else ECAlgorithm
            alg = "RS256" if codec is RSAAlgorithm else "ES256"
            served.append(
                {**codec.to_jwk(key.public_key(), as_dict=True), "kid": kid, "alg": alg, "use": "sig"}
            )
        # Keycloak also publishes an encryption key: a verifier must never take it for a signing key
        enc = RSAAlgorithm.to_jwk(self.encryption_key.public_key(), as_dict=True)
        served.append({**enc, "kid": "enc-1", "alg": "RSA-OAEP", "use": "enc"})
        return {"keys": served}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with provider._lock:
                    provider.requests[self.path] += 1
                routes = {
                    provider.realm_path + DISCOVERY: provider.discovery,
                    provider.realm_path + CERTS: provider.jwks,
                }
                route = routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                body = json.dumps(route()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet test output

        return Handler

    # --- counting and rotating --------------------------------------------------------------------

    def served(self, suffix: str) -> int:
        with self._lock:
            return sum(n for path, n in self.requests.items() if path.endswith(suffix))

    @property
    def jwks_fetches(self) -> int:
        return self.served(CERTS)

    def add_key(self, kid: str, key: PrivateKey) -> None:
        with self._lock:
            self.keys[kid] = key

    def drop_key(self, kid: str) -> None:
        with self._lock:
            del self.keys[kid]

    # --- tokens -----------------------------------------------------------------------------------

    def claims(self, now: datetime, **overrides: Any) -> dict[str, Any]:
        """Valid claims of a Keycloak access token for ann (analyst of tenant acme), issued at `now`."""
        issued = int(now.timestamp())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": [AUDIENCE, "account"],
            "sub": "5b2c1f0e-7d1e-4c39-9d0b-6b1f0a1e2c3d",
            "email": "Ann@Acme.test",
            "preferred_username": "ann",
            "tenant": "acme",
            "realm_access": {"roles": ["offline_access", "analyst", "uma_authorization"]},
            "iat": issued,
            "nbf": issued,
            "exp": issued + int(timedelta(minutes=5).total_seconds()),
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def sign(self, claims: dict[str, Any], kid: str = "rsa-1", alg: str | None = None) -> str:
        key = self.keys[kid]
        alg = alg or ("RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256")
        return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})

    def token(self, now: datetime, kid: str = "rsa-1", **overrides: Any) -> str:
        return self.sign(self.claims(now, **overrides), kid)
