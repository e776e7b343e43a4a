"""A forward curve comes with the quotes it was built from, as built: the hub desk sees what is traded."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from marketintel.api.app import create_app
from marketintel.config import Settings
from marketintel.curves.models import Quote
from marketintel.curves.runs import save_run
from marketintel.curves.service import build_curve
from marketintel.entitlements.demo import ACCOUNTS
from marketintel.metadata.service import engine_for, session_factory
from marketintel.store.service import open_timeseries
from tests.gateway.world import Credential, build_world, credentials

AS_OF = dt.date(2026, 6, 1)
D = dt.date
# July and August alone average above the quarter they belong to: reconciliation must move something
QUOTES = [
    Quote("Jul26", "ATC", D(2026, 7, 1), D(2026, 8, 1), 60.0, source="test.csv"),
    Quote("Aug26", "ATC", D(2026, 8, 1), D(2026, 9, 1), 58.0, source="test.csv"),
    Quote("Sep26", "ATC", D(2026, 9, 1), D(2026, 10, 1), 45.0, source="test.csv"),
    Quote("Q3-26", "ATC", D(2026, 7, 1), D(2026, 10, 1), 50.0, source="test.csv"),
    Quote("Cal27", "ATC", D(2027, 1, 1), D(2028, 1, 1), 48.0, source="test.csv"),
    Quote("Jul26 pk", "PEAK", D(2026, 7, 1), D(2026, 8, 1), 75.0, source="test.csv"),
]


@pytest.fixture(scope="module")
def quoted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, str]:
    world = build_world(Path(tmp_path_factory.mktemp("curve-quotes")))
    build, _, _ = build_curve("MISO", "INDIANA.HUB", AS_OF, QUOTES)
    store = open_timeseries(world.timeseries_url)
    engine = engine_for(world.metadata_url)
    try:
        with session_factory(engine)() as session:
            saved = save_run(session, store, build, dt.datetime(2026, 6, 1, 20, tzinfo=dt.UTC))
            session.commit()
    finally:
        store.close()
        engine.dispose()
    return world, saved.run_id


@pytest.fixture(scope="module")
def client(quoted: tuple[Settings, str]) -> Iterator[TestClient]:
    with TestClient(create_app(quoted[0]), base_url="http://127.0.0.1:8000") as client:
        yield client


def api_key(world: Settings, tenant: str) -> Credential:
    account = next(a for a in ACCOUNTS if a.tenant == tenant)
    return next(c for c in credentials(world, tenant, account.email, account.password) if c.kind == "apikey")


def curve(client: TestClient, who: Credential, **params: Any) -> Any:
    return client.get(
        "/api/v1/curves/forward", params={"as_of_date": AS_OF.isoformat(), **params}, headers=who.headers
    )


def test_the_curve_carries_its_block_s_quotes_as_built(
    client: TestClient, quoted: tuple[Settings, str]
) -> None:
    world, run_id = quoted
    reply = curve(client, api_key(world, "pilot_miso"), market="MISO", location="INDIANA.HUB")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["run_id"] == run_id
    quotes = {q["contract"]: q for q in body["quotes"]}
    assert sorted(quotes) == ["Aug26", "Cal27", "Jul26", "Q3-26", "Sep26"]  # the ATC block's only
    assert quotes["Cal27"] == {
        "contract": "Cal27",
        "product": "ATC",
        "start": "2027-01-01",
        "end": "2028-01-01",
        "price": 48.0,
        "bid": None,
        "ask": None,
        "used": 48.0,
        "adjusted": False,
        "source": "test.csv",
    }
    # the inconsistent quarter is reconciled, and the response says so for what moved
    moved = [q for q in quotes.values() if q["adjusted"]]
    assert moved
    assert all(q["used"] != q["price"] for q in moved)
    # the months of the quarter, as built, average (hour-weighted) to the quarter as built
    jul, aug, sep, q3 = (quotes[c]["used"] for c in ("Jul26", "Aug26", "Sep26", "Q3-26"))
    assert (jul * 744 + aug * 744 + sep * 720) / 2208 == pytest.approx(q3, abs=1e-6)


def test_the_peak_curve_carries_the_peak_quotes(client: TestClient, quoted: tuple[Settings, str]) -> None:
    world, _ = quoted
    body = curve(client, api_key(world, "pilot_miso"), market="MISO", location="INDIANA.HUB", block="PEAK")
    assert body.status_code == 200, body.text
    assert [q["contract"] for q in body.json()["quotes"]] == ["Jul26 pk"]


def test_a_tenant_without_the_market_gets_no_quotes(client: TestClient, quoted: tuple[Settings, str]) -> None:
    world, _ = quoted
    reply = curve(client, api_key(world, "pilot_caiso"), market="MISO", location="INDIANA.HUB")
    assert reply.status_code == 403
    assert "quotes" not in reply.text
