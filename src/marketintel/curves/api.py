"""HTTP view of forward curves: the points a curve run wrote, as of a date and a scenario."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import pyarrow.compute as pc
from fastapi import APIRouter, Depends, Query, Request

from marketintel.api.params import aware
from marketintel.api.problems import Problem
from marketintel.api.responses import FastJSON, iso_z
from marketintel.api.security import Access, entitled
from marketintel.catalog.markets import MARKETS
from marketintel.curves.calendar import forward_clock
from marketintel.metadata.models import CurveRun
from marketintel.store.api import store_of

router = APIRouter(tags=["curves"])
CurvesAccess = Annotated[Access, Depends(entitled("curves"))]
BLOCKS = ("ATC", "PEAK", "OFFPEAK")


def curve_id(market: str, location: str, block: str = "ATC") -> str:
    """Curve ids read MARKET:location:BLOCK, so the market (what entitlements check) is in the id."""
    return f"{market}:{location}:{block}"


@router.get("/curves/forward", response_class=FastJSON)
def forward_curve(
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
    store = store_of(request)
    if as_of_date is None:
        as_of_date = _latest_as_of(store, curve, scenario)
    points = store.curve_points(
        curve_id=curve, as_of_date=as_of_date, scenario_id=scenario, as_of=aware("as_of", as_of)
    )
    points = points.filter(pc.equal(points.column("granularity"), granularity))
    if not points.num_rows:
        raise Problem(
            404,
            f"no {granularity} curve {curve} for {as_of_date.isoformat()} in scenario {scenario}",
            kind="not-found",
        )
    run_id = points.column("run_id")[0].as_py()
    with request.app.state.sessions() as session:
        run = session.get(CurveRun, run_id)
    traded_until = run.liquid_until if run is not None else None
    starts = iso_z(points.column("delivery_start"))
    local_starts = _local_dates(points.column("delivery_start"), market_code)
    return FastJSON(
        {
            "curve": curve,
            "as_of_date": as_of_date,
            "scenario": scenario,
            "granularity": granularity,
            "run_id": run_id,
            "traded_until": traded_until,
            "points": {
                "delivery_start": starts,
                "delivery_end": iso_z(points.column("delivery_end")),
                "value": points.column("value").to_pylist(),
                # beyond the last traded contract the curve is the modelled anchor, not the market
                "modelled": [traded_until is not None and d >= traded_until for d in local_starts],
            },
        }
    )


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


def _local_dates(column: Any, market: str) -> list[str]:
    """ISO local delivery dates in the market's forward clock, to compare with the run's traded horizon."""
    zone = ZoneInfo(forward_clock(market))
    return [v.astimezone(zone).date().isoformat() for v in column.to_pylist()]
