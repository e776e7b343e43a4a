"""The entitlement matrix: every tenant × market × credential × endpoint, and not one leak.

Expected access is computed from the grants alone (tenant, market, product, channel), where the channel is
the credential's (hub session → hub, API key or bearer → api) except on download endpoints (downloads).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from marketintel.api.app import API_PREFIX
from marketintel.audit.writer import AuditWriter
from marketintel.config import Settings
from marketintel.entitlements.service import list_grants
from marketintel.metadata.models import AuditRecord
from marketintel.metadata.service import engine_for, session_factory
from tests.gateway.world import CURVE_DATE, HUBS, MARKETS, START, Credential

DAY = dt.datetime.combine(START, dt.time(), dt.UTC) + dt.timedelta(hours=12)
WINDOW = {"start": DAY.isoformat(), "end": (DAY + dt.timedelta(hours=6)).isoformat()}


@dataclass(frozen=True)
class Endpoint:
    name: str
    product: str
    downloads: bool
    request: Callable[[str], tuple[str, dict[str, Any]]]  # market → (path, params)


ENDPOINTS = (
    Endpoint("instruments of a market", "prices", False, lambda m: ("/instruments", {"market": m})),
    Endpoint("one instrument", "prices", False, lambda m: (f"/instruments/{m}:{HUBS[m]}", {})),
    Endpoint(
        "ticks",
        "prices",
        False,
        lambda m: ("/prices/ticks", {"instrument": f"{m}:{HUBS[m]}", "run": "RT5", **WINDOW}),
    ),
    Endpoint(
        "ticks resampled",
        "prices",
        False,
        lambda m: (
            "/prices/ticks",
            {"instrument": f"{m}:{HUBS[m]}", "run": "DA", "resample": "1h", **WINDOW},
        ),
    ),
    Endpoint("latest", "prices", False, lambda m: ("/prices/latest", {"market": m, "run": "RT5"})),
    Endpoint(
        "fundamentals",
        "fundamentals",
        False,
        lambda m: ("/fundamentals", {"series": f"{m}.LOAD", **WINDOW}),
    ),
    Endpoint(
        "forward curve",
        "curves",
        False,
        lambda m: (
            "/curves/forward",
            {"market": m, "location": HUBS[m], "as_of_date": CURVE_DATE.isoformat()},
        ),
    ),
    Endpoint(
        "download",
        "prices",
        True,
        lambda m: (
            "/downloads/prices",
            {"instrument": f"{m}:{HUBS[m]}", "run": "DA", "format": "csv", **WINDOW},
        ),
    ),
)


def grants(settings: Settings) -> set[tuple[str, str, str, str]]:
    engine = engine_for(settings.metadata_url)
    try:
        with session_factory(engine)() as session:
            return {(g.tenant, g.market, g.product, g.channel) for g in list_grants(session)}
    finally:
        engine.dispose()


def test_the_full_matrix_has_no_leak(
    client: TestClient, world: Settings, callers: dict[str, list[Credential]]
) -> None:
    held = grants(world)
    outcomes: dict[str, int] = {"allowed": 0, "refused": 0}
    wrong = []
    for tenant, credentials in callers.items():
        for credential in credentials:
            for market in MARKETS:
                for endpoint in ENDPOINTS:
                    channel = "downloads" if endpoint.downloads else credential.channel
                    expected = (tenant, market, endpoint.product, channel) in held
                    path, params = endpoint.request(market)
                    response = client.get(API_PREFIX + path, params=params, headers=credential.headers)
                    case = f"{tenant}/{credential.kind}/{market}/{endpoint.name}"
                    if expected and response.status_code != 200:
                        wrong.append(
                            f"{case}: expected 200, got {response.status_code} {response.text[:200]}"
                        )
                    elif not expected and response.status_code != 403:
                        wrong.append(
                            f"{case}: expected 403, got {response.status_code} {response.text[:200]}"
                        )
                    elif not expected:
                        assert response.headers["content-type"] == "application/problem+json"
                        assert response.json()["market"] == market
                    outcomes["allowed" if expected else "refused"] += 1
    assert not wrong, "\n".join(wrong)
    # the matrix must exercise both outcomes on every kind of credential, or it proves little
    assert outcomes["allowed"] > 50
    assert outcomes["refused"] > 50


@pytest.mark.parametrize("path", ["/instruments", "/summary"])
def test_listings_show_only_entitled_markets(
    client: TestClient, world: Settings, callers: dict[str, list[Credential]], path: str
) -> None:
    held = grants(world)
    for tenant, credentials in callers.items():
        for credential in credentials:
            response = client.get(API_PREFIX + path, params={"limit": 1000}, headers=credential.headers)
            assert response.status_code == 200, response.text
            body = response.json()
            seen = {i["market"] for i in body["items"]} if "items" in body else set(body["markets"])
            allowed = {
                m for (t, m, p, c) in held if t == tenant and p == "prices" and c == credential.channel
            }
            assert seen <= allowed, f"{tenant}/{credential.kind} sees {seen - allowed}"
            assert seen == allowed & set(MARKETS)


def test_caiso_pilot_api_key_is_refused_with_the_channel_named_and_audited(
    client: TestClient, world: Settings, callers: dict[str, list[Credential]]
) -> None:
    api_key = next(c for c in callers["pilot_caiso"] if c.kind == "apikey")
    response = client.get(
        f"{API_PREFIX}/prices/latest", params={"market": "CAISO", "run": "RT5"}, headers=api_key.headers
    )
    assert response.status_code == 403
    problem = response.json()
    assert problem["type"].endswith("/not-entitled")
    assert "api channel is not entitled" in problem["detail"]
    assert problem["channel"] == "api"
    # the same data through the hub is served
    session = next(c for c in callers["pilot_caiso"] if c.kind == "session")
    assert client.get(
        f"{API_PREFIX}/prices/latest", params={"market": "CAISO", "run": "RT5"}, headers=session.headers
    ).json()["items"]
    writer: AuditWriter = client.app.state.audit  # type: ignore[attr-defined]
    writer.flush()
    engine = engine_for(world.metadata_url)
    try:
        with session_factory(engine)() as db:
            refused = db.scalars(
                select(AuditRecord).where(
                    AuditRecord.tenant == "pilot_caiso",
                    AuditRecord.status == 403,
                    AuditRecord.channel == "api",
                    AuditRecord.route == f"{API_PREFIX}/prices/latest",
                )
            ).all()
    finally:
        engine.dispose()
    assert refused, "the refused call was not audited"
    assert refused[-1].params == {"market": "CAISO", "run": "RT5"}


def api_routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every APIRoute with its full path, through included routers."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        elif hasattr(route, "original_router"):
            yield from api_routes(route.original_router.routes, prefix + route.include_context.prefix)


def test_every_api_route_passes_the_gate(client: TestClient) -> None:
    """Structural: each HTTP route under /api/v1 depends on one of the gate's dependencies."""

    def gated(dependant: Any) -> bool:
        return any(hasattr(d.call, "gate_product") or gated(d) for d in dependant.dependencies)

    open_routes = {("POST", f"{API_PREFIX}/auth/session"), ("GET", f"{API_PREFIX}/auth/jwks")}
    checked = 0
    for path, route in api_routes(client.app.routes):  # type: ignore[attr-defined]
        if not path.startswith(API_PREFIX):
            continue
        if {(m, path) for m in route.methods} <= open_routes:
            continue
        assert gated(route.dependant), f"{sorted(route.methods)} {path} is served without the gate"
        checked += 1
    assert checked >= 12, f"only {checked} routes found: the walk is broken"


def test_no_credentials_and_bad_credentials_are_401_problems(client: TestClient) -> None:
    bare = client.get(f"{API_PREFIX}/instruments")
    assert bare.status_code == 401
    assert bare.headers["content-type"] == "application/problem+json"
    assert bare.headers["www-authenticate"].startswith("Bearer")
    for headers in (
        {"Authorization": "Bearer not.a.jwt"},
        {"X-API-Key": "mik_nothere_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"},
    ):
        refused = client.get(f"{API_PREFIX}/instruments", headers=headers)
        assert refused.status_code == 401, refused.text
        assert "invalid_token" in refused.headers["www-authenticate"]
