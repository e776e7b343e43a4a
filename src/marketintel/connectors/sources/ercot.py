"""ERCOT settlement point prices from the MIS: NP6-905-CD real-time (15-minute) and NP4-190-CD day-ahead.

What this relies on (gridstatus's ERCOT client and its DST fixes; ERCOT market notices; real MIS files quoted
in public repositories):
- The MIS publishes a report as documents. A report's listing is JSON at
  `/misapp/servlets/IceDocListJsonWS?reportTypeId=<id>` — `ListDocsByRptTypeRes.DocumentList[].Document` with
  DocID, FriendlyName, ConstructedName and PublishDate (ISO 8601 with offset); every posting is listed twice,
  as CSV and as XML, FriendlyName ending `_csv` / `_xml`. A document is downloaded from
  `/misdownload/servlets/mirDownload?doclookupId=<DocID>`. The listing only reaches back a few days; older
  postings are in ERCOT's public API archive, which needs a registered subscription key and a token.
- NP6-905-CD (report type 12301) posts one document per 15-minute interval, FriendlyName
  `SPPHLZNP6905_<YYYYMMDD>_<HHMM>_csv`, named by the interval's local end (day D's last interval ends at
  D+1 00:00); `_retry_` after the report code marks a re-post, `xhr` the second pass of the fall-back hour.
  NP4-190-CD (12331) posts one document per operating day, around 12:30 CPT the day before.
- A document is a ZIP holding one CSV (`cdr.<8-digit report type id>.0000000000000000.<YYYYMMDD>.<HHMMSS>.
  <report>.csv`): unquoted, MM/DD/YYYY dates. NP6-905-CD:
  DeliveryDate,DeliveryHour,DeliveryInterval,SettlementPointName,SettlementPointType,SettlementPointPrice,DSTFlag
  with bare integer hour (1..24) and interval (1..4); NP4-190-CD:
  DeliveryDate,HourEnding,SettlementPoint,SettlementPointPrice,DSTFlag with HourEnding "01:00".."24:00" and a
  blank before a non-negative price (" 26.26").
- Central Prevailing Time. Hour ending H covers [(H-1):00, H:00) and NP6-905 interval k of hour H starts at
  (H-1):00 + 15(k-1) min. Spring forward has no hour ending 03 (HE 02 is 01:00-02:00 CST, HE 04 starts at
  03:00 CDT); fall back has hour ending 02 twice, DSTFlag N the first (daylight) pass and Y the repeat
  (standard time) — gridstatus reads it so since its Nov 2023 fix, and ERCOT's own UTC stamps agree.
- Settlement point prices only: no energy/congestion/loss decomposition in these reports (components null).
- NP6-905-CD lists a load zone twice under one name, as LZ (the load zone price) and LZEW (energy-weighted),
  and a DC tie as LZ_DC and LZ_DCEW. The energy-weighted series is stored as "<name>_EW" (gridstatus's
  convention) so that every series has its own location id. Types HU (hub), SH (HB_BUSAVG) and AH
  (HB_HUBAVG) are hubs; RN, LCCRN, PCCRN, PUN resource nodes.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import polars as pl
import pyarrow as pa

from marketintel.connectors.base import Connector, Document
from marketintel.connectors.checks import first_repeat, first_row
from marketintel.connectors.clock import WallClockError, incomplete_day, wall_clock_to_utc
from marketintel.connectors.fetch import Fetcher, NotPublished
from marketintel.connectors.models import Fail, ParseError, RawPayload, mapped_prices
from marketintel.connectors.textfile import decode
from marketintel.connectors.zipfiles import ZipPayload

CPT = "America/Chicago"
RT_REPORT = 12301  # NP6-905-CD
DA_REPORT = 12331  # NP4-190-CD
LISTING_TTL_SECONDS = 300.0  # a listing is re-read after this long: new documents are posted every 15 minutes
RT_COLUMNS = [
    "DeliveryDate",
    "DeliveryHour",
    "DeliveryInterval",
    "SettlementPointName",
    "SettlementPointType",
    "SettlementPointPrice",
    "DSTFlag",
]
DA_COLUMNS = ["DeliveryDate", "HourEnding", "SettlementPoint", "SettlementPointPrice", "DSTFlag"]
ENERGY_WEIGHTED = ("LZEW", "LZ_DCEW")
TYPES = {
    "HU": "hub",
    "SH": "hub",
    "AH": "hub",
    "LZ": "zone",
    "LZEW": "zone",
    "LZ_DC": "interface",
    "LZ_DCEW": "interface",
}  # any other type (RN, LCCRN, PCCRN, PUN, ...) is a resource node
RT_NAME = re.compile(r"SPPHLZNP6905_(?P<retry>retry_)?(?P<day>\d{8})_(?P<time>\d{4}).*_csv")
DA_NAME = re.compile(r"DAMSPNP4190.*_csv")


@dataclass(frozen=True)
class MisDocument:
    doc_id: str
    friendly_name: str
    constructed_name: str
    published: dt.datetime


class ErcotSpp(Connector):
    name = "ercot-spp"
    market = "ERCOT"
    runs = ("DA", "RT15")
    description = (
        "ERCOT settlement point prices at resource nodes, hubs and load zones: real-time 15-minute "
        "(NP6-905-CD) and day-ahead hourly (NP4-190-CD), from the MIS"
    )
    base_url = "https://www.ercot.com"
    requests_per_second = 1.0

    def __init__(self, base_url: str | None = None) -> None:
        super().__init__(base_url)
        # settlement point -> its NP6-905 SettlementPointType, from the files this connector has parsed
        self.point_types: dict[str, str] = {}
        self._listings: dict[str, tuple[float, list[MisDocument]]] = {}

    # --- where the files are ------------------------------------------------------------------------

    def urls(self, day: dt.date) -> list[str]:
        """The MIS listings that name `day`'s documents (one day-ahead, up to 100 real-time ones). Document URLs
        carry a DocID only a listing knows, so `documents` reads these and then names the documents."""
        return [self.listing_url(DA_REPORT), self.listing_url(RT_REPORT)]

    def listing_url(self, report_type_id: int) -> str:
        return f"{self.url_root}/misapp/servlets/IceDocListJsonWS?reportTypeId={report_type_id}"

    def document_url(self, doc_id: str) -> str:
        return f"{self.url_root}/misdownload/servlets/mirDownload?doclookupId={doc_id}"

    def payload_name(self, url: str) -> str:
        query = parse_qs(urlsplit(url).query)
        if "reportTypeId" in query:
            return f"IceDocListJsonWS_{query['reportTypeId'][0]}.json"
        if "doclookupId" in query:
            return f"mirDownload_{query['doclookupId'][0]}.zip"
        return super().payload_name(url)

    def documents(self, day: dt.date, fetcher: Fetcher) -> list[Document]:
        """The day's documents, looked up in the MIS listings (each read at most once per LISTING_TTL).
        NotPublished when a listing names no document for the day: not yet posted, or older than the
        listing reaches."""
        found = []
        for url in self.urls(day):
            report = int(parse_qs(urlsplit(url).query)["reportTypeId"][0])
            chosen = select_documents(self._listing(url, fetcher), report, day)
            if not chosen:
                raise NotPublished(url, f"no report {report} document for {day} in the MIS listing")
            # archived under the listing's name for it, e.g. cdr.00012301....SPPHLZNP6905_..._csv.zip
            found.extend(Document(self.document_url(d.doc_id), d.constructed_name) for d in chosen)
        return found

    def _listing(self, url: str, fetcher: Fetcher) -> list[MisDocument]:
        read_at, documents = self._listings.get(url, (0.0, []))
        if time.monotonic() - read_at > LISTING_TTL_SECONDS:
            documents = self.read_listing(self.fetch(url, fetcher))
            self._listings[url] = (time.monotonic(), documents)
        return documents

    def read_listing(self, payload: RawPayload) -> list[MisDocument]:
        fail: Fail = partial(ParseError, self.name, payload.name)
        try:
            listing = json.loads(payload.content)
            entries: Any = listing["ListDocsByRptTypeRes"].get("DocumentList") or []
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise fail(f"not an MIS document listing: {exc}") from None
        if isinstance(entries, dict):  # a listing of one document is an object, not a list
            entries = [entries]
        documents = []
        for entry in entries:
            try:
                doc = entry["Document"]
                published = dt.datetime.fromisoformat(doc["PublishDate"])
                if published.tzinfo is None:  # MIS writes an offset; without one the time is CPT
                    published = published.replace(tzinfo=ZoneInfo(CPT))
                documents.append(
                    MisDocument(str(doc["DocID"]), doc["FriendlyName"], doc["ConstructedName"], published)
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise fail(
                    f"listing entry without DocID/FriendlyName/ConstructedName/PublishDate: {exc}"
                ) from None
        return documents

    # --- what the files say -------------------------------------------------------------------------

    def location_type(self, location: str) -> str:
        seen = self.point_types.get(location)
        if seen is not None:
            return TYPES.get(seen, "node")
        # ERCOT's naming: HB_ hubs, LZ_ load zones (and their _EW series), DC_ the DC ties to other grids
        if location.startswith("HB_"):
            return "hub"
        if location.startswith("LZ_"):
            return "zone"
        return "interface" if location.startswith("DC_") else "node"

    def map_to_schema(self, payload: RawPayload) -> pa.Table:
        by_run: dict[str, list[pl.DataFrame]] = {}
        for member, data in self._members(payload):
            run, raw = self._read_csv(data, f"{payload.name}/{member}")
            by_run.setdefault(run, []).append(raw)
        # all the files of a run are checked and converted together: a day's bundle is 96 files
        table = pl.concat([self._rows(pl.concat(frames), run) for run, frames in by_run.items()])
        row = first_repeat(table, "location", "run", "interval_start")
        if row is not None:
            raise ParseError(
                self.name,
                table["file"][row],
                f"{table['location'][row]} {table['run'][row]} at {table['interval_start'][row]} appears twice",
                line=int(table["line"][row]),
            )
        kinds = table.filter(pl.col("kind") != "").select("location", "kind").unique()
        self.point_types.update(zip(kinds["location"].to_list(), kinds["kind"].to_list(), strict=True))
        return mapped_prices(
            {
                "market": self.market,
                "location": table["location"],
                "run": table["run"],
                "interval_start": table["interval_start"],
                "interval_minutes": table["interval_minutes"],
                "lmp": table["lmp"],
                # settlement point prices only: these reports publish no energy/congestion/loss split
                "energy": None,
                "congestion": None,
                "loss": None,
            }
        )

    def _members(self, payload: RawPayload) -> list[tuple[str, bytes]]:
        fail: Fail = partial(ParseError, self.name, payload.name)
        if not payload.content.startswith(b"PK"):
            if payload.content.lstrip().startswith(b"{"):
                raise fail("an MIS document listing, not a price document")
            raise fail("not a ZIP archive (MIS documents are zipped CSV files)")
        archive = ZipPayload(payload.content, fail, "corrupt ZIP archive")
        names = [name for name in archive.names if not name.endswith("/")]  # files, not directories
        if not names:
            raise fail("the ZIP archive holds no file")
        for member in names:
            if not member.lower().endswith(".csv"):
                raise fail(f"unexpected file {member!r} in the ZIP archive (expected CSV files)")
        return [(member, archive.read(member)) for member in names]

    def _read_csv(self, data: bytes, file: str) -> tuple[str, pl.DataFrame]:
        """The run and the raw text fields of one CSV, with the file and line of each row."""
        fail: Fail = partial(ParseError, self.name, file)
        # bom=False: ERCOT writes no BOM, and a file with one fails the header check below, as it always did
        text = decode(data, fail, bom=False).replace("\r\n", "\n")
        if not text.endswith("\n"):
            raise fail("truncated: the last line has no line break", line=text.count("\n") + 1)
        lines = pl.Series("text", text.split("\n")[:-1], dtype=pl.String)
        header = [cell.strip().strip('"') for cell in lines[0].split(",")]
        if header == RT_COLUMNS:
            run, columns = "RT15", RT_COLUMNS
        elif header == DA_COLUMNS:
            run, columns = "DA", DA_COLUMNS
        else:
            raise fail(
                f"header {','.join(header)!r} is neither NP6-905-CD ({','.join(RT_COLUMNS)}) nor NP4-190-CD "
                f"({','.join(DA_COLUMNS)})",
                line=1,
            )
        body = lines[1:]
        if body.len() == 0:
            raise fail("no price rows", line=1)
        # ERCOT's values never hold a comma or a quote: split on commas, then check the field count
        row = first_row(body.str.count_matches(",", literal=True) != len(columns) - 1)
        if row is not None:
            found = body[row].count(",") + 1 if body[row] else 0
            raise fail(f"expected {len(columns)} fields, found {found}", line=row + 2)
        raw = (
            body.str.split_exact(",", len(columns) - 1)
            .struct.rename_fields(columns)
            .struct.unnest()
            .with_columns(pl.all().str.strip_chars().str.strip_chars('"'))
            .with_columns(
                pl.lit(file).alias("file"), pl.int_range(2, body.len() + 2, dtype=pl.Int64).alias("line")
            )
        )
        return run, raw

    def _rows(self, raw: pl.DataFrame, run: str) -> pl.DataFrame:
        def fail(row: int, message: str, field: str) -> ParseError:
            return ParseError(self.name, raw["file"][row], message, line=int(raw["line"][row]), field=field)

        def check(bad: pl.Series, field: str, message: str) -> None:
            row = first_row(bad.fill_null(True))
            if row is not None:
                raise fail(row, f"{message}: {raw[field][row]!r}", field)

        rt = run == "RT15"
        name, hour_field = (
            ("SettlementPointName", "DeliveryHour") if rt else ("SettlementPoint", "HourEnding")
        )
        hour_text = pl.col(hour_field) if rt else pl.col(hour_field).str.extract(r"^(\d{2}):00$", 1)
        values = raw.select(
            pl.col("DeliveryDate").str.strptime(pl.Date, "%m/%d/%Y", strict=False).alias("day"),
            hour_text.cast(pl.Int32, strict=False).alias("hour"),
            (pl.col("DeliveryInterval").cast(pl.Int32, strict=False) if rt else pl.lit(1, pl.Int32)).alias(
                "k"
            ),
            (pl.col("SettlementPointType") if rt else pl.lit("")).alias("kind"),
            pl.col(name).alias("name"),
            pl.col("DSTFlag").alias("flag"),
            pl.col("SettlementPointPrice").cast(pl.Float64, strict=False).alias("price"),
        )
        check(values["day"].is_null(), "DeliveryDate", "not an MM/DD/YYYY date")
        check(~values["hour"].is_between(1, 24), hour_field, "not an hour ending 1..24")
        if rt:
            check(~values["k"].is_between(1, 4), "DeliveryInterval", "not an interval 1..4")
            check(values["kind"] == "", "SettlementPointType", "no settlement point type")
        check(values["name"] == "", name, "no settlement point name")
        check(~values["flag"].is_in(["Y", "N"]), "DSTFlag", "not Y or N")
        check(~values["price"].is_finite(), "SettlementPointPrice", "not a number")

        # hour ending H, interval k starts at (H-1):00 + 15(k-1) min local time; DSTFlag Y is the repeated pass
        local = values.select(
            pl.col("day").cast(pl.Datetime("us"))
            + pl.duration(hours=pl.col("hour") - 1, minutes=15 * (pl.col("k") - 1))
        ).to_series()
        try:
            start = wall_clock_to_utc(local, values["flag"] == "Y", CPT)
        except WallClockError as exc:
            raise fail(exc.row, str(exc), hour_field) from None

        out = values.select(
            # the energy-weighted series of a load zone or DC tie shares its name with the plain one
            pl.when(pl.col("kind").is_in(ENERGY_WEIGHTED))
            .then(pl.col("name") + "_EW")
            .otherwise(pl.col("name"))
            .alias("location"),
            pl.lit(run).alias("run"),
            start.alias("interval_start"),
            pl.lit(15 if rt else 60, pl.Int16).alias("interval_minutes"),
            pl.col("price").alias("lmp"),
            raw["file"],
            raw["line"],
            pl.col("kind"),
        )
        # a day-ahead file holds every hour of its operating day (23 or 25 on DST days) for every point
        by_day = out.with_columns(values["day"])
        short = None if rt else incomplete_day(by_day, "location", "day", "line", CPT, by=["file"])
        if short is not None:
            row, message = short
            raise ParseError(self.name, row["file"], message, line=row["line"])
        return out


def select_documents(documents: list[MisDocument], report: int, day: dt.date) -> list[MisDocument]:
    """The CSV documents of one operating day in a report's listing, in time order."""
    if report == DA_REPORT:
        # posted the day before the operating day; a later posting replaces an earlier one
        posted = [
            d
            for d in documents
            if DA_NAME.fullmatch(d.friendly_name)
            and d.published.astimezone(ZoneInfo(CPT)).date() == day - dt.timedelta(1)
        ]
        return [max(posted, key=lambda d: d.published)] if posted else []
    first = dt.datetime.combine(day, dt.time())
    chosen: dict[str, list[MisDocument]] = {}
    for document in documents:
        match = RT_NAME.fullmatch(document.friendly_name)
        if match is None:
            continue
        ends = dt.datetime.strptime(match["day"] + match["time"], "%Y%m%d%H%M")
        if not first < ends <= first + dt.timedelta(days=1):
            continue
        key = document.friendly_name.replace("_retry_", "_")
        chosen.setdefault(key, []).append(document)
    selected = []
    for versions in chosen.values():
        retries = [d for d in versions if "_retry_" in d.friendly_name]
        # a re-post ("retry") replaces the interval's earlier posting
        selected.extend([max(retries, key=lambda d: d.published)] if retries else versions)
    return sorted(selected, key=lambda d: d.published)
