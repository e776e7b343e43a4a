"""HTTP view of forward curves: the points a curve run wrote, as of a date and a scenario."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from marketintel.api.params import aware
from marketintel.api.problems import Problem
from marketintel.api.responses import ColumnJSON, FastJSON, utc_times, values
from marketintel.api.security import Access, entitled
from marketintel.catalog.markets import MARKETS
from marketintel.curves.calendar import forward_clock
from marketintel.metadata.models import CurveRun
from marketintel.store.api import snapshot_response, store_of

router = APIRouter(tags=["curves"])
CurvesAccess = Annotated[Access, Depends(entitled("curves"))]
BLOCKS = ("ATC", "PEAK", "OFFPEAK")
RUNS_KEPT = 1024  # curve runs whose traded horizon a process keeps


def curve_id(market: str, location: str, block: str = "ATC") -> str:
    """Curve ids read MARKET:location:BLOCK, so the market (what entitlements check) is in the id."""
    return f"{market}:{location}:{block}"


@router.get("/curves/forward", response_class=FastJSON)
async def forward_curve(
    request: Request,
    access: CurvesAccess,
    as_of_date: Annotated[
        dt.date | None, Query(description="the curve's as-of (trade) date; default the latest")
    ] = None,
    curve: Annotated[str | None, Query(description="curve id MARKET:location:BLOCK")] = None,
    market: Annotated[str | None, Query()] = None,
    location: Annotated[str | None, Query()] = None,
    block: Annotated[str, Query(description="ATC, PEAK or OFFPEAK")] = "ATC",
    scenario: Annotated[str, Query(max_length=64)] = "BASE",
    granularity: Annotated[Literal["M", "D"], Query(description="M monthly, D daily points")] = "M",
    as_of: Annotated[dt.datetime | None, Query(description="what was known at this instant")] = None,
) -> Any:
    """A forward curve's points by granularity and delivery period."""
    if curve is None:
        if market is None or location is None:
            raise Problem(422, "give 'curve', or 'market' and 'location'", kind="invalid-parameter")
        if block not in BLOCKS:
            raise Problem(
                422,
                f"query parameter 'block': {block!r} is not one of {', '.join(BLOCKS)}",
                kind="invalid-parameter",
            )
        curve = curve_id(market, location, block)
    market_code = curve.split(":", 1)[0]
    if market_code not in MARKETS:
        raise Problem(
            422,
            f"query parameter 'curve': {curve!r} does not start with a known market",
            kind="invalid-parameter",
        )
    access.require(market_code)
    known = aware("as_of", as_of)

    def body() -> bytes:
        return bytes(
            ColumnJSON(
                _curve_body(request, curve, as_of_date, scenario, granularity, known, market_code)
            ).body
        )

    if known is not None:  # what was known at a past moment: never cached
        return Response(await run_in_threadpool(body), media_type="application/json")
    # desk tools poll the same few curves: one read per snapshot (DEFAULT_TTL seconds), as for latest prices
    return await snapshot_response(request, ("curve", curve, as_of_date, scenario, granularity), body)


def _curve_body(
    request: Request,
    curve: str,
    as_of_date: dt.date | None,
    scenario: str,
    granularity: str,
    known: dt.datetime | None,
    market_code: str,
) -> dict[str, Any]:
    store = store_of(request)
    if as_of_date is None:
        as_of_date = _latest_as_of(store, curve, scenario)
    points = store.curve_points(curve_id=curve, as_of_date=as_of_date, scenario_id=scenario, as_of=known)
    points = points.filter(pc.equal(points.column("granularity"), granularity))
    if not points.num_rows:
        raise Problem(
            404,
            f"no {granularity} curve {curve} for {as_of_date.isoformat()} in scenario {scenario}",
            kind="not-found",
        )
    run_id = points.column("run_id")[0].as_py()
    facts = _run_facts(request, run_id)
    traded_until = facts.liquid_until if facts is not None else None
    starts = points.column("delivery_start")
    if traded_until is None:
        modelled = [False] * points.num_rows
    else:
        # beyond the last traded contract the curve is the modelled anchor, not the market
        modelled = pc.greater_equal(_local_dates(starts, market_code), traded_until).to_pylist()
    return {
        "curve": curve,
        "as_of_date": as_of_date,
        "scenario": scenario,
        "granularity": granularity,
        "run_id": run_id,
        "traded_until": traded_until,
        "quotes": _block_quotes(facts, curve) if facts is not None else [],
        "points": {
            "delivery_start": utc_times(starts),
            "delivery_end": utc_times(points.column("delivery_end")),
            "value": values(points.column("value")),
            "modelled": modelled,
        },
    }


@dataclass(frozen=True)
class RunFacts:
    """What a response needs of a curve run (a run is immutable: read once per process, kept)."""

    location: str
    liquid_until: str
    quotes: list[dict[str, Any]]  # the contracts it was built from, each with the price it was built at


def _run_facts(request: Request, run_id: str) -> RunFacts | None:
    held: dict[str, RunFacts] | None = getattr(request.app.state, "curve_runs", None)
    if held is None:
        held = request.app.state.curve_runs = {}
    cached = held.get(run_id)
    if cached is not None:
        return cached
    with request.app.state.sessions() as session:
        run = session.get(CurveRun, run_id)
    if run is None:  # not recorded (yet): ask again next time
        return None
    if len(held) >= RUNS_KEPT:  # bounded; starting over is cheap
        held.clear()
    facts = held[run_id] = RunFacts(run.location, run.liquid_until, _quotes(run))
    return facts


def _quotes(run: CurveRun) -> list[dict[str, Any]]:
    """The run's quotes as built: reconciliation may have moved a price (never silently: `used`)."""
    used = {(a["contract"], a["product"]): a["used"] for a in run.reconciliation.get("adjustments", [])}
    quotes = []
    for q in run.inputs.get("quotes", []):
        price = used.get((q["contract"], q["product"]), q["price"])
        quotes.append(
            {
                "contract": q["contract"],
                "product": q["product"],
                "start": q["start"],  # market-local delivery dates, end exclusive
                "end": q["end"],
                "price": q["price"],
                "bid": q["bid"],
                "ask": q["ask"],
                "used": price,
                "adjusted": (q["contract"], q["product"]) in used,
                "source": q["source"],
            }
        )
    return quotes


def _block_quotes(facts: RunFacts, curve: str) -> list[dict[str, Any]]:
    """The quotes of this curve's block, when the curve is the quoted location's own (a nodal curve is
    the hub's plus a basis, so the hub's quotes are not its prices)."""
    _, location, block = curve.rsplit(":", 2) if curve.count(":") >= 2 else (curve, "", "")
    if location != facts.location:
        return []
    return [q for q in facts.quotes if q["product"] == block]


def _latest_as_of(store: Any, curve: str, scenario: str) -> dt.date:
    d = store.dialect
    latest = (
        store.query(
            f"SELECT max(as_of_date) AS latest FROM curve_points "
            f"WHERE curve_id = {d.string(curve)} AND scenario_id = {d.string(scenario)}"
        )
        .column("latest")[0]
        .as_py()
    )
    if latest is None:
        raise Problem(404, f"no curve {curve} in scenario {scenario} has been built", kind="not-found")
    return latest


def _local_dates(column: pa.ChunkedArray, market: str) -> pa.ChunkedArray:
    """ISO local delivery dates (text) in the market's forward clock, to compare with the run's traded
    horizon (ISO text too)."""
    local = pc.local_timestamp(column.cast(pa.timestamp("us", forward_clock(market))))
    return local.cast(pa.date32()).cast(pa.string())
