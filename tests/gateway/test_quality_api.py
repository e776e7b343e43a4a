"""GET /api/v1/quality/sources: each entitled source's freshness now and its recorded checks, and never
a source of a market the caller is not entitled to."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from marketintel.api.app import API_PREFIX
from marketintel.catalog.markets import MARKETS
from marketintel.config import Settings
from marketintel.metadata.models import QualityCheck
from marketintel.metadata.service import engine_for, session_factory
from tests.gateway.world import Credential

SOURCES = f"{API_PREFIX}/quality/sources"


def of(callers: dict[str, list[Credential]], tenant: str, kind: str) -> Credential:
    return next(c for c in callers[tenant] if c.kind == kind)


def test_each_entitled_run_has_its_freshness_and_the_world_is_flagged_stale(
    client: TestClient, callers: dict[str, list[Credential]]
) -> None:
    response = client.get(SOURCES, headers=of(callers, "pilot_miso", "session").headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["markets"] == ["MISO"]
    runs = {s["run"] for s in body["sources"]}
    assert runs == {"DA", "RT5"}  # the runs the simulator writes
    for source in body["sources"]:
        assert source["market"] == "MISO"
        assert source["timezone"] == MARKETS["MISO"].timezone
        end = dt.datetime.fromisoformat(source["newest_interval_end"])
        # the world's data is of November 2026's first days: weeks old by any clock that runs this
        assert end <= dt.datetime(2026, 11, 3, 6, tzinfo=dt.UTC)
        assert source["stale"] is True
        assert source["status"] == "stale"
        assert source["staleness"]["passed"] is False
        assert source["staleness"]["gate"] is True
        assert source["freshness"]["value"] > 0
        assert source["interval_minutes"] == (60 if source["run"] == "DA" else 5)


def test_caiso_pilot_sees_no_miso_source_and_is_refused_miso(
    client: TestClient, callers: dict[str, list[Credential]]
) -> None:
    hub = of(callers, "pilot_caiso", "session")
    body = client.get(SOURCES, headers=hub.headers).json()
    assert body["markets"] == ["CAISO"]
    assert body["sources"]
    assert {s["market"] for s in body["sources"]} == {"CAISO"}
    refused = client.get(SOURCES, params={"market": "MISO"}, headers=hub.headers)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["market"] == "MISO"
    # the CAISO pilot has no api channel: its API key sees no quality either
    assert client.get(SOURCES, headers=of(callers, "pilot_caiso", "apikey").headers).json()["sources"] == []


def test_outsider_sees_nothing_and_strangers_are_turned_away(
    client: TestClient, callers: dict[str, list[Credential]]
) -> None:
    body = client.get(SOURCES, headers=of(callers, "outsider", "bearer").headers).json()
    assert body == {"checked_at": body["checked_at"], "markets": [], "sources": []}
    assert client.get(SOURCES).status_code == 401
    unknown = client.get(
        SOURCES, params={"market": "ATLANTIS"}, headers=of(callers, "platform", "apikey").headers
    )
    assert unknown.status_code == 422
    assert "ATLANTIS" in unknown.json()["detail"]


def test_the_newest_recorded_check_of_each_kind_is_reported(
    client: TestClient, world: Settings, callers: dict[str, list[Credential]]
) -> None:
    hub = of(callers, "pilot_miso", "session")
    source = next(s for s in client.get(SOURCES, headers=hub.headers).json()["sources"] if s["run"] == "RT5")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    rows = [
        (now - dt.timedelta(minutes=10), 12.0, False),  # older: superseded by the one below
        (now - dt.timedelta(minutes=5), 0.0, True),
    ]
    engine = engine_for(world.metadata_url)
    try:
        with session_factory(engine)() as session:
            for checked_at, value, passed in rows:
                session.add(
                    QualityCheck(
                        source=source["source"],
                        market="MISO",
                        run="RT5",
                        check="gaps",
                        scope="file:rt5.csv",
                        value=value,
                        threshold=0.0,
                        passed=passed,
                        details={},
                        checked_at=checked_at,
                    )
                )
            # a CAISO check of the same source name must not reach the MISO pilot
            session.add(
                QualityCheck(
                    source=source["source"],
                    market="CAISO",
                    run="RT5",
                    check="spikes",
                    scope="source",
                    value=3.0,
                    threshold=0.0,
                    passed=False,
                    details={},
                    checked_at=now,
                )
            )
            session.commit()
    finally:
        engine.dispose()
    body = client.get(SOURCES, params={"market": "MISO"}, headers=hub.headers).json()
    rt5 = next(s for s in body["sources"] if s["run"] == "RT5" and s["source"] == source["source"])
    assert [(c["check"], c["value"], c["passed"], c["gate"]) for c in rt5["checks"]] == [
        ("gaps", 0.0, True, False)
    ]
    assert dt.datetime.fromisoformat(rt5["checks"][0]["checked_at"]) == now - dt.timedelta(minutes=5)
    others = [s for s in body["sources"] if s["run"] != "RT5"]
    assert all(s["checks"] == [] for s in others)
