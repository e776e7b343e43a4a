"""HTTP view of the store: what it holds. Translates HTTP to service calls, nothing more."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter, Request

from marketintel.store.service import TimeSeriesStore

router = APIRouter(tags=["store"])


def _store(request: Request) -> TimeSeriesStore:
    store: TimeSeriesStore = request.app.state.store
    return store


@router.get("/summary")
def summary(request: Request) -> dict[str, Any]:
    """Markets, instruments, row counts and time spans held by the time-series store."""
    return dataclasses.asdict(_store(request).summary())
