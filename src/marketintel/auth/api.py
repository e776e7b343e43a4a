"""HTTP view of authentication: hub sign-in/out, who am I, the issuer's public keys, the tenant's API keys."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from marketintel.api import problems
from marketintel.api.params import NO_NUL
from marketintel.api.problems import Problem
from marketintel.api.responses import FastJSON
from marketintel.api.security import gate_of, signed_in
from marketintel.auth.apikeys import create_api_key, list_api_keys
from marketintel.auth.models import AuthenticationError, Principal
from marketintel.auth.service import SESSION_COOKIE
from marketintel.ratelimit.headers import retry_after_header
from marketintel.ratelimit.models import Bucket

router = APIRouter(tags=["auth"])
SIGN_IN_BUCKET = Bucket("signin", rate_per_s=1.0, capacity=10.0)
Caller = Annotated[Principal, Depends(signed_in())]


class SignIn(BaseModel):
    email: str = Field(min_length=3, max_length=320, pattern=NO_NUL)
    password: str = Field(min_length=1, max_length=1000)


class NewApiKey(BaseModel):
    name: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    role: Literal["admin", "analyst", "viewer"] = "viewer"


@router.post("/auth/session", responses=problems.responses(400))
def create_session(request: Request, body: SignIn) -> Response:
    """Sign in to the web hub: sets the session cookie (the hub channel)."""
    gate = gate_of(request)
    # password guessing is throttled per client address (there is no tenant before a sign-in succeeds)
    client = request.client.host if request.client else "unknown"
    decision = gate.limiter.acquire(client, SIGN_IN_BUCKET)
    if not decision.allowed:
        raise Problem(
            429,
            "too many sign-in attempts from this address",
            kind="rate-limited",
            headers={"Retry-After": retry_after_header(decision)},
        )
    try:
        token = gate.authenticator.sign_in(body.email, body.password)
        principal = gate.authenticator.authenticate(authorization=None, api_key=None, session_cookie=token)
    except AuthenticationError as refused:
        raise Problem(401, refused.detail, kind="unauthenticated") from None
    request.state.principal = principal
    settings = request.app.state.settings
    response = FastJSON(_me(request, principal))
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.token_ttl_minutes * 60,
        httponly=True,
        samesite="strict",
        secure=settings.auth_issuer.startswith("https://"),
        path="/",
    )
    return response


@router.delete("/auth/session")
def end_session(caller: Caller) -> Response:
    """Sign out of the web hub."""
    response = FastJSON({"signed_out": caller.subject})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/auth/jwks")
def jwks(request: Request) -> Response:
    """The embedded issuer's public signing keys (JWKS), for services verifying its tokens."""
    return FastJSON(gate_of(request).authenticator.jwks())


def _me(request: Request, principal: Principal) -> dict[str, Any]:
    grants = gate_of(request).entitlements.of_tenant(principal.tenant)
    return {
        "subject": principal.subject,
        "tenant": principal.tenant,
        "role": principal.role,
        "channel": principal.channel,
        "credential": principal.credential,
        "entitlements": [{"market": g.market, "product": g.product, "channel": g.channel} for g in grants],
        "channels": sorted({g.channel for g in grants}),
    }


@router.get("/me")
def me(request: Request, caller: Caller) -> Response:
    """Who the caller is, and every grant of their tenant (the hub shapes itself from this)."""
    return FastJSON(_me(request, caller))


def _api_channel(request: Request, caller: Principal) -> None:
    """API keys are for the api channel: a tenant without it (the CAISO pilot) has none to manage."""
    if "api" not in gate_of(request).entitlements.channels(caller.tenant):
        raise Problem(
            403,
            f"tenant {caller.tenant} is not entitled to the api channel, so it has no API keys",
            kind="not-entitled",
        )


def _key_view(record: Any) -> dict[str, Any]:
    return {
        "prefix": record.prefix,
        "name": record.name,
        "role": record.role,
        "user": record.user_email,
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        "last_used_at": record.last_used_at,
        "revoked_at": record.revoked_at,
    }


@router.get("/apikeys")
def my_api_keys(request: Request, caller: Caller) -> Response:
    """The tenant's API keys (never their secrets)."""
    _api_channel(request, caller)
    with request.app.state.sessions() as session:
        return FastJSON({"items": [_key_view(r) for r in list_api_keys(session, caller.tenant)]})


@router.post("/apikeys", status_code=201, responses=problems.responses(400))
def new_api_key(request: Request, body: NewApiKey, caller: Caller) -> Response:
    """Create a key for the caller's tenant; the secret is in this response and nowhere else, ever."""
    _api_channel(request, caller)
    if caller.role == "viewer":
        raise Problem(403, "viewers cannot create API keys", kind="forbidden")
    if body.role == "admin" and caller.role != "admin":
        raise Problem(403, "only an admin can create an admin key", kind="forbidden")
    email = None if caller.subject.startswith("apikey:") else caller.subject
    with request.app.state.sessions() as session:
        try:
            key, secret = create_api_key(session, caller.tenant, body.name, body.role, user_email=email)
        except ValueError as refused:  # e.g. a name that is only whitespace
            raise Problem(422, str(refused), kind="invalid-parameter") from None
        session.commit()
        prefix = key.prefix
    return FastJSON(
        {"prefix": prefix, "secret": secret, "name": body.name, "role": body.role}, status_code=201
    )


@router.delete("/apikeys/{prefix}")
def revoke_my_api_key(request: Request, prefix: str, caller: Caller) -> Response:
    """Revoke one of the tenant's keys; refused from the next request on."""
    _api_channel(request, caller)
    if caller.role == "viewer":
        raise Problem(403, "viewers cannot revoke API keys", kind="forbidden")
    with request.app.state.sessions() as session:
        mine = {r.prefix for r in list_api_keys(session, caller.tenant)}
    if prefix not in mine:
        raise Problem(404, f"tenant {caller.tenant} has no API key {prefix!r}", kind="not-found")
    record = gate_of(request).authenticator.revoke_api_key(prefix)
    return FastJSON(_key_view(record))
