"""HTTP view of the time-series store: instruments, price ticks and latest prices, fundamentals.

Translates HTTP to store calls and nothing more; every endpoint states its product through `entitled`,
and asks `access.require(market)` before reading a market's data.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Hashable
from typing import Annotated, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from marketintel.api.params import aware, check_run, instrument_id, split_instrument, window
from marketintel.api.problems import Problem
from marketintel.api.responses import (
    ARROW_STREAM,
    ColumnJSON,
    FastJSON,
    iso_z,
    table_response,
    utc_times,
    values,
)
from marketintel.api.security import Access, entitled
from marketintel.catalog.markets import MARKETS
from marketintel.store.engines.base import Freq
from marketintel.store.service import TimeSeriesStore

router = APIRouter(tags=["market data"])
PricesAccess = Annotated[Access, Depends(entitled("prices"))]
FundamentalsAccess = Annotated[Access, Depends(entitled("fundamentals"))]

RAW_LIMIT = dt.timedelta(days=31)
RESAMPLED_LIMIT = {"1h": dt.timedelta(days=400), "1d": dt.timedelta(days=366 * 20)}
MAX_INSTRUMENTS = 50
MAX_OFFSET = 1_000_000  # far past the catalog's end; beyond int64 Arrow cannot slice at all
VALUES = ("lmp", "energy", "congestion", "loss")
# A price window that ended this long ago is settled: only a revision changes it, and a revision reaches
# the bus, which drops the snapshot; its TTL then only bounds staleness if that event were missed.
SETTLED_AFTER = dt.timedelta(days=1)
SETTLED_TTL = 300.0  # seconds


def store_of(request: Request) -> TimeSeriesStore:
    store: TimeSeriesStore = request.app.state.store
    return store


@dataclasses.dataclass(frozen=True)
class Catalog:
    """The instrument catalog and what every request derives from it, computed once per snapshot."""

    table: pa.Table
    search_text: pa.Array  # each row's location and name, lowercased: what `q` matches
    locations: dict[str, frozenset[str]]  # market → its locations

    @classmethod
    def of(cls, table: pa.Table) -> Catalog:
        joined = pc.binary_join_element_wise(
            table.column("location"), pc.fill_null(table.column("name"), ""), " "
        )
        locations: dict[str, set[str]] = {}
        for market, location in zip(
            table.column("market").to_pylist(), table.column("location").to_pylist(), strict=True
        ):
            locations.setdefault(market, set()).add(location)
        return cls(
            table=table,
            search_text=pc.utf8_lower(joined),
            locations={m: frozenset(held) for m, held in locations.items()},
        )


def catalog_snapshot(request: Request) -> Catalog:
    """The shared snapshot of the catalog (dropped when the bus reports new data, or after its TTL)."""
    found: Catalog = request.app.state.snapshots.get(
        ("instruments",), lambda: Catalog.of(store_of(request).instruments())
    )
    return found


async def catalog_now(request: Request) -> Catalog:
    """`catalog_snapshot` for async code: from the event loop when fresh, else read in a worker thread
    (the loop must neither query the store nor wait for another thread's read)."""
    found, held = request.app.state.snapshots.peek(("instruments",))
    snapshot: Catalog = held if found else await run_in_threadpool(catalog_snapshot, request)
    return snapshot


def catalog(request: Request, market: str | None = None) -> pa.Table:
    """The instrument catalog (of one market), from the shared snapshot."""
    table = catalog_snapshot(request).table
    if market is None:
        return table
    return table.filter(pc.equal(table.column("market"), market))


def _instrument_rows(table: pa.Table) -> list[dict[str, Any]]:
    rows = table.to_pylist()
    for row in rows:
        row["id"] = instrument_id(row["market"], row["location"])
        row["type"] = row.pop("location_type")
    return rows


async def snapshot_response(
    request: Request, key: Hashable, compute: Callable[[], bytes], ttl: float | None = None
) -> Response:
    """A JSON body from the shared snapshots: answered on the event loop when the snapshot is fresh (no
    worker-thread round trip), else computed (or waited for) in a worker thread."""
    snapshots = request.app.state.snapshots
    found, body = snapshots.peek(key)
    if not found:
        body = await run_in_threadpool(snapshots.get, key, compute, ttl)
    return Response(body, media_type="application/json")


@router.get("/instruments", response_class=FastJSON)
async def list_instruments(
    request: Request,
    access: PricesAccess,
    market: Annotated[str | None, Query(description="market code, e.g. MISO")] = None,
    type: Annotated[
        Literal["hub", "zone", "node", "interface"] | None, Query(description="location type")
    ] = None,
    q: Annotated[str | None, Query(max_length=100, description="text in the location id or name")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Any:
    """Instruments of the markets the caller is entitled to, filtered, in pages."""
    if market is not None:
        if market not in MARKETS:
            raise Problem(
                422, f"query parameter 'market': unknown market {market!r}", kind="invalid-parameter"
            )
        access.require(market)
        markets = [market]
    else:
        markets = sorted(access.markets())

    def body() -> bytes:
        held = catalog_snapshot(request)
        table = held.table
        keep = pc.is_in(table.column("market"), pa.array(markets, pa.string()))
        if type is not None:
            keep = pc.and_(keep, pc.equal(table.column("location_type"), type))
        if q:
            keep = pc.and_(keep, pc.match_substring(held.search_text, q.lower()))
        matching = table.filter(keep)
        page = matching.slice(offset, limit)
        next_offset = offset + limit if offset + limit < matching.num_rows else None
        page_body = {
            "items": _instrument_rows(page),
            "total": matching.num_rows,
            "limit": limit,
            "offset": offset,
            "next_offset": next_offset,
        }
        return bytes(FastJSON(page_body).body)

    # a page is derived from the catalog snapshot and dropped with it (keys under "instruments"); the
    # markets are the caller's entitled ones, so tenants with other grants never share a page
    key = ("instruments", "page", tuple(markets), type, q, limit, offset)
    return await snapshot_response(request, key, body)


@router.get("/instruments/{instrument}", response_class=FastJSON)
def get_instrument(
    request: Request,
    access: PricesAccess,
    instrument: Annotated[str, Path(description="MARKET:location, e.g. MISO:ALTE.ALTW")],
) -> Any:
    market, location = split_instrument(instrument, "path parameter 'instrument'")
    access.require(market)
    table = catalog(request, market)
    found = table.filter(pc.equal(table.column("location"), location))
    if not found.num_rows:
        raise Problem(404, f"no instrument {instrument!r} in {market}", kind="not-found")
    return _instrument_rows(found)[0]


def _known_locations(held: Catalog, market: str, locations: list[str]) -> None:
    known = held.locations.get(market, frozenset())
    missing = [loc for loc in locations if loc not in known]
    if missing:
        raise Problem(
            404,
            f"no instrument {', '.join(instrument_id(market, m) for m in missing[:5])} in {market}",
            kind="not-found",
        )


@router.get(
    "/prices/ticks",
    response_class=FastJSON,
    responses={200: {"content": {"text/csv": {}, ARROW_STREAM: {}}}},
)
async def price_ticks(
    request: Request,
    access: PricesAccess,
    instrument: Annotated[list[str], Query(min_length=1, description="MARKET:location; repeat for several")],
    run: Annotated[str, Query(description="DA, RT, RT5, RT15 or ID (as the market has it)")],
    start: Annotated[dt.datetime, Query(description="inclusive, with a timezone")],
    end: Annotated[dt.datetime, Query(description="exclusive, with a timezone")],
    as_of: Annotated[dt.datetime | None, Query(description="what was known at this instant")] = None,
    resample: Annotated[Literal["1h", "1d"] | None, Query(description="time-weighted avg/min/max")] = None,
    format: Annotated[Literal["json", "csv", "arrow"], Query()] = "json",
) -> Any:
    """Price intervals of one or more instruments in [start, end), as known now or at `as_of`."""
    if len(instrument) > MAX_INSTRUMENTS:
        raise Problem(
            422,
            f"at most {MAX_INSTRUMENTS} instruments per request (got {len(instrument)})",
            kind="invalid-parameter",
        )
    limit = RESAMPLED_LIMIT[resample] if resample else RAW_LIMIT
    first, last = window(start, end, limit, "ask for resample=1h or 1d, or a shorter range")
    known = aware("as_of", as_of)
    by_market: dict[str, list[str]] = {}
    for value in instrument:
        market, location = split_instrument(value)
        by_market.setdefault(market, [])
        if location not in by_market[market]:
            by_market[market].append(location)
    access.require_all(by_market)
    held = await catalog_now(request)
    for market, locations in by_market.items():
        check_run(market, run)
        _known_locations(held, market, locations)

    # JSON serves the values, not the lineage: the store then reads a third of the bytes
    columns = ("interval_minutes", *VALUES) if format == "json" else None

    def read() -> list[pa.Table]:
        store = store_of(request)
        if resample:
            freq: Freq = "hour" if resample == "1h" else "day"
            return [
                store.resample_prices(
                    market=market, run=run, start=first, end=last, freq=freq, locations=locations, as_of=known
                )
                for market, locations in by_market.items()
            ]
        return [
            store.prices(
                market=market,
                run=run,
                start=first,
                end=last,
                locations=locations,
                as_of=known,
                columns=columns,
            )
            for market, locations in by_market.items()
        ]

    if format != "json":
        tables = await run_in_threadpool(read)
        return table_response(pa.concat_tables(tables) if len(tables) > 1 else tables[0], format)

    def body() -> bytes:
        answer = {"run": run, "start": first, "end": last, "as_of": known, "resample": resample}
        answer["series"] = _series(by_market, read(), resample)
        return bytes(ColumnJSON(answer).body)

    if known is not None or len(by_market) > 1:  # as known at a past moment, or several markets: not kept
        return Response(await run_in_threadpool(body), media_type="application/json")
    # Kept as a snapshot, dropped when the bus reports new data for the market and run, like the latest
    # prices; a window that ended over a day ago only changes by a revision, so it is also kept longer
    ((market, locations),) = by_market.items()
    key = ("ticks", market, run, tuple(locations), first, last, resample)
    settled = last <= dt.datetime.now(dt.UTC) - SETTLED_AFTER
    return await snapshot_response(request, key, body, ttl=SETTLED_TTL if settled else None)


def _series(
    by_market: dict[str, list[str]], tables: list[pa.Table], resample: str | None
) -> list[dict[str, Any]]:
    series = []
    for (market, locations), table in zip(by_market.items(), tables, strict=True):
        for location in locations:
            # one location read alone is already that location's rows
            rows = (
                table if len(locations) == 1 else table.filter(pc.equal(table.column("location"), location))
            )
            entry: dict[str, Any] = {
                "instrument": instrument_id(market, location),
                "market": market,
                "location": location,
            }
            # columns straight from Arrow to numpy to orjson: no Python object per value
            if resample:
                entry["t"] = utc_times(rows.column("bucket_start"))
                entry.update(
                    avg=values(rows.column("lmp_avg")),
                    min=values(rows.column("lmp_min")),
                    max=values(rows.column("lmp_max")),
                    intervals=rows.column("intervals").to_numpy(),
                )
            else:
                minutes = rows.column("interval_minutes")
                entry["interval_minutes"] = minutes[0].as_py() if rows.num_rows else None
                entry["t"] = utc_times(rows.column("interval_start"))
                entry.update({v: values(rows.column(v)) for v in VALUES})
            series.append(entry)
    return series


@router.get("/prices/latest", response_class=FastJSON)
async def latest_prices(
    request: Request,
    access: PricesAccess,
    market: Annotated[str, Query(description="market code, e.g. MISO")],
    run: Annotated[str, Query(description="DA, RT, RT5, RT15 or ID (as the market has it)")],
    type: Annotated[
        Literal["hub", "zone", "node", "interface"] | None, Query(description="location type")
    ] = None,
    as_of: Annotated[dt.datetime | None, Query()] = None,
) -> Any:
    """Each instrument's most recent interval in a market and run."""
    if market not in MARKETS:
        raise Problem(422, f"query parameter 'market': unknown market {market!r}", kind="invalid-parameter")
    access.require(market)
    check_run(market, run)
    known = aware("as_of", as_of)

    def body() -> bytes:
        items = _latest_items(request, market, run, type, known)
        return bytes(FastJSON({"market": market, "run": run, "items": items}).body)

    if known is not None:  # what was known at a past moment: never cached
        return Response(await run_in_threadpool(body), media_type="application/json")
    # every client asks for the same snapshot; it is dropped when the bus reports new data for it
    return await snapshot_response(request, ("latest", market, run, type), body)


def _latest_items(
    request: Request, market: str, run: str, type: str | None, as_of: dt.datetime | None
) -> list[dict[str, Any]]:
    locations = None
    if type is not None:
        table = catalog(request, market)
        locations = table.filter(pc.equal(table.column("location_type"), type)).column("location").to_pylist()
        if not locations:
            return []
    latest = store_of(request).latest_prices(market=market, run=run, as_of=as_of, locations=locations)
    items = latest.select(
        ["location", "interval_start", "interval_minutes", *VALUES, "knowledge_time"]
    ).to_pylist()
    for item in items:
        item["instrument"] = instrument_id(market, item["location"])
    return items


@router.get("/fundamentals", response_class=FastJSON)
def fundamentals(
    request: Request,
    access: FundamentalsAccess,
    series: Annotated[list[str], Query(min_length=1, description="series id; repeat for several")],
    start: Annotated[dt.datetime, Query()],
    end: Annotated[dt.datetime, Query()],
    as_of: Annotated[dt.datetime | None, Query()] = None,
) -> Any:
    """Load, generation, gas and carbon series. A market's series need that market's fundamentals grant;
    market-wide benchmarks (Henry Hub, carbon) need a fundamentals grant on any market."""
    first, last = window(start, end, dt.timedelta(days=366 * 5), "ask for a shorter range")
    store = store_of(request)
    catalog = {row["series_id"]: row for row in store.series().to_pylist()}
    unknown = [s for s in series if s not in catalog]
    if unknown:
        raise Problem(404, f"no series {', '.join(unknown[:5])}", kind="not-found")
    for series_id in series:
        market = catalog[series_id]["market"]
        if market is not None:
            access.require(market)
        elif not access.markets():
            raise Problem(
                403,
                f"tenant {access.principal.tenant} has no fundamentals grant on the {access.channel} channel",
                kind="not-entitled",
            )
    table = store.fundamentals(series_ids=series, start=first, end=last, as_of=aware("as_of", as_of))
    out = []
    for series_id in series:
        rows = table.filter(pc.equal(table.column("series_id"), series_id))
        out.append(
            {
                **catalog[series_id],
                "t": iso_z(rows.column("interval_start")),
                "value": rows.column("value").to_pylist(),
            }
        )
    return FastJSON({"start": first, "end": last, "series": out})


@router.get("/summary", response_class=FastJSON)
def summary(request: Request, access: PricesAccess) -> Any:
    """Row counts and time spans of the markets the caller is entitled to."""
    held = dataclasses.asdict(store_of(request).summary())
    allowed = access.markets()
    held["markets"] = {m: v for m, v in held["markets"].items() if m in allowed}
    return held
