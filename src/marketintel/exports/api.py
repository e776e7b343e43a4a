"""Download endpoints. They are the `downloads` channel whatever credential calls them, and spend the
tenant's export budget (1 request/s by default) on top of the general one."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import pyarrow as pa
from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from marketintel.api.params import aware, check_run, split_instrument, window
from marketintel.api.responses import PARQUET, table_response
from marketintel.api.security import Access, entitled
from marketintel.store.api import store_of

router = APIRouter(tags=["downloads"])
DownloadAccess = Annotated[Access, Depends(entitled("prices", downloads=True))]
DOWNLOAD_LIMIT = dt.timedelta(days=366)


@router.get(
    "/downloads/prices",
    response_class=Response,  # a file, never JSON
    responses={200: {"content": {"text/csv": {}, PARQUET: {}}}},
)
def download_prices(
    request: Request,
    access: DownloadAccess,
    instrument: Annotated[list[str], Query(min_length=1, max_length=200, description="MARKET:location")],
    run: Annotated[str, Query()],
    start: Annotated[dt.datetime, Query()],
    end: Annotated[dt.datetime, Query()],
    as_of: Annotated[dt.datetime | None, Query()] = None,
    format: Annotated[Literal["csv", "parquet"], Query()] = "csv",
) -> Any:
    """Price intervals of instruments in [start, end) as a CSV or Parquet file."""
    first, last = window(start, end, DOWNLOAD_LIMIT, "download a year at a time")
    by_market: dict[str, list[str]] = {}
    for value in instrument:
        market, location = split_instrument(value)
        by_market.setdefault(market, []).append(location)
    access.require_all(by_market)
    store = store_of(request)
    tables = []
    for market, locations in by_market.items():
        check_run(market, run)
        tables.append(
            store.prices(
                market=market,
                run=run,
                start=first,
                end=last,
                locations=locations,
                as_of=aware("as_of", as_of),
            )
        )
    table = pa.concat_tables(tables)
    name = f"prices_{run}_{first:%Y%m%d}_{last:%Y%m%d}.{format}"
    return table_response(table, format, filename=name)
