"""The application factory: engines opened once at start-up, closed at shutdown."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from marketintel import __version__
from marketintel.config import Settings
from marketintel.store import api as store_api
from marketintel.store.service import open_timeseries


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = open_timeseries(settings.timeseries_url)
        try:
            yield
        finally:
            app.state.store.close()

    app = FastAPI(
        title="254Carbon Market Intelligence Platform",
        version=__version__,
        lifespan=lifespan,
    )
    app.state.settings = settings

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok", "version": __version__}

    app.include_router(store_api.router, prefix="/api/v1")
    return app
