"""The gate every request passes: who is calling (authentication), how fast they may call (rate limits),
and what they may see (entitlements) — decided here and nowhere else.

Routers declare what an endpoint serves with one dependency — `entitled("prices")`,
`entitled("prices", downloads=True)`, `signed_in()` or `admin()` — and get an `Access` whose `require(market)`
is the only entitlement check the endpoint makes. A test walks every route to prove none is left without one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, APIKeyHeader, HTTPBearer
from starlette.concurrency import run_in_threadpool

from marketintel.api.problems import Problem
from marketintel.auth.models import AuthenticationError, Principal
from marketintel.auth.service import SESSION_COOKIE, Authenticator
from marketintel.config import Settings
from marketintel.entitlements.models import NotEntitled
from marketintel.entitlements.service import Entitlements
from marketintel.ratelimit.headers import retry_after_header
from marketintel.ratelimit.models import Bucket
from marketintel.ratelimit.service import MemoryRateLimiter, RateLimiter, TenantBuckets

# Declared for OpenAPI (the "Authorize" button in /docs); the gate reads the headers itself.
_bearer = HTTPBearer(
    auto_error=False, description="a JWT from the platform or the OIDC provider, or an API key"
)
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key (mik_…)")
_session = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="the web hub's session")


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def same_origin(request: Request) -> None:
    """A cookie rides along on cross-site requests; a state-changing one must come from our own pages.
    (SameSite=Strict already stops modern browsers; this also covers older ones.)"""
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        raise Problem(403, f"cross-site request from {origin} refused", kind="forbidden")


@dataclass(frozen=True)
class Access:
    """What one authenticated request may see of one product, through the channel it came by."""

    principal: Principal
    product: str
    channel: str
    entitlements: Entitlements

    def require(self, market: str) -> None:
        try:
            self.entitlements.check(self.principal.tenant, market, self.product, self.channel)
        except NotEntitled as refused:
            raise Problem(
                403,
                str(refused),
                kind="not-entitled",
                tenant=refused.tenant,
                market=refused.market,
                product=refused.product,
                channel=refused.channel,
            ) from None

    def require_all(self, markets: Iterable[str]) -> None:
        for market in sorted(set(markets)):
            self.require(market)

    def markets(self) -> set[str]:
        return self.entitlements.markets(self.principal.tenant, self.product, self.channel)


class Gate:
    """Authentication, rate limits and entitlements, shared by every route of one gateway process."""

    def __init__(
        self,
        settings: Settings,
        authenticator: Authenticator,
        entitlements: Entitlements,
        limiter: RateLimiter,
    ) -> None:
        self.authenticator = authenticator
        self.entitlements = entitlements
        self.limiter = limiter
        # an in-process limiter decides without I/O; a shared one (Redis) is a network round trip
        self.limits_in_process = isinstance(limiter, MemoryRateLimiter)
        buckets = TenantBuckets.from_settings(settings)
        self.general, self.exports = buckets.general, buckets.exports

    def authenticate(self, request: Request) -> Principal:
        authorization = request.headers.get("authorization")
        api_key = request.headers.get("x-api-key")
        cookie = request.cookies.get(SESSION_COOKIE)
        if not (authorization or api_key or cookie):
            raise Problem(
                401,
                "no credentials: send 'Authorization: Bearer <token>', an 'X-API-Key' header, or sign in",
                kind="unauthenticated",
                headers={"WWW-Authenticate": 'Bearer realm="marketintel"'},
            )
        try:
            principal = self.authenticator.authenticate(
                authorization=authorization, api_key=api_key, session_cookie=cookie
            )
        except AuthenticationError as refused:
            raise Problem(
                401,
                refused.detail,
                kind="unauthenticated",
                headers={"WWW-Authenticate": refused.www_authenticate()},
            ) from None
        request.state.principal = principal
        return principal

    def throttle(self, principal: Principal, bucket: Bucket) -> None:
        decision = self.limiter.acquire(principal.tenant, bucket)
        if not decision.allowed:
            raise Problem(
                429,
                f"tenant {principal.tenant} is over its {bucket.name} budget of {bucket.rate_per_s:g} requests/s",
                kind="rate-limited",
                headers={"Retry-After": retry_after_header(decision)},
            )

    def admit(self, request: Request, bucket: Bucket | None = None) -> Principal:
        principal = self.authenticate(request)
        return self._spend(request, principal, bucket)

    def admit_cached(self, request: Request, bucket: Bucket | None = None) -> Principal | None:
        """`admit`, when it needs no I/O (the credential verified from this process's caches, the limits
        in process): safe to run on the event loop. None when it would need I/O: call `admit` in a worker
        thread, which then decides everything (and explains any refusal)."""
        if not self.limits_in_process:
            return None
        principal = self.authenticator.cached(
            authorization=request.headers.get("authorization"),
            api_key=request.headers.get("x-api-key"),
            session_cookie=request.cookies.get(SESSION_COOKIE),
        )
        if principal is None:
            return None
        request.state.principal = principal
        return self._spend(request, principal, bucket)

    def _spend(self, request: Request, principal: Principal, bucket: Bucket | None) -> Principal:
        if principal.credential == "session" and request.method not in SAFE_METHODS:
            same_origin(request)
        self.throttle(principal, self.general)
        if bucket is not None:
            self.throttle(principal, bucket)
        return principal


def gate_of(request: Request) -> Gate:
    gate: Gate = request.app.state.gate
    return gate


Credentials = [Depends(_bearer), Depends(_api_key), Depends(_session)]


def entitled(product: str, *, downloads: bool = False) -> Callable[..., Access]:
    """The dependency of an endpoint serving `product`. A download endpoint is the downloads channel
    whatever the credential; anything else is the credential's own channel (hub or api)."""

    async def dependency(request: Request) -> Access:
        # async, so that a request whose caller is known from the caches is admitted on the event loop
        # (a sync dependency costs a worker-thread round trip on every request); anything needing I/O
        # still runs in a worker thread
        gate = gate_of(request)
        bucket = gate.exports if downloads else None
        principal = gate.admit_cached(request, bucket)
        if principal is None:
            principal = await run_in_threadpool(gate.admit, request, bucket)
        channel = "downloads" if downloads else principal.channel
        request.state.channel = channel
        return Access(principal, product, channel, gate.entitlements)

    dependency.__name__ = f"entitled_{product}{'_downloads' if downloads else ''}"
    dependency.gate_product = product  # type: ignore[attr-defined] - read by the route audit test
    return dependency


def signed_in() -> Callable[..., Principal]:
    """Any authenticated caller (their own profile, their own keys)."""

    def dependency(request: Request) -> Principal:
        principal = gate_of(request).admit(request)
        request.state.channel = principal.channel
        return principal

    dependency.gate_product = None  # type: ignore[attr-defined]
    return dependency


def admin() -> Callable[..., Principal]:
    """Tenants, users, entitlements and the audit log: the admin role only."""

    def dependency(request: Request) -> Principal:
        principal = gate_of(request).admit(request)
        request.state.channel = principal.channel
        if principal.role != "admin":
            raise Problem(
                403, f"this needs the admin role; {principal.subject} is {principal.role}", kind="forbidden"
            )
        return principal

    dependency.gate_product = "admin"  # type: ignore[attr-defined]
    return dependency
