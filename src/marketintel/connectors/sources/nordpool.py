"""Nord Pool day-ahead prices from the Data Portal API (`/api/DayAheadPrices`), one JSON per delivery day.

The answer holds `deliveryDateCET`, `version`, `updatedAt`, `deliveryAreas`, `market`, and
`multiAreaEntries`: one entry per market time unit with `deliveryStart`/`deliveryEnd` as UTC ISO strings
("2024-10-26T22:00:00Z") and `entryPerArea` {area: price}; then `blockPriceAggregates`, `currency`,
`exchangeRate`, `areaStates`, `areaAverages`. The delivery day is the CET day for every area; entries are
60 minutes long until the 15-minute MTU go-live (delivery 2025-10-01), 15 minutes after. A day that is
not (yet) published comes back as HTTP 204 with an empty body.

Times are UTC already: the 25-hour fall-back day simply has 25 hourly entries.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import ClassVar
from urllib.parse import parse_qsl, urlsplit

import polars as pl
import pyarrow as pa

from marketintel.connectors.base import Connector
from marketintel.connectors.checks import first_row
from marketintel.connectors.clock import UTC_US
from marketintel.connectors.models import ParseError, RawPayload, mapped_prices

# Nord Pool's own area names (Germany is "GER", Romania "TEL"), as the Data Portal spells them.
AREAS: tuple[str, ...] = (
    "AT", "BE", "DK1", "DK2", "EE", "FI", "FR", "GER", "LT", "LV", "NL", "NO1", "NO2", "NO3", "NO4",
    "NO5", "PL", "SE1", "SE2", "SE3", "SE4", "BG", "TEL",
)  # fmt: skip
CURRENCY = "EUR"
ENTRY_MINUTES = frozenset({15, 30, 60})
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class NordPoolDayAhead(Connector):
    name: ClassVar[str] = "nordpool-dayahead"
    market: ClassVar[str] = "NORDPOOL"
    runs: ClassVar[tuple[str, ...]] = ("DA",)
    description: ClassVar[str] = "Nord Pool Data Portal day-ahead prices per delivery area (EUR)"
    base_url: ClassVar[str] = "https://dataportal-api.nordpoolgroup.com"

    def __init__(self, base_url: str | None = None, areas: tuple[str, ...] | None = None) -> None:
        super().__init__(base_url)
        self.areas = areas if areas is not None else AREAS

    def urls(self, day: dt.date) -> list[str]:
        # the areas go comma-separated and unescaped, as the portal's own web page sends them
        areas = ",".join(self.areas)
        return [
            f"{self.url_root}/api/DayAheadPrices?date={day.isoformat()}&market=DayAhead"
            f"&deliveryArea={areas}&currency={CURRENCY}"
        ]

    def payload_name(self, url: str) -> str:
        query = dict(parse_qsl(urlsplit(url).query))
        return f"nordpool_dayahead_{query.get('date', 'unknown')}_{query.get('currency', CURRENCY)}.json"

    def location_type(self, location: str) -> str:
        return "zone"

    def _syntax_error(self, payload: RawPayload) -> ParseError:
        try:
            json.loads(payload.content)
        except UnicodeDecodeError as exc:
            return ParseError(self.name, payload.name, f"not UTF-8 JSON: {exc.reason}")
        except json.JSONDecodeError as exc:
            return ParseError(
                self.name, payload.name, f"not valid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno
            )
        return ParseError(self.name, payload.name, "JSON of a shape the API does not publish")

    def map_to_schema(self, payload: RawPayload) -> pa.Table:
        def fail(message: str, field: str | None = None, line: int | None = None) -> ParseError:
            return ParseError(self.name, payload.name, message, line=line, field=field)

        if not payload.content.strip():
            raise fail("empty response: the day is not published (the API answers 204 No Content)")
        # polars' JSON reader keeps a number that shares a column with text as text, so a bad price is
        # caught below; Python's json only locates a syntax error for the message
        try:
            document = pl.read_json(io.BytesIO(payload.content), infer_schema_length=None)
        except pl.exceptions.PolarsError:
            raise self._syntax_error(payload) from None
        if document.height != 1 or not document.width:
            raise fail("expected one JSON object at the top level")
        for key, expected in (("market", "DayAhead"), ("currency", CURRENCY)):
            found = document[key][0] if key in document.columns else None
            if found != expected:
                raise fail(f"{key} is {found!r}, expected {expected!r}", field=key)
        entries_type = document.schema.get("multiAreaEntries")
        if not isinstance(entries_type, pl.List) or not document["multiAreaEntries"].list.len()[0]:
            raise fail("no multiAreaEntries: the day has no prices", field="multiAreaEntries")
        if not isinstance(entries_type.inner, pl.Struct):
            raise fail("entries are not objects", field="multiAreaEntries")
        frame = document.select(pl.col("multiAreaEntries").explode()).unnest("multiAreaEntries")
        missing = {"deliveryStart", "deliveryEnd", "entryPerArea"} - set(frame.columns)
        if missing or not isinstance(frame.schema["entryPerArea"], pl.Struct):
            raise fail(
                f"entries lack {sorted(missing) or ['entryPerArea as an object']}", field="multiAreaEntries"
            )

        times = frame.select(
            start=pl.col("deliveryStart")
            .cast(pl.String)
            .str.to_datetime(TIME_FORMAT, time_zone="UTC", strict=False),
            end=pl.col("deliveryEnd")
            .cast(pl.String)
            .str.to_datetime(TIME_FORMAT, time_zone="UTC", strict=False),
        )
        for column, source in (("start", "deliveryStart"), ("end", "deliveryEnd")):
            row = first_row(times[column].is_null())
            if row is not None:
                raise fail(
                    f"{frame[source][row]!r} is not a UTC time", field=f"multiAreaEntries[{row}].{source}"
                )
        minutes = (times["end"] - times["start"]).dt.total_minutes()
        row = first_row(~minutes.is_in(list(ENTRY_MINUTES)))
        if row is not None:
            raise fail(f"an entry of {minutes[row]} minutes", field=f"multiAreaEntries[{row}].deliveryEnd")
        if times["start"].is_duplicated().any():
            row = int(times["start"].is_duplicated().arg_true()[-1])
            raise fail("a delivery period is listed twice", field=f"multiAreaEntries[{row}].deliveryStart")

        areas = frame["entryPerArea"].struct.unnest()
        if not areas.width:
            raise fail("entryPerArea names no area", field="multiAreaEntries[0].entryPerArea")
        # one price column per area; a string price makes polars read the whole column as text (and a
        # true/false or an object is no price at all), so report the first value that is not a number
        prices = pl.DataFrame([_as_prices(areas[area]) for area in areas.columns])
        for area in prices.columns:
            row = first_row(prices[area].is_null())
            if row is not None:
                value = areas[area][row]
                value = value.to_list() if isinstance(value, pl.Series) else value
                problem = "is missing" if value is None else f"{value!r} is not a number"
                raise fail(
                    f"price for {area} {problem}", field=f"multiAreaEntries[{row}].entryPerArea.{area}"
                )

        long = pl.concat([times, minutes.alias("minutes").to_frame(), prices], how="horizontal").unpivot(
            index=["start", "end", "minutes"], variable_name="location", value_name="lmp"
        )
        return mapped_prices(
            {
                "market": self.market,
                "location": long["location"],
                "run": "DA",
                "interval_start": long["start"].to_arrow().cast(UTC_US),
                "interval_minutes": long["minutes"],
                "lmp": long["lmp"],
                # area prices only: the day-ahead auction publishes no components
                "energy": None,
                "congestion": None,
                "loss": None,
            }
        )


def _as_prices(column: pl.Series) -> pl.Series:
    """Numbers as floats; text read as numbers where it is one; anything else null (= not a price)."""
    if column.dtype.is_numeric():
        return column.cast(pl.Float64)
    if column.dtype == pl.String:
        return column.cast(pl.Float64, strict=False)
    return pl.Series(column.name, [None] * len(column), pl.Float64)
