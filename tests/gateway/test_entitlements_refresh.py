"""The gateway's in-memory grants: a change made elsewhere (another replica, the CLI) applies after a reload
that runs in the background, so no request waits on the metadata store for it."""

from __future__ import annotations

import time

from marketintel.config import Settings
from marketintel.entitlements.service import Entitlements, grant, revoke
from marketintel.metadata.service import engine_for, session_factory


def test_a_grant_made_elsewhere_applies_after_a_background_reload(world: Settings) -> None:
    engine = engine_for(world.metadata_url)
    sessions = session_factory(engine)
    entitlements = Entitlements(sessions, refresh_seconds=0.05)
    combination = ("pilot_caiso", "PJM", "fundamentals", "hub")
    try:
        assert not entitlements.allowed(*combination)  # the first check loads the grants
        with sessions() as session:
            grant(session, "pilot_caiso", ["PJM"], ["fundamentals"], ["hub"])
            session.commit()
        deadline = time.monotonic() + 10
        while not entitlements.allowed(*combination) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert entitlements.allowed(*combination)
        with sessions() as session:
            revoke(session, "pilot_caiso", ["PJM"], ["fundamentals"], ["hub"])
            session.commit()
        entitlements.reload()  # what the gateway does after its own grant or revoke: at once
        assert not entitlements.allowed(*combination)
    finally:
        engine.dispose()
