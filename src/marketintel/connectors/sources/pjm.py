"""PJM Data Miner 2: day-ahead hourly (`da_hrl_lmps`) and real-time 5-minute (`rt_fivemin_hrl_lmps`) LMPs.

What this relies on (PJM's Data Miner 2 API guide; gridstatus's PJM client; real Data Miner CSV exports):
- `GET https://api.pjm.com/api/v1/<feed>?rowCount=..&startRow=..&datetime_beginning_ept=<from>to<to>`; rowCount
  at most 50,000, startRow 1-based. The answer is JSON by default — `{"links", "items", "searchSpecification",
  "totalRows"}`, or a bare list of items with `download=true` — and CSV with `format=csv`.
- Columns: datetime_beginning_utc, datetime_beginning_ept, pnode_id, pnode_name, voltage, equipment, type, zone,
  system_energy_price_<da|rt>, total_lmp_.., congestion_price_.., marginal_loss_price_.., row_is_current,
  version_nbr. CSV writes times as "11/3/2024 5:00:00 AM" and booleans as True/False (CRLF lines, no BOM);
  JSON writes "2024-11-03T05:00:00" and true/false.
- Times are interval starts. `datetime_beginning_utc` is unambiguous, so it is the interval start as is; on the
  fall-back day the EPT column repeats 1:00 AM with two different UTC values, which is why EPT is only checked.
- PJM publishes total = system energy + congestion + marginal loss: the canonical sign convention already.
- LMP rows are versioned: a correction adds a row with a higher version_nbr and clears row_is_current on the
  old one. Only current rows are kept (and the URL asks for only those).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar, NoReturn
from urllib.parse import parse_qs, quote, urlsplit

import polars as pl
import pyarrow as pa

from marketintel.connectors.base import Connector, Document
from marketintel.connectors.checks import first_row
from marketintel.connectors.fetch import Fetcher, NotPublished
from marketintel.connectors.models import MAPPED_PRICES, ParseError, RawPayload, mapped_prices
from marketintel.connectors.textfile import decode, read_table

EPT = "America/New_York"
API_KEY_ENV = "MARKETINTEL_PJM_API_KEY"
MAX_ROW_COUNT = 50_000  # the API's page size limit

CSV_TIME = "%m/%d/%Y %I:%M:%S %p"  # 11/3/2024 5:00:00 AM
JSON_TIME = "%Y-%m-%dT%H:%M:%S%.f"  # 2024-11-03T05:00:00, sometimes with milliseconds

LOCATION_TYPES = {"HUB": "hub", "ZONE": "zone", "INTERFACE": "interface"}
# For a location not seen in a parsed file: PJM's transmission zones and best-known interface pricing points.
KNOWN_ZONES = frozenset(
    [
        "AECO",
        "AEP",
        "APS",
        "ATSI",
        "BGE",
        "COMED",
        "DAY",
        "DEOK",
        "DOM",
        "DPL",
        "DUQ",
        "EKPC",
        "JCPL",
        "METED",
        "OVEC",
        "PECO",
        "PENELEC",
        "PEPCO",
        "PPL",
        "PSEG",
        "RECO",
        "PJM-RTO",
        "MID-ATL/APS",
    ]
)
KNOWN_INTERFACES = frozenset({"IMO", "MISO", "NYIS"})


@dataclass(frozen=True)
class Feed:
    name: str
    run: str
    minutes: int
    suffix: str

    def column(self, component: str) -> str:
        return f"{component}_{self.suffix}"


FEEDS: dict[str, Feed] = {
    feed.name: feed
    for feed in (Feed("da_hrl_lmps", "DA", 60, "da"), Feed("rt_fivemin_hrl_lmps", "RT5", 5, "rt"))
}
COMPONENTS = {  # canonical column <- PJM column stem
    "lmp": "total_lmp",
    "energy": "system_energy_price",
    "congestion": "congestion_price",
    "loss": "marginal_loss_price",
}


class PjmDataMiner(Connector):
    name = "pjm-dataminer"
    market = "PJM"
    runs = ("DA", "RT5")
    description = (
        "PJM Data Miner 2 LMPs with energy, congestion and loss: day-ahead hourly (da_hrl_lmps) and "
        "real-time 5-minute (rt_fivemin_hrl_lmps), every pnode"
    )
    base_url = "https://api.pjm.com/api/v1"
    # PJM allows 600 requests a minute per subscription key; stay well under it
    requests_per_second = 5.0

    row_count: ClassVar[int] = MAX_ROW_COUNT
    # "json" (the default answer; it carries totalRows, so a short page budget is caught) or "csv"
    response_format: ClassVar[str] = "json"
    # The most pages asked for per market day. An hour of every pnode is ~13.5k rows (a one-day rt_hrl_lmps
    # query reports totalRows 325,176), so a day is up to ~340k rows (DA, 25 h) and ~4M rows (RT5, 300
    # intervals). `documents()` asks the API how many rows the day has and fetches only those pages; `urls()`,
    # which cannot ask, lists the whole budget (pages past the end come back empty and map to no rows). A JSON
    # page whose totalRows exceeds the budget is a ParseError (raise the budget), not a silently partial day.
    pages: ClassVar[dict[str, int]] = {"da_hrl_lmps": 10, "rt_fivemin_hrl_lmps": 100}

    def __init__(self, base_url: str | None = None) -> None:
        super().__init__(base_url)
        # pnode_name -> location type, from the `type` column of the files parsed so far
        self._types: dict[str, str] = {}

    # --- URLs ---------------------------------------------------------------------------------------

    def urls(self, day: dt.date) -> list[str]:
        """Every budgeted page of both feeds for one EPT market day.

        The filter is on EPT wall-clock time, 00:00 to 23:59 of the day: on the fall-back day both 1:00 AM hours
        fall in it, on the spring-forward day the missing 2:00 AM hour simply has no rows. No sort/order or
        field list is sent: the API refuses both for archived data (DA older than 731 days, RT5 older than 186).
        """
        return [url for feed, count in self.pages.items() for url in self._page_urls(feed, day, count)]

    def documents(self, day: dt.date, fetcher: Fetcher) -> list[Document]:
        """The pages that hold the day: a one-row query per feed says how many rows it has (totalRows), so
        only those pages are asked for (at most the budget), not the whole budget of mostly empty ones.
        NotPublished when a feed has no rows for the day yet."""
        documents = []
        for feed, budget in self.pages.items():
            total = self._total_rows(feed, day, fetcher)
            if not total:
                raise NotPublished(f"{feed} {day.isoformat()}", "no rows for this day yet (totalRows 0)")
            pages = min(budget, -(-total // self.row_count))
            documents += [Document(url, self.payload_name(url)) for url in self._page_urls(feed, day, pages)]
        return documents

    def _total_rows(self, feed: str, day: dt.date, fetcher: Fetcher) -> int:
        """How many rows the API holds for a feed's day, from a JSON query of one row."""
        (url,) = self._page_urls(feed, day, 1, row_count=1, response_format="json")
        payload = self.fetch(Document(url, f"{feed}_{day:%Y%m%d}_count.json"), fetcher)
        try:
            total = json.loads(payload.content).get("totalRows")
        except (ValueError, AttributeError):
            total = None
        if not isinstance(total, int) or total < 0:
            raise ParseError(self.name, payload.name, "the row count query did not answer a totalRows number")
        return total

    def _page_urls(
        self,
        feed: str,
        day: dt.date,
        pages: int,
        *,
        row_count: int | None = None,
        response_format: str | None = None,
    ) -> list[str]:
        rows = row_count or self.row_count
        window = f"{day:%m/%d/%Y} 00:00to{day:%m/%d/%Y} 23:59"
        urls = []
        for page in range(pages):
            query = [
                ("rowCount", str(rows)),
                ("startRow", str(page * rows + 1)),
                ("datetime_beginning_ept", window),
                ("row_is_current", "TRUE"),
            ]
            if (response_format or self.response_format) == "csv":
                query.append(("format", "csv"))
            encoded = "&".join(f"{key}={quote(value, safe='')}" for key, value in query)
            urls.append(f"{self.url_root}/{feed}?{encoded}")
        return urls

    def payload_name(self, url: str) -> str:
        """`<feed>_<YYYYMMDD>_p<NN>.<json|csv>`: the feed, EPT market day and page of a query URL."""
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        feed = parts.path.rsplit("/", 1)[-1]
        start = dt.datetime.strptime(query["datetime_beginning_ept"][0][:10], "%m/%d/%Y").date()
        page = (int(query["startRow"][0]) - 1) // int(query["rowCount"][0]) + 1
        extension = "csv" if query.get("format") == ["csv"] else "json"
        return f"{feed}_{start:%Y%m%d}_p{page:02d}.{extension}"

    def headers(self, url: str) -> dict[str, str]:
        """The subscription key header, from MARKETINTEL_PJM_API_KEY."""
        key = os.environ.get(API_KEY_ENV)
        return {"Ocp-Apim-Subscription-Key": key} if key else {}

    def location_type(self, location: str) -> str:
        if location in self._types:
            return self._types[location]
        if location.endswith(" HUB"):
            return "hub"
        if location in KNOWN_ZONES:
            return "zone"
        return "interface" if location in KNOWN_INTERFACES else "node"

    # --- parsing ------------------------------------------------------------------------------------

    def map_to_schema(self, payload: RawPayload) -> pa.Table:
        page = _Page.read(self.name, payload)
        if page.is_json and page.frame.height == 0:
            return MAPPED_PRICES.empty_table()  # a page past the day's last row
        feed = self._feed(page, payload.name)
        frame = page.frame
        columns = {
            "utc": "datetime_beginning_utc",
            "ept": "datetime_beginning_ept",
            "location": "pnode_name",
            "type": "type",
            "current": "row_is_current",
        } | {key: feed.column(stem) for key, stem in COMPONENTS.items()}
        missing = [c for c in columns.values() if c not in frame.columns]
        if missing:
            page.fail(f"not a {feed.name} file: missing column(s) {missing}; has {frame.columns}")
        if page.json_body is not None:
            self._check_page_budget(page, feed)

        current = page.booleans(columns["current"])
        utc = page.times(columns["utc"])
        ept = page.times(columns["ept"])
        location = page.texts(columns["location"])
        values = {key: page.numbers(columns[key], required=key == "lmp") for key in COMPONENTS}

        # the EPT column must be the UTC instant on PJM's clock; a mismatch means a corrupt row
        on_ept = utc.dt.replace_time_zone("UTC").dt.convert_time_zone(EPT).dt.replace_time_zone(None)
        row = first_row(on_ept != ept)
        if row is not None:
            page.fail(
                f"datetime_beginning_ept {page.raw(columns['ept'], row)!r} is not "
                f"datetime_beginning_utc {page.raw(columns['utc'], row)!r} in EPT",
                row=row,
                field=columns["ept"],
            )

        kinds = pl.DataFrame(
            {"location": location, "type": frame.get_column(columns["type"]).cast(pl.String)}
        )
        for name, kind in kinds.unique().iter_rows():
            self._types[name] = LOCATION_TYPES.get((kind or "").upper(), "node")

        # superseded versions of a row (row_is_current False) are history, not the price
        keep = current
        return mapped_prices(
            {
                "market": self.market,
                "location": location.filter(keep),
                "run": feed.run,
                "interval_start": utc.filter(keep).dt.replace_time_zone("UTC"),
                "interval_minutes": feed.minutes,
                **{key: values[key].filter(keep) for key in COMPONENTS},
            }
        )

    def _feed(self, page: _Page, name: str) -> Feed:
        """Which feed: from the file name (Data Miner names downloads `<feed>.csv`), else the JSON self link,
        else the column suffix — which cannot tell the 5-minute feed from the hourly real-time one."""
        for feed in FEEDS.values():
            if name.startswith(feed.name):
                return feed
        for link in page.links:
            path = urlsplit(str(link.get("href", ""))).path
            for feed in FEEDS.values():
                if path.endswith(f"/{feed.name}"):
                    return feed
        if FEEDS["da_hrl_lmps"].column("total_lmp") in page.frame.columns:
            return FEEDS["da_hrl_lmps"]
        page.fail(f"cannot tell which feed this is; name the file after it ({', '.join(FEEDS)})")

    def _check_page_budget(self, page: _Page, feed: Feed) -> None:
        """Any page of a query with more rows than `urls()` asks for: the rows past the budget would be lost,
        so none of the day's pages are taken as complete."""
        total = (page.json_body or {}).get("totalRows")
        if isinstance(total, int) and total > self.pages[feed.name] * self.row_count:
            page.fail(
                f"{feed.name} has {total} rows for this query but urls() only requests the first "
                f"{self.pages[feed.name]} pages of {self.row_count}; raise PjmDataMiner.pages[{feed.name!r}]"
            )


