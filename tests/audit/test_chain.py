"""The canonical form and hash of a record, and how an event is normalised so that what is hashed is
exactly what the database gives back."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from marketintel.audit.chain import GENESIS, canonical, record_hash
from marketintel.audit.models import AuditEvent
from marketintel.audit.service import append, verify

CONTENT: dict[str, Any] = {
    "id": 1,
    "occurred_at": datetime(2026, 1, 2, 4, 4, 5, 6, tzinfo=timezone(timedelta(hours=1))),
    "actor": "ann@example.com",
    "tenant": None,
    "channel": "api",
    "action": "api",
    "method": "GET",
    "route": "/api/v1/prices",
    "params": {"b": 1.5, "a": [1, "é"], "ratio": 0.1 + 0.2},
    "status": 200,
    "latency_ms": 0.1,
}
CANONICAL = (
    b'{"action":"api","actor":"ann@example.com","channel":"api","id":1,"latency_ms":0.1,"method":"GET",'
    b'"occurred_at":"2026-01-02T03:04:05.000006Z","params":{"a":[1,"\\u00e9"],"b":1.5,'
    b'"ratio":0.30000000000000004},"route":"/api/v1/prices","status":200,"tenant":null}'
)


def test_canonical_form_is_pinned() -> None:
    assert GENESIS == "0" * 64
    assert canonical(CONTENT) == CANONICAL
    assert canonical(CONTENT | {"occurred_at": "2026-01-02T03:04:05.000006Z"}) == CANONICAL
    assert canonical(CONTENT | {"extra": "not covered"}) == CANONICAL
    assert record_hash(GENESIS, CONTENT) == hashlib.sha256(GENESIS.encode() + CANONICAL).hexdigest()
    assert record_hash("1" * 64, CONTENT) != record_hash(GENESIS, CONTENT)


def test_event_is_normalised_to_what_the_database_returns() -> None:
    local = datetime(2026, 6, 1, 9, 0, tzinfo=timezone(timedelta(hours=-5)))
    event = AuditEvent(
        occurred_at=local,
        actor="x" * 400,
        action="export",
        method="POST",
        route="/api/v1/exports\x00",
        params={"tuple": (1, 2), 3: "int key", "when": local, "bad": "\ud800"},
        status=201,
        latency_ms=12,
    )
    assert event.occurred_at == local
    assert event.occurred_at.tzinfo is UTC
    assert event.actor == "x" * 320
    assert event.route == "/api/v1/exports\ufffd"
    assert event.params == {"tuple": [1, 2], "3": "int key", "when": str(local), "bad": "?"}
    assert isinstance(event.latency_ms, float)


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"occurred_at": datetime(2026, 1, 1)}, "naive"),
        ({"latency_ms": float("nan")}, "finite"),
        ({"params": {"x": float("inf")}}, "Out of range float"),
    ],
)
def test_bad_events_fail_in_the_caller(values: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        AuditEvent(**({"actor": "a", "action": "api", "route": "/", "status": 200} | values))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
events = st.builds(
    AuditEvent,
    occurred_at=st.datetimes(
        min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
    ),
    actor=st.text(min_size=1, max_size=40),
    tenant=st.none() | st.text(max_size=10),
    action=st.sampled_from(["api", "export", "scenario_run", "admin", "auth"]),
    route=st.text(max_size=60),
    params=st.none() | st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    status=st.integers(100, 599),
    latency_ms=st.none() | st.floats(min_value=0, max_value=1e9),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(events, min_size=1, max_size=5))
def test_any_event_round_trips_through_the_database_to_the_same_hash(
    batch: list[AuditEvent], engine: Engine, sessions: sessionmaker[Session]
) -> None:
    with sessions() as session:
        append(session, batch)
        session.commit()
    report = verify(engine)
    assert report.ok, report.summary()
