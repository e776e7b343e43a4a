"""Tokens of an external OIDC provider, verified against a real one served on 127.0.0.1: what is accepted,
every attack refused with its own reason, and how often the verifier goes back to the provider."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Callable, Iterator
from datetime import timedelta

import jwt
import pytest

from marketintel.auth.models import AuthenticationError, IdentityProviderUnavailable
from marketintel.auth.oidc import OidcVerifier
from tests.auth.conftest import T0, Clock
from tests.auth.oidc_provider import (
    AUDIENCE,
    LocalOidcProvider,
    b64url,
    hs256_token,
    new_ec_key,
    new_rsa_key,
    public_pem,
    unsigned_token,
)
from tests.helpers import free_port


@pytest.fixture
def provider() -> Iterator[LocalOidcProvider]:
    idp = LocalOidcProvider()
    yield idp
    idp.close()


@pytest.fixture
def verifier(provider: LocalOidcProvider, clock: Clock) -> Iterator[OidcVerifier]:
    checker = OidcVerifier(provider.issuer, AUDIENCE, "tenant", clock=clock)
    yield checker
    checker.close()


def refusal(verifier: OidcVerifier, token: str) -> str:
    with pytest.raises(AuthenticationError) as refused:
        verifier.principal(token)
    return refused.value.detail


# --- accepted -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kid", ["rsa-1", "ec-1"])
def test_rs256_and_es256_tokens_are_accepted(
    provider: LocalOidcProvider, verifier: OidcVerifier, kid: str
) -> None:
    principal = verifier.principal(provider.token(T0, kid))
    assert principal.subject == "ann@acme.test"
    assert (principal.tenant, principal.role) == ("acme", "analyst")  # from Keycloak's realm_access.roles
    assert (principal.channel, principal.credential) == ("api", "oidc")
    assert (principal.user_id, principal.api_key_id) == (None, None)


def test_the_highest_role_wins_across_roles_and_realm_access(
    provider: LocalOidcProvider, verifier: OidcVerifier
) -> None:
    token = provider.token(T0, roles=["viewer", "admin"], realm_access={"roles": ["analyst"]})
    assert verifier.principal(token).role == "admin"
    only_roles = provider.token(T0, roles=["viewer"], realm_access=None)
    assert verifier.principal(only_roles).role == "viewer"


def test_tenant_claim_is_configurable(provider: LocalOidcProvider, clock: Clock) -> None:
    checker = OidcVerifier(provider.issuer, AUDIENCE, "org", clock=clock)
    try:
        assert checker.principal(provider.token(T0, org="globex")).tenant == "globex"
    finally:
        checker.close()


def test_clock_skew_within_the_leeway_is_tolerated(
    provider: LocalOidcProvider, verifier: OidcVerifier
) -> None:
    skewed = provider.token(T0, exp=int(T0.timestamp()) - 10, nbf=int(T0.timestamp()) + 10)
    assert verifier.principal(skewed).tenant == "acme"


# --- refused ------------------------------------------------------------------------------------------


def _tampered_payload(idp: LocalOidcProvider) -> str:
    header, _, signature = idp.token(T0).split(".")
    forged = b64url(json.dumps(idp.claims(T0, realm_access={"roles": ["admin"]})).encode())
    return f"{header}.{forged}.{signature}"


def _tampered_signature(idp: LocalOidcProvider, kid: str) -> str:
    header, payload, signature = idp.token(T0, kid).split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return f"{header}.{payload}.{b64url(bytes(raw))}"


def _with_header(idp: LocalOidcProvider, **header: str) -> str:
    return jwt.encode(idp.claims(T0), idp.keys["rsa-1"], algorithm="RS256", headers=header)


ATTACKS: dict[str, tuple[Callable[[LocalOidcProvider], str], str]] = {
    "alg none": (
        lambda idp: unsigned_token({"alg": "none", "kid": "rsa-1", "typ": "JWT"}, idp.claims(T0)),
        "signing algorithm not accepted (RS256 or ES256 only)",
    ),
    "HS256 signed with the RSA public key": (
        lambda idp: hs256_token({"kid": "rsa-1"}, idp.claims(T0), public_pem(idp.keys["rsa-1"])),
        "signing algorithm not accepted (RS256 or ES256 only)",
    ),
    "HS256 signed with the EC public key": (
        lambda idp: hs256_token({"kid": "ec-1"}, idp.claims(T0), public_pem(idp.keys["ec-1"])),
        "signing algorithm not accepted (RS256 or ES256 only)",
    ),
    "expired": (lambda idp: idp.token(T0 - timedelta(hours=1)), "token expired"),
    "nbf in the future": (
        lambda idp: idp.token(T0, nbf=int((T0 + timedelta(minutes=2)).timestamp())),
        "token not yet valid (nbf)",
    ),
    "wrong issuer": (lambda idp: idp.token(T0, iss="http://127.0.0.1:1/realms/evil"), "issuer mismatch"),
    "wrong audience": (lambda idp: idp.token(T0, aud="another-service"), "audience mismatch"),
    "no audience": (lambda idp: idp.token(T0, aud=None), "audience mismatch"),
    "missing exp": (lambda idp: idp.token(T0, exp=None), "token has no expiry (exp)"),
    "exp not a number": (lambda idp: idp.token(T0, exp="tomorrow"), "malformed 'exp' claim"),
    "tampered payload": (_tampered_payload, "invalid signature"),
    "tampered RS256 signature": (lambda idp: _tampered_signature(idp, "rsa-1"), "invalid signature"),
    "tampered ES256 signature": (lambda idp: _tampered_signature(idp, "ec-1"), "invalid signature"),
    "RS256 naming the EC key": (
        lambda idp: _with_header(idp, kid="ec-1"),
        "signing key does not match the token's algorithm",
    ),
    "no kid": (
        lambda idp: jwt.encode(idp.claims(T0), idp.keys["rsa-1"], algorithm="RS256"),
        "token has no key id (kid)",
    ),
    "signed with the encryption key": (
        lambda idp: jwt.encode(
            idp.claims(T0), idp.encryption_key, algorithm="RS256", headers={"kid": "enc-1"}
        ),
        "unknown signing key",
    ),
    "not a JWT": (lambda idp: "not.a.jwt", "malformed token"),
    "no platform role": (
        lambda idp: idp.token(T0, realm_access={"roles": ["offline_access", "uma_authorization"]}),
        "no platform role in the token (admin, analyst or viewer)",
    ),
    "no tenant": (lambda idp: idp.token(T0, tenant=None), "no tenant in the token (claim 'tenant')"),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_refused_with_a_specific_reason(
    provider: LocalOidcProvider, verifier: OidcVerifier, attack: str
) -> None:
    make_token, detail = ATTACKS[attack]
    assert refusal(verifier, make_token(provider)) == detail


def test_iat_in_the_future_is_refused(provider: LocalOidcProvider, verifier: OidcVerifier) -> None:
    later = int((T0 + timedelta(minutes=2)).timestamp())
    token = provider.token(T0, iat=later)
    assert refusal(verifier, token) == "token issued in the future (iat)"


# --- fetching the keys --------------------------------------------------------------------------------


def test_unknown_kid_refetches_once_then_refuses(
    provider: LocalOidcProvider, verifier: OidcVerifier, clock: Clock
) -> None:
    verifier.principal(provider.token(T0))
    assert (provider.served("openid-configuration"), provider.jwks_fetches) == (1, 1)
    clock.advance(seconds=31)
    provider.add_key("rogue", new_rsa_key())
    rogue = provider.token(clock.now, "rogue")
    provider.drop_key("rogue")  # signed by a key the provider does not publish
    assert refusal(verifier, rogue) == "unknown signing key"
    assert provider.jwks_fetches == 2  # one refetch for the unknown kid, then the refusal


def test_refetches_are_throttled(provider: LocalOidcProvider, verifier: OidcVerifier, clock: Clock) -> None:
    verifier.principal(provider.token(T0))
    for second in range(1, 30):  # made-up kids, one a second: none may reach the provider
        clock.now = T0 + timedelta(seconds=second)
        made_up = _with_header(provider, kid=f"made-up-{second}")
        assert refusal(verifier, made_up) == "unknown signing key"
    assert provider.jwks_fetches == 1
    clock.now = T0 + timedelta(seconds=30)
    assert refusal(verifier, _with_header(provider, kid="made-up-30")) == "unknown signing key"
    assert provider.jwks_fetches == 2
    assert provider.served("openid-configuration") == 1  # the JWKS URL is remembered


def test_a_key_rotated_in_at_the_provider_is_picked_up(
    provider: LocalOidcProvider, verifier: OidcVerifier, clock: Clock
) -> None:
    verifier.principal(provider.token(T0))
    provider.add_key("ec-2", new_ec_key())
    provider.drop_key("ec-1")
    clock.advance(seconds=5)
    fresh = provider.token(clock.now, "ec-2")
    assert refusal(verifier, fresh) == "unknown signing key"  # within the throttle: not fetched yet
    assert provider.jwks_fetches == 1
    clock.advance(seconds=30)
    fresh = provider.token(clock.now, "ec-2")
    assert verifier.principal(fresh).tenant == "acme"
    assert provider.jwks_fetches == 2
    assert verifier.principal(provider.token(clock.now, "rsa-1")).role == "analyst"


def test_the_jwks_is_cached_for_its_ttl(
    provider: LocalOidcProvider, verifier: OidcVerifier, clock: Clock
) -> None:
    for minute in range(10):
        clock.now = T0 + timedelta(minutes=minute)
        verifier.principal(provider.token(clock.now, "ec-1"))
    assert provider.jwks_fetches == 1
    clock.now = T0 + timedelta(minutes=10)
    verifier.principal(provider.token(clock.now, "ec-1"))
    assert provider.jwks_fetches == 2


def test_cached_keys_keep_working_while_the_provider_is_down(
    provider: LocalOidcProvider, verifier: OidcVerifier, clock: Clock
) -> None:
    verifier.principal(provider.token(T0))
    token_later = provider.token(T0 + timedelta(minutes=11))
    provider.close()
    clock.advance(minutes=11)  # past the JWKS TTL: the refetch fails, the keys held are kept
    assert verifier.principal(token_later).tenant == "acme"


def test_unreachable_provider_is_a_clear_refusal(clock: Clock) -> None:
    issuer = f"http://127.0.0.1:{free_port()}/realms/gone"
    checker = OidcVerifier(issuer, AUDIENCE, clock=clock)
    try:
        with pytest.raises(IdentityProviderUnavailable) as refused:
            checker.principal(unsigned_token({"alg": "RS256", "kid": "k"}, {}, b"signature"))
        assert refused.value.detail == "identity provider unreachable (connection failed)"
    finally:
        checker.close()


def test_a_silent_provider_times_out(clock: Clock) -> None:
    with socket.socket() as silent:  # accepts connections (the kernel does) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        issuer = f"http://127.0.0.1:{silent.getsockname()[1]}/realms/silent"
        checker = OidcVerifier(issuer, AUDIENCE, clock=clock, timeout=0.5)
        try:
            with pytest.raises(IdentityProviderUnavailable) as refused:
                checker.principal(unsigned_token({"alg": "RS256", "kid": "k"}, {}, b"signature"))
            assert refused.value.detail == "identity provider unreachable (timed out)"
        finally:
            checker.close()


def test_discovery_must_name_the_configured_issuer(
    provider: LocalOidcProvider, verifier: OidcVerifier
) -> None:
    provider.discovery_issuer = "http://127.0.0.1:1/realms/impostor"
    with pytest.raises(IdentityProviderUnavailable) as refused:
        verifier.principal(provider.token(T0))
    assert refused.value.detail == "identity provider unreachable (discovery names another issuer)"
    assert provider.jwks_fetches == 0


def test_expiry_is_judged_at_the_given_instant(provider: LocalOidcProvider, verifier: OidcVerifier) -> None:
    token = provider.token(T0)
    assert verifier.principal(token, now=T0 + timedelta(minutes=4)).tenant == "acme"
    with pytest.raises(AuthenticationError, match="token expired"):
        verifier.principal(token, now=T0 + timedelta(minutes=6))
