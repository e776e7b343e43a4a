"""The gateway: engines and services opened once at start-up, closed at shutdown, every router mounted.

Order of shutdown matters: stop taking stream events, then flush the audit log (no record is lost on a
clean stop), then close the engines.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI

from marketintel import __version__
from marketintel.api import observability, problems, stream, web
from marketintel.api.responses import FastJSON
from marketintel.api.security import Credentials, Gate
from marketintel.api.snapshots import Snapshots
from marketintel.audit.writer import AuditWriter
from marketintel.auth import api as auth_api
from marketintel.auth.service import Authenticator
from marketintel.bus.service import open_bus
from marketintel.config import Settings
from marketintel.curves import api as curves_api
from marketintel.entitlements import api as entitlements_api
from marketintel.entitlements.service import Entitlements
from marketintel.exports import api as exports_api
from marketintel.metadata.service import engine_for, session_factory, upgrade
from marketintel.quality import api as quality_api
from marketintel.ratelimit.service import open_ratelimiter
from marketintel.simulate.live import open_live_feed
from marketintel.store import api as store_api
from marketintel.store.service import open_timeseries

API_PREFIX = "/api/v1"
WORKER_THREADS = 8
# Every /api/v1 route passes the gate (401, 403, 429) and may name a parameter at fault (422) or find
# nothing (404); all answered as problem+json, and documented so.
API_PROBLEMS = problems.responses(401, 403, 404, 422, 429)


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = app.state
        # Sync endpoints run in worker threads. Two cores serve them: a few threads keep both busy, and
        # forty (the default) queue for the GIL ahead of the event loop, which then answers late
        to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
        upgrade(settings.metadata_url)
        state.engine = engine_for(settings.metadata_url)
        state.sessions = session_factory(state.engine)
        state.store = open_timeseries(settings.timeseries_url)
        entitlements = Entitlements(state.sessions)
        entitlements.reload()  # before the first request: checks run on the event loop, and must not query
        state.limiter = open_ratelimiter(settings.ratelimit_url)
        state.gate = Gate(settings, Authenticator(state.sessions, settings), entitlements, state.limiter)
        state.audit = AuditWriter(state.sessions)
        state.bus = open_bus(settings.bus_url)
        state.snapshots = Snapshots()
        state.fanout = stream.Fanout(
            state.bus, entitlements, on_event=state.snapshots.market_changed, on_gap=state.snapshots.clear
        )
        state.fanout.start()
        # the demo's simulation goes on in real time, published through the bus like any ingestion
        state.live_feed = open_live_feed(state.store, state.bus, settings) if settings.demo_live else None
        try:
            yield
        finally:
            if state.live_feed is not None:  # first: it writes to the store and the bus
                await asyncio.to_thread(state.live_feed.stop)
            await state.fanout.stop()
            state.audit.close()
            state.limiter.close()
            state.gate.authenticator.close()
            state.store.close()
            state.engine.dispose()

    app = FastAPI(
        title="254Carbon Market Intelligence Platform",
        version=__version__,
        description="Entitled market data: prices, fundamentals, forward curves, live streams and downloads. "
        "Authenticate with 'Authorization: Bearer <token>' or 'X-API-Key'.",
        lifespan=lifespan,
        default_response_class=FastJSON,
    )
    app.state.settings = settings
    problems.install(app)
    app.add_middleware(observability.GatewayMiddleware)
    app.include_router(observability.router)
    for router in (
        auth_api.router,
        store_api.router,
        curves_api.router,
        exports_api.router,
        entitlements_api.router,
        quality_api.router,
        stream.router,
    ):
        # the credential schemes, declared for /docs' Authorize button (the gate reads the headers itself)
        app.include_router(router, prefix=API_PREFIX, responses=API_PROBLEMS, dependencies=Credentials)
    web.mount(app)  # last: the hub's client routes take only what no route above answers
    return app