class _Page:
    """One payload as a frame of source columns, plus where each row came from (for error messages)."""

    def __init__(
        self,
        source: str,
        file: str,
        frame: pl.DataFrame,
        *,
        json_body: dict[str, Any] | None = None,
        is_json: bool = False,
        lines: pl.Series | None = None,
    ) -> None:
        self.source, self.file, self.frame = source, file, frame
        self.json_body, self.is_json = json_body, is_json
        self.lines = lines  # the file line of each row of a CSV
        self.links: list[dict[str, Any]] = [
            link for link in (json_body or {}).get("links") or [] if isinstance(link, dict)
        ]

    @classmethod
    def read(cls, source: str, payload: RawPayload) -> _Page:
        content = payload.content.removeprefix(b"\xef\xbb\xbf")
        decode(payload.content, partial(ParseError, source, payload.name))  # checked only: readers take bytes
        stripped = content.lstrip()
        if not stripped:
            raise ParseError(source, payload.name, "empty file")
        if stripped[:1] in (b"[", b"{"):
            return cls._from_json(source, payload.name, stripped)
        return cls._from_csv(source, payload.name, content)

    @classmethod
    def _from_json(cls, source: str, file: str, content: bytes) -> _Page:
        try:
            body = json.loads(content)
        except json.JSONDecodeError as exc:
            raise ParseError(
                source, file, f"truncated or malformed JSON: {exc.msg}", line=exc.lineno
            ) from None
        if isinstance(body, dict) and body.get("errors"):
            raise ParseError(source, file, f"the API answered with errors: {body['errors']}")
        items = body.get("items") if isinstance(body, dict) else body  # download=true answers a bare list
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise ParseError(source, file, "JSON without a list of items")
        frame = pl.DataFrame(items, infer_schema_length=None) if items else pl.DataFrame()
        return cls(source, file, frame, json_body=body if isinstance(body, dict) else None, is_json=True)

    @classmethod
    def _from_csv(cls, source: str, file: str, content: bytes) -> _Page:
        frame, lines = read_table(content, partial(ParseError, source, file))
        return cls(source, file, frame, lines=lines)

    # --- typed columns, with the first bad value reported by line (CSV) or item (JSON) ------------------

    def fail(self, message: str, *, row: int | None = None, field: str | None = None) -> NoReturn:
        line = None
        if row is not None:
            if self.is_json:
                message = f"items[{row}]: {message}"
            elif self.lines is not None:
                line = int(self.lines[row])
        raise ParseError(self.source, self.file, message, line=line, field=field)

    def raw(self, column: str, row: int) -> Any:
        return self.frame.get_column(column)[row]

    def _missing(self, column: str, series: pl.Series) -> None:
        row = first_row(series.is_null())
        if row is not None:
            self.fail("missing value", row=row, field=column)

    def texts(self, column: str) -> pl.Series:
        series = self.frame.get_column(column).cast(pl.String)
        self._missing(column, series)
        return series

    def numbers(self, column: str, *, required: bool) -> pl.Series:
        source = self.frame.get_column(column)
        try:
            values = source.cast(pl.Float64)
        except pl.exceptions.InvalidOperationError:  # the slow path only finds the offending value
            text = source.cast(pl.String).str.strip_chars()
            values = text.cast(pl.Float64, strict=False)
            row = first_row(values.is_null() & text.is_not_null() & (text != ""))
            if row is not None:
                self.fail(f"not a number: {source[row]!r}", row=row, field=column)
        if required:
            self._missing(column, values)
        return values

    def times(self, column: str) -> pl.Series:
        text = self.texts(column)
        parsed = text.str.strptime(pl.Datetime("us"), CSV_TIME, strict=False)
        if parsed.has_nulls():  # JSON's ISO times (or a bad value)
            parsed = parsed.fill_null(text.str.strptime(pl.Datetime("us"), JSON_TIME, strict=False))
        row = first_row(parsed.is_null())
        if row is not None:
            self.fail(f"not a time: {text[row]!r}", row=row, field=column)
        return parsed

    def booleans(self, column: str) -> pl.Series:
        source = self.frame.get_column(column)
        self._missing(column, source)
        if source.dtype == pl.Boolean:
            return source
        text = source.cast(pl.String).str.to_lowercase()
        values = text.replace_strict({"true": True, "false": False}, default=None, return_dtype=pl.Boolean)
        row = first_row(values.is_null())
        if row is not None:
            self.fail(f"not True/False: {source[row]!r}", row=row, field=column)
        return values
