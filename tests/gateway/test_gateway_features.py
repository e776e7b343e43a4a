"""Sign-in, who-am-I, API key self-service, admin endpoints, rate limits (in-process and shared through
the real Redis) and the audit trail, through the real app."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import text

from marketintel.api.app import API_PREFIX, create_app
from marketintel.audit.service import verify
from marketintel.config import Settings
from marketintel.entitlements.demo import ACCOUNTS
from marketintel.metadata.service import engine_for
from tests.gateway.world import HUBS, Credential
from tests.helpers import service_missing

TEST_REDIS_URL = os.environ.get("MARKETINTEL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def of(callers: dict[str, list[Credential]], tenant: str, kind: str) -> Credential:
    return next(c for c in callers[tenant] if c.kind == kind)


def account(tenant: str) -> tuple[str, str]:
    found = next(a for a in ACCOUNTS if a.tenant == tenant)
    return found.email, found.password


def test_sign_in_sets_a_hub_session_and_me_describes_it(client: TestClient) -> None:
    email, password = account("pilot_caiso")
    refused = client.post(f"{API_PREFIX}/auth/session", json={"email": email, "password": "wrong"})
    assert refused.status_code == 401
    signed = client.post(f"{API_PREFIX}/auth/session", json={"email": email, "password": password})
    assert signed.status_code == 200, signed.text
    cookie = signed.cookies.get("mi_session")
    assert cookie
    assert "httponly" in signed.headers["set-cookie"].lower()
    me = client.get(f"{API_PREFIX}/me", headers={"Cookie": f"mi_session={cookie}"}).json()
    assert (me["tenant"], me["channel"], me["credential"]) == ("pilot_caiso", "hub", "session")
    assert me["channels"] == ["downloads", "hub"]
    assert {g["market"] for g in me["entitlements"]} == {"CAISO"}
    client.cookies.clear()


def test_api_keys_are_managed_only_by_tenants_with_the_api_channel(
    client: TestClient, callers: dict[str, list[Credential]]
) -> None:
    caiso = of(callers, "pilot_caiso", "session")
    assert client.get(f"{API_PREFIX}/apikeys", headers=caiso.headers).status_code == 403
    miso = of(callers, "pilot_miso", "session")
    created = client.post(
        f"{API_PREFIX}/apikeys", json={"name": "robot", "role": "viewer"}, headers=miso.headers
    )
    assert created.status_code == 201, created.text
    secret, prefix = created.json()["secret"], created.json()["prefix"]
    listed = client.get(f"{API_PREFIX}/apikeys", headers=miso.headers).json()["items"]
    assert prefix in [k["prefix"] for k in listed]
    assert secret not in created.text.replace(secret, "", 1)  # shown exactly once in the response
    assert all("secret" not in k for k in listed)
    works = client.get(f"{API_PREFIX}/instruments", params={"market": "MISO"}, headers={"X-API-Key": secret})
    assert works.status_code == 200
    assert client.delete(f"{API_PREFIX}/apikeys/{prefix}", headers=miso.headers).status_code == 200
    gone = client.get(f"{API_PREFIX}/instruments", params={"market": "MISO"}, headers={"X-API-Key": secret})
    assert gone.status_code == 401
    other = of(callers, "pilot_miso", "apikey").headers["X-API-Key"].split("_")[1]
    assert client.delete(f"{API_PREFIX}/apikeys/{other}", headers=caiso.headers).status_code == 403


def test_admin_endpoints_need_the_admin_role_and_take_effect_at_once(
    client: TestClient, callers: dict[str, list[Credential]]
) -> None:
    analyst = of(callers, "pilot_miso", "apikey")
    assert client.get(f"{API_PREFIX}/admin/entitlements", headers=analyst.headers).status_code == 403
    admin = of(callers, "platform", "bearer")
    outsider = of(callers, "outsider", "apikey")
    latest = (f"{API_PREFIX}/prices/latest", {"market": "PJM", "run": "RT5"})
    assert client.get(latest[0], params=latest[1], headers=outsider.headers).status_code == 403
    body = {"tenant": "outsider", "markets": ["PJM"], "products": ["prices"], "channels": ["api"]}
    granted = client.post(f"{API_PREFIX}/admin/entitlements", json=body, headers=admin.headers)
    assert granted.json() == {"granted": 1}
    try:
        assert client.get(latest[0], params=latest[1], headers=outsider.headers).status_code == 200
    finally:
        revoked = client.post(f"{API_PREFIX}/admin/entitlements/revoke", json=body, headers=admin.headers)
        assert revoked.json() == {"revoked": 1}
    assert client.get(latest[0], params=latest[1], headers=outsider.headers).status_code == 403
    bad = client.post(
        f"{API_PREFIX}/admin/entitlements", json={**body, "markets": ["MARS"]}, headers=admin.headers
    )
    assert bad.status_code == 422
    assert "unknown market 'MARS'" in bad.json()["detail"]


def test_bad_parameters_are_problems_naming_the_parameter(
    client: TestClient, callers: dict[str, list[Credential]]
) -> None:
    miso = of(callers, "pilot_miso", "apikey").headers
    base = {"instrument": f"MISO:{HUBS['MISO']}", "run": "RT5"}
    naive = client.get(
        f"{API_PREFIX}/prices/ticks",
        params={**base, "start": "2026-11-01T00:00", "end": "2026-11-02T00:00Z"},
        headers=miso,
    )
    assert naive.status_code == 422
    assert "'start'" in naive.json()["detail"]
    assert "timezone" in naive.json()["detail"]
    missing = client.get(f"{API_PREFIX}/prices/ticks", params=base, headers=miso)
    assert missing.status_code == 422
    assert "query parameter 'start'" in missing.json()["detail"]
    wrong_run = client.get(
        f"{API_PREFIX}/prices/ticks",
        params={**base, "run": "RT15", "start": "2026-11-01T00:00Z", "end": "2026-11-02T00:00Z"},
        headers=miso,
    )
    assert "MISO has no run 'RT15'" in wrong_run.json()["detail"]
    too_long = client.get(
        f"{API_PREFIX}/prices/ticks",
        params={**base, "start": "2026-01-01T00:00Z", "end": "2026-11-02T00:00Z"},
        headers=miso,
    )
    assert too_long.json()["type"].endswith("/range-too-large")
    unknown = client.get(f"{API_PREFIX}/instruments/MISO:NOWHERE", headers=miso)
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"


def test_ticks_as_of_and_formats(client: TestClient, callers: dict[str, list[Credential]]) -> None:
    miso = of(callers, "pilot_miso", "apikey").headers
    params = {
        "instrument": f"MISO:{HUBS['MISO']}",
        "run": "RT5",
        "start": "2026-11-01T12:00Z",
        "end": "2026-11-01T13:00Z",
    }
    body = client.get(f"{API_PREFIX}/prices/ticks", params=params, headers=miso).json()
    (series,) = body["series"]
    assert len(series["t"]) == 12
    assert series["t"][0] == "2026-11-01T12:00:00Z"
    assert all(isinstance(v, float) for v in series["lmp"])
    before = client.get(
        f"{API_PREFIX}/prices/ticks", params={**params, "as_of": "2026-11-01T00:00Z"}, headers=miso
    ).json()
    assert before["series"][0]["t"] == []  # nothing of that afternoon was known that morning
    csv = client.get(f"{API_PREFIX}/prices/ticks", params={**params, "format": "csv"}, headers=miso)
    assert csv.headers["content-type"].startswith("text/csv")
    assert len(csv.text.strip().splitlines()) == 13
    hourly = client.get(
        f"{API_PREFIX}/prices/ticks", params={**params, "resample": "1h"}, headers=miso
    ).json()
    assert hourly["series"][0]["intervals"] == [12]


@pytest.fixture
def redis_limits(world: Settings) -> Iterator[Settings]:
    url = TEST_REDIS_URL
    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        service_missing(f"Redis at {url} unreachable: {exc}", "the gateway's shared rate-limit test")
    # a tenant of its own in Redis: the key space is shared with anything else using this Redis
    yield world.model_copy(
        update={"ratelimit_url": url, "rate_general_per_s": 0.2, "rate_exports_per_s": 0.2}
    )
    for key in client.scan_iter("marketintel:ratelimit:*:pilot_miso"):
        client.delete(key)
    client.close()


def test_two_replicas_share_one_limit_through_redis(
    redis_limits: Settings, callers: dict[str, list[Credential]]
) -> None:
    redis.Redis.from_url(TEST_REDIS_URL).delete(
        "marketintel:ratelimit:general:pilot_miso", "marketintel:ratelimit:exports:pilot_miso"
    )
    headers = of(callers, "pilot_miso", "apikey").headers
    path, params = f"{API_PREFIX}/instruments", {"market": "MISO"}
    with TestClient(create_app(redis_limits)) as first, TestClient(create_app(redis_limits)) as second:
        assert first.get(path, params=params, headers=headers).status_code == 200
        # a rate of 0.2/s and a burst of 1: the other replica must refuse for about 5 s
        refused = second.get(path, params=params, headers=headers)
        assert refused.status_code == 429, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert 1 <= int(refused.headers["retry-after"]) <= 5
        assert "general budget" in refused.json()["detail"]


def test_exports_have_their_own_smaller_budget(world: Settings, callers: dict[str, list[Credential]]) -> None:
    limited = world.model_copy(update={"rate_exports_per_s": 0.2})
    headers = of(callers, "pilot_miso", "apikey").headers
    params = {
        "instrument": f"MISO:{HUBS['MISO']}",
        "run": "DA",
        "start": "2026-11-01T00:00Z",
        "end": "2026-11-02T00:00Z",
    }
    with TestClient(create_app(limited)) as client:
        assert client.get(f"{API_PREFIX}/downloads/prices", params=params, headers=headers).status_code == 200
        again = client.get(f"{API_PREFIX}/downloads/prices", params=params, headers=headers)
        assert again.status_code == 429
        assert "exports budget" in again.json()["detail"]
        # the general budget is untouched
        assert client.get(f"{API_PREFIX}/instruments", headers=headers).status_code == 200


def test_every_call_is_audited_in_a_valid_chain_and_nothing_is_lost_on_shutdown(
    world: Settings, callers: dict[str, list[Credential]]
) -> None:
    marker = uuid.uuid4().hex
    headers = of(callers, "pilot_miso", "bearer").headers
    with TestClient(create_app(world)) as client:
        for _ in range(25):
            client.get(f"{API_PREFIX}/instruments", params={"q": marker}, headers=headers)
    # the app has shut down: its writer must have flushed every record
    engine = engine_for(world.metadata_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT actor, tenant, channel, status FROM audit_log WHERE params LIKE :m"),
                {"m": f"%{marker}%"},
            ).all()
        report = verify(engine)
    finally:
        engine.dispose()
    assert len(rows) == 25
    assert set(rows) == {(rows[0][0], "pilot_miso", "api", 200)}
    assert report.ok, report.summary()
