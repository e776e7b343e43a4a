"""Schemathesis over the gateway's whole OpenAPI with valid credentials: no request gets a 5xx, every answer
has a documented status, content type and (for JSON) schema, and every 4xx is a problem+json body.

Two callers: the platform admin's bearer token on every operation, the admin ones included (examples,
coverage and fuzzing phases, valid and invalid data), and pilot_miso's API key (examples and fuzzing, valid
data: its refusals must be problems too). A random string almost never names an instrument, so three times
in four a parameter that names something names something in the test world (or a near miss), and start/end
windows include the calendar's edges, with offsets that push them past year 1 or 9999 in UTC.

Runs in-process through ASGI on its own world, since the fuzzing grants, revokes and creates keys;
deterministic (derandomized Hypothesis, a fixed seed), so CI sends the same requests every run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import strategies as st
from schemathesis.python import asgi

from marketintel.api.app import API_PREFIX, create_app
from marketintel.api.problems import MEDIA_TYPE as PROBLEM
from marketintel.config import load_settings
from marketintel.entitlements.demo import ACCOUNTS, ADMIN_TENANT
from marketintel.entitlements.models import CHANNELS, PRODUCTS
from tests.gateway.world import CURVE_DATE, DAYS, HUBS, MARKETS, OUTSIDER, START, build_world, credentials

pytestmark = pytest.mark.slow

PILOT = "pilot_miso"
DAY = dt.datetime.combine(START, dt.time(5), dt.UTC)


def _iso(value: dt.datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


WINDOWS = [  # start and end: the world's data, too long a range, and where the calendar ends
    *((_iso(DAY), _iso(DAY + dt.timedelta(days=d))) for d in (1, DAYS, 40)),
    ("0001-01-01T00:00:00Z", "0001-01-02T00:00:00Z"),
    ("9999-12-30T00:00:00Z", "9999-12-31T23:59:59.999999Z"),
    ("0001-01-01T00:00:00+05:00", "0001-01-02T00:00:00Z"),  # starts before year 1 in UTC
    ("9999-12-31T00:00:00Z", "9999-12-31T23:00:00-05:00"),  # ends after 9999 in UTC
    ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"),
]
WORLD: dict[str, list[Any]] = {  # what names something in the world (or nearly); the examples use the first
    "instrument": [f"{m}:{h}" for m, h in HUBS.items()] + ["MISO:NO.SUCH.NODE", "ERCOT:HB_NORTH"],
    "series": ["MISO.LOAD", "HENRY_HUB", "PJM.WIND", "NO.SUCH.SERIES"],
    "market": [*MARKETS, "ERCOT"],
    "run": ["DA", "RT", "RT5", "RT15"],
    "location": list(HUBS.values()),
    "curve": [f"{m}:{h}:ATC" for m, h in HUBS.items()],
    "as_of_date": [CURVE_DATE.isoformat(), "0001-01-01", "9999-12-31"],
    "start": [start for start, _ in WINDOWS],
    "end": [end for _, end in WINDOWS],
    "as_of": [_iso(DAY + dt.timedelta(days=1)), "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59Z"],
    "limit": [1, 1000, 10**30],
    "offset": [0, 50, 10**30],
    "tenant": [OUTSIDER],  # never a tenant whose grants the callers need
    "markets": [*MARKETS, "ERCOT"],
    "products": list(PRODUCTS),
    "channels": list(CHANNELS),
    "email": ["someone@outsider.example"],
    "password": ["outsider-password"],
}
LISTS = {"instrument", "series", "markets", "products", "channels"}


@st.composite
def from_world(draw: st.DrawFn, values: Any, in_path: bool = False) -> Any:
    """Three times in four, a generated value that names something is replaced by one that names something
    in the world; half the time a start and an end come as a pair."""
    if not isinstance(values, dict):
        return values
    out = dict(values)
    for name in (n for n in values if n in WORLD):  # in order: a set's would change with the hash seed
        if draw(st.integers(0, 3)):
            one = st.sampled_from(WORLD[name])
            out[name] = draw(st.lists(one, min_size=1, max_size=4) if name in LISTS and not in_path else one)
    if {"start", "end"} <= out.keys() and draw(st.booleans()):
        out["start"], out["end"] = draw(st.sampled_from(WINDOWS))
    return out


BODIES = {  # request body examples, by model
    "SignIn": {"email": WORLD["email"][0], "password": WORLD["password"][0]},
    "GrantRequest": {"tenant": OUTSIDER, "markets": ["MISO"]},
    "NewApiKey": {"name": "fuzzed", "role": "viewer"},
}


def with_examples(document: dict[str, Any]) -> dict[str, Any]:
    """Examples that name real things, so the examples phase, and the coverage phase's variations of one
    parameter at a time, reach the store."""
    for operation in (op for item in document["paths"].values() for op in item.values()):
        for parameter in operation.get("parameters", []):
            if parameter["name"] in WORLD:
                first = WORLD[parameter["name"]][0]
                listed = parameter["name"] in LISTS and parameter["in"] == "query"
                parameter["example"] = [first] if listed else first
    for model, body in BODIES.items():
        document["components"]["schemas"][model]["example"] = body
    return document


def fuzz_schema(phases: list[str], mode: str, max_examples: int) -> schemathesis.BaseSchema:
    # The document does not depend on the data, so it is read from an app that never starts.
    config = {
        "seed": 254,
        "generation": {"mode": mode, "max-examples": max_examples, "deterministic": True, "database": "none"},
        "phases": {
            name: {"enabled": name in phases} for name in ("examples", "coverage", "fuzzing", "stateful")
        },
        "checks": {
            "enabled": False,
            "not_a_server_error": {"enabled": True},
            "status_code_conformance": {"enabled": True},
            "content_type_conformance": {"enabled": True},
            "response_schema_conformance": {"enabled": True},
        },
    }
    schema = schemathesis.openapi.from_dict(
        with_examples(create_app(load_settings()).openapi()), config=schemathesis.Config.from_dict(config)
    )

    @schema.hook
    def flatmap_query(context: schemathesis.HookContext, query: Any) -> st.SearchStrategy[Any]:
        return from_world(query)

    @schema.hook
    def flatmap_path_parameters(context: schemathesis.HookContext, path: Any) -> st.SearchStrategy[Any]:
        return from_world(path, in_path=True)

    @schema.hook
    def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
        return from_world(body)

    return schema


admin_schema = fuzz_schema(["examples", "coverage", "fuzzing"], "all", max_examples=25)
pilot_schema = fuzz_schema(["examples", "fuzzing"], "positive", max_examples=25)


@dataclass(frozen=True)
class Gateway:
    app: FastAPI
    headers: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    world = build_world(Path(tmp_path_factory.mktemp("schemathesis")))
    kinds = {PILOT: "apikey", ADMIN_TENANT: "bearer"}
    headers = {
        a.tenant: next(
            c for c in credentials(world, a.tenant, a.email, a.password) if c.kind == kinds[a.tenant]
        ).headers
        for a in ACCOUNTS
        if a.tenant in kinds
    }
    try:
        yield Gateway(create_app(world), headers)
    finally:
        asgi.shutdown_lifespans()  # the ASGI transport started the app's lifespan on the first call


def problem_on_client_error(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> None:
    """Every 4xx is RFC 9457: application/problem+json with its status and a detail."""
    if 400 <= response.status_code < 500:
        media_type = (response.headers.get("content-type") or [""])[0].split(";")[0]
        assert media_type == PROBLEM, f"{response.status_code} answered as {media_type!r}"
        body = response.json()
        assert body["status"] == response.status_code, body
        assert body["detail"], body


@admin_schema.parametrize()
def test_as_the_platform_admin(case: schemathesis.Case, gateway: Gateway) -> None:
    case.call_and_validate(
        app=gateway.app, headers=gateway.headers[ADMIN_TENANT], additional_checks=[problem_on_client_error]
    )


@pilot_schema.parametrize()
def test_as_the_miso_pilot(case: schemathesis.Case, gateway: Gateway) -> None:
    case.call_and_validate(
        app=gateway.app, headers=gateway.headers[PILOT], additional_checks=[problem_on_client_error]
    )


def test_the_fuzzing_left_both_callers_their_access(gateway: Gateway) -> None:
    """Had the fuzzing revoked a caller's key or grants, the rest of its run would have been 401s and 403s."""
    with asgi.get_client(gateway.app) as client:
        for tenant, headers in gateway.headers.items():
            me = client.get(f"{API_PREFIX}/me", headers=headers)
            assert me.status_code == 200, me.text
            assert {g["market"] for g in me.json()["entitlements"]} >= {"MISO"}, tenant
