"""HTTP view of forward curves: the points a curve run wrote, as of a date and a scenario."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from marketintel.api.params import aware
from marketintel.api.problems import Problem
from marketintel.api.responses import FastJSON, iso_z
from marketintel.api.security import Access, entitled
from marketintel.catalog.markets import MARKETS
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
    as_of_date: Annotated[dt.date, Query(description="the curve's as-of (trade) date")],
    curve: Annotated[str | None, Query(description="curve id MARKET:location:BLOCK")] = None,
    market: Annotated[str | None, Query()] = None,
    location: Annotated[str | None, Query()] = None,
    block: Annotated[str, Query(description="ATC, PEAK or OFFPEAK")] = "ATC",
    scenario: Annotated[str, Query(max_length=64)] = "BASE",
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
    points = store_of(request).curve_points(
        curve_id=curve, as_of_date=as_of_date, scenario_id=scenario, as_of=aware("as_of", as_of)
    )
    if not points.num_rows:
        raise Problem(
            404, f"no curve {curve} for {as_of_date.isoformat()} in scenario {scenario}", kind="not-found"
        )
    return FastJSON(
        {
            "curve": curve,
            "as_of_date": as_of_date,
            "scenario": scenario,
            "run_id": points.column("run_id")[0].as_py(),
            "points": {
                "granularity": points.column("granularity").to_pylist(),
                "delivery_start": iso_z(points.column("delivery_start")),
                "delivery_end": iso_z(points.column("delivery_end")),
                "value": points.column("value").to_pylist(),
            },
        }
    )
