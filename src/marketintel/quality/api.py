"""HTTP view of data quality: each entitled source's freshness now, and its last recorded check results.

What the hub's freshness and quality badges read. Freshness and staleness are measured at request time
with the same checks and gates as `marketintel quality report`; recorded checks are what the quality
monitor wrote for each batch and source. Markets the caller is not entitled to never appear.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from marketintel.api.problems import Problem
from marketintel.api.responses import FastJSON
from marketintel.api.security import Access, entitled
from marketintel.catalog.markets import MARKETS
from marketintel.quality import checks
from marketintel.quality.models import CheckResult, Gates
from marketintel.quality.service import Newest, RecordedCheck, newest_interval, price_sources, report
from marketintel.store.api import store_of

router = APIRouter(tags=["data quality"])
QualityAccess = Annotated[Access, Depends(entitled("prices"))]
GATES = Gates()
RECORDED_WINDOW = dt.timedelta(days=7)  # older recorded checks say nothing about a source now
RECORDED_LIMIT = 500  # per source: enough for the newest result of each check of each run


def _seconds(value: float) -> float | None:
    """JSON has no infinity: a source with no data has no age."""
    return value if math.isfinite(value) else None


def _measured(result: CheckResult) -> dict[str, Any]:
    return {
        "value": _seconds(result.value),
        "limit": result.threshold,
        "passed": result.passed,
        "gate": GATES.is_gate(result.check),
    }


def _recorded(rows: list[RecordedCheck], market: str, run: str) -> list[dict[str, Any]]:
    """The newest recorded result of each check of (market, run), newest first."""
    newest: dict[str, RecordedCheck] = {}
    for row in rows:  # already newest first
        if row.market == market and row.run == run and row.check not in newest:
            newest[row.check] = row
    return [
        {
            "check": r.check,
            "scope": r.scope,
            "value": _seconds(r.value),
            "threshold": r.threshold,
            "passed": r.passed,
            "gate": GATES.is_gate(r.check),
            "checked_at": r.checked_at.replace(tzinfo=r.checked_at.tzinfo or dt.UTC),
        }
        for r in newest.values()
    ]


def _status(newest: Newest, fresh: CheckResult, stale: CheckResult) -> str:
    if newest.end is None:
        return "no-data"
    if not stale.passed:
        return "stale"  # nothing new learned for several cadences: the feed has stopped
    return "live" if fresh.passed else "late"


def _newest_of(request: Request, market: str) -> list[tuple[str, str, Newest]]:
    """(source, run, newest interval) of every price source of a market, shared by concurrent callers
    for a moment (the snapshot's short TTL): every dashboard polls this."""

    def compute() -> list[tuple[str, str, Newest]]:
        store = store_of(request)
        return [
            (source, run, newest_interval(store, source, market, run))
            for source, held_market, run in price_sources(store)
            if held_market == market
        ]

    found: list[tuple[str, str, Newest]] = request.app.state.snapshots.get(("quality", market), compute)
    return found


@router.get("/quality/sources", response_class=FastJSON)
def quality_sources(
    request: Request,
    access: QualityAccess,
    market: Annotated[
        str | None, Query(description="market code, e.g. MISO; default every entitled one")
    ] = None,
) -> Any:
    """Freshness (age of the newest stored interval), staleness (time since a new interval was learned)
    and the newest recorded quality checks of every price source of the caller's markets."""
    if market is not None:
        if market not in MARKETS:
            raise Problem(
                422, f"query parameter 'market': unknown market {market!r}", kind="invalid-parameter"
            )
        access.require(market)
        markets = [market]
    else:
        markets = sorted(access.markets())
    now = dt.datetime.now(dt.UTC)
    recorded: dict[str, list[RecordedCheck]] = {}
    sources = []
    for code in markets:
        timezone = MARKETS[code].timezone
        for source, run, newest in _newest_of(request, code):
            if source not in recorded:
                recorded[source] = report(
                    request.app.state.sessions, now - RECORDED_WINDOW, source=source, limit=RECORDED_LIMIT
                )
            fresh = checks.freshness(run, newest.end, now, GATES.freshness_limit(source, run, now, timezone))
            stale = checks.stale(
                run, newest.learned, now, GATES.stale_limit(source, run, newest.minutes or 0)
            )
            sources.append(
                {
                    "source": source,
                    "market": code,
                    "run": run,
                    "timezone": timezone,
                    "status": _status(newest, fresh, stale),
                    "stale": newest.end is None or not (fresh.passed and stale.passed),
                    "newest_interval_end": newest.end,
                    "interval_minutes": newest.minutes,
                    "last_new_interval_at": newest.learned,
                    "freshness": _measured(fresh),
                    "staleness": _measured(stale),
                    "checks": _recorded(recorded[source], code, run),
                }
            )
    return FastJSON({"checked_at": now, "markets": markets, "sources": sources})
