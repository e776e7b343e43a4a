"""A gateway over a small simulated store, with the pilot tenants, an outsider and an admin, and every
kind of credential for each: what the gateway tests run against (real DuckDB, SQLite, FastAPI app)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from marketintel.auth.accounts import set_password
from marketintel.auth.apikeys import create_api_key
from marketintel.auth.tokens import issue_token, sign_in
from marketintel.config import Settings, load_settings
from marketintel.entitlements.demo import seed_demo_accounts
from marketintel.metadata.models import User
from marketintel.metadata.service import create_tenant, create_user, engine_for, session_factory, upgrade
from marketintel.simulate.loader import load_simulation
from marketintel.simulate.models import SimulationSpec
from marketintel.store.models import CURVE_POINTS
from marketintel.store.service import open_timeseries

MARKETS = ("MISO", "CAISO", "PJM")
START = dt.date(2026, 11, 1)
DAYS = 2
CURVE_DATE = dt.date(2026, 11, 2)
HUBS = {"MISO": "INDIANA.HUB", "CAISO": "TH_NP15_GEN-APND", "PJM": "WESTERN HUB"}
OUTSIDER = "outsider"


@dataclass(frozen=True)
class Credential:
    tenant: str
    kind: str  # "session" (hub cookie), "apikey", "bearer"
    headers: dict[str, str]

    @property
    def channel(self) -> str:
        return "hub" if self.kind == "session" else "api"


def curve_rows(market: str, location: str) -> pa.Table:
    months = [dt.datetime(2027, m, 1, tzinfo=dt.UTC) for m in range(1, 13)]
    ends = [*months[1:], dt.datetime(2028, 1, 1, tzinfo=dt.UTC)]
    known = dt.datetime(2026, 11, 2, 22, tzinfo=dt.UTC)
    return pa.table(
        {
            "curve_id": [f"{market}:{location}:ATC"] * 12,
            "scenario_id": ["BASE"] * 12,
            "as_of_date": [CURVE_DATE] * 12,
            "delivery_start": months,
            "delivery_end": ends,
            "granularity": ["M"] * 12,
            "value": [40.0 + m for m in range(12)],
            "run_id": ["test-run"] * 12,
            "knowledge_time": [known] * 12,
        },
        schema=CURVE_POINTS.schema,
    )


def build_world(data_dir: Path, **overrides: object) -> Settings:
    """Simulated MISO, CAISO and PJM for two days, curves for each hub, tenants and grants."""
    settings = load_settings(data_dir=data_dir, rate_general_per_s=1e6, rate_exports_per_s=1e6, **overrides)
    upgrade(settings.metadata_url)
    store = open_timeseries(settings.timeseries_url)
    try:
        spec = SimulationSpec(start=START, days=DAYS, seed=3, markets=MARKETS, nodes_per_market=4)
        load_simulation(spec, store, settings.metadata_url)
        locations = set(store.instruments().column("location").to_pylist())
        for market, hub in HUBS.items():
            assert hub in locations, f"the simulator has no {hub} in {market}"
            store.write(CURVE_POINTS, curve_rows(market, hub))
    finally:
        store.close()
    engine = engine_for(settings.metadata_url)
    with session_factory(engine)() as session:
        seed_demo_accounts(session, list(MARKETS))
        create_tenant(session, OUTSIDER, "A tenant with no grants")
        create_user(session, OUTSIDER, "someone@outsider.example", "analyst")
        set_password(session, "someone@outsider.example", "outsider-password")
        session.commit()
    engine.dispose()
    return settings


def credentials(settings: Settings, tenant: str, email: str, password: str) -> list[Credential]:
    """A hub session, an API key and a bearer token for one user."""
    engine = engine_for(settings.metadata_url)
    try:
        with session_factory(engine)() as session:
            user = session.query(User).filter(User.email == email).one()
            _, secret = create_api_key(session, tenant, f"test key {email}", user.role, user_email=email)
            token = issue_token(session, settings, user, channel="api")
            cookie = sign_in(session, settings, email, password)
            session.commit()
    finally:
        engine.dispose()
    return [
        Credential(tenant, "session", {"Cookie": f"mi_session={cookie}"}),
        Credential(tenant, "apikey", {"X-API-Key": secret}),
        Credential(tenant, "bearer", {"Authorization": f"Bearer {token}"}),
    ]
