"""ISO-NE hourly LMPs from ISO Express: day-ahead and real-time final, one CSV report per operating day.

What this relies on (ISO-NE's report descriptions; gridstatus's ISO-NE client; real reports quoted in public
repositories):
- https://www.iso-ne.com/static-transform/csv/histRpts/da-lmp/WW_DALMP_ISO_<YYYYMMDD>.csv (day-ahead) and
  .../histRpts/rt-lmp/lmp_rt_final_<YYYYMMDD>.csv (real-time, final). The site may answer 403 without the
  session cookie and Referer of the report's page on iso-ne.com and throttles fast clients.
- Every record starts with its kind: "C" comments (report title, file name, "Report for", "Report
  generated"), two "H" records (column names, then column types), "D" data and a last "T" (terminate) record
  that counts the D records. Strings are quoted, numbers are not; the Location ID is a quoted string.
- Columns: "D","Date","Hour Ending","Location ID","Location Name","Location Type","Locational Marginal Price",
  "Energy Component","Congestion Component","Marginal Loss Component"; Date is MM/DD/YYYY.
- Eastern Prevailing Time, hour ending "01".."24": hour ending H covers [(H-1):00, H:00). The fall-back day's
  repeated hour (01:00-02:00 EST, after 01:00-02:00 EDT) is "02X"; the spring-forward day has no "03".
- LMP = Energy + Congestion + Marginal Loss: the canonical sign convention, no flip.
- Location Type: HUB, LOAD ZONE, NETWORK NODE, EXT. NODE (external interface nodes, named ".I.<name>") and
  DRR AGGREGATION ZONE. The location id is the Location Name (".H.INTERNAL_HUB", ".Z.MAINE").
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from functools import partial
from urllib.parse import urlsplit

import polars as pl
import pyarrow as pa

from marketintel.connectors.base import Connector
from marketintel.connectors.checks import first_repeat, first_row
from marketintel.connectors.clock import WallClockError, incomplete_day, wall_clock_to_utc
from marketintel.connectors.models import Fail, ParseError, RawPayload, mapped_prices
from marketintel.connectors.textfile import decode

EPT = "America/New_York"
COLUMNS = [
    "Date",
    "Hour Ending",
    "Location ID",
    "Location Name",
    "Location Type",
    "Locational Marginal Price",
    "Energy Component",
    "Congestion Component",
    "Marginal Loss Component",
]
PRICES = {
    "lmp": "Locational Marginal Price",
    "energy": "Energy Component",
    "congestion": "Congestion Component",
    "loss": "Marginal Loss Component",
}
TYPES = {
    "HUB": "hub",
    "LOAD ZONE": "zone",
    "NETWORK NODE": "node",
    "EXT. NODE": "interface",
    "DRR AGGREGATION ZONE": "zone",
}
REPORTS = {  # file name -> run, and the report title that says the same
    re.compile(r"WW_DALMP_ISO_\d{8}(_\d+)?\.csv", re.IGNORECASE): "DA",
    re.compile(r"lmp_rt_final_\d{8}\.csv", re.IGNORECASE): "RT",
}
TITLES = {"Day-Ahead": "DA", "Real-Time": "RT"}
PAGES = {  # report folder -> the ISO Express page that links its files
    "da-lmp": "/isoexpress/web/reports/pricing/-/tree/lmps-da-hourly",
    "rt-lmp": "/isoexpress/web/reports/pricing/-/tree/lmps-rt-hourly-final",
}
RECORDS = re.compile(r"C*HHD*T")


class IsoneLmp(Connector):
    name = "isone-lmp"
    market = "ISONE"
    runs = ("DA", "RT")
    description = (
        "ISO-NE hourly LMPs with energy, congestion and loss components: day-ahead and real-time final"
    )
    base_url = "https://www.iso-ne.com"
    requests_per_second = 0.2  # ISO Express answers 403 to fast clients

    def __init__(self, base_url: str | None = None) -> None:
        super().__init__(base_url)
        self.location_types: dict[str, str] = {}  # Location Name -> Location Type seen in a parsed report

    def urls(self, day: dt.date) -> list[str]:
        root = f"{self.url_root}/static-transform/csv/histRpts"
        return [
            f"{root}/da-lmp/WW_DALMP_ISO_{day:%Y%m%d}.csv",
            f"{root}/rt-lmp/lmp_rt_final_{day:%Y%m%d}.csv",
        ]

    def headers(self, url: str) -> dict[str, str]:
        """Each report is requested with its ISO Express page as the Referer (without it the site may answer 403)."""
        folder = urlsplit(url).path.rsplit("/", 2)[-2]
        return {"Referer": f"{self.base_url}{PAGES[folder]}"} if folder in PAGES else {}

    def location_type(self, location: str) -> str:
        seen = self.location_types.get(location)
        if seen is not None:
            return TYPES.get(seen, "node")
        # ISO-NE's naming: .H. hubs, .Z. load zones, .I. external interfaces, anything else a network node
        for prefix, kind in ((".H.", "hub"), (".Z.", "zone"), (".I.", "interface")):
            if location.startswith(prefix):
                return kind
        return "node"

    def map_to_schema(self, payload: RawPayload) -> pa.Table:
        fail: Fail = partial(ParseError, self.name, payload.name)
        lines = decode(payload.content, fail).replace("\r\n", "\n").split("\n")
        if lines[-1] == "":
            lines.pop()
        records = pl.Series("text", lines, dtype=pl.String).str.extract(r'^"?([CHDT])"?(?:,|$)', 1)
        unknown = first_row(records.is_null())
        if unknown is not None:
            raise fail("a record must start with C, H, D or T", line=unknown + 1)
        kinds = records.str.join("")[0]
        if RECORDS.fullmatch(kinds) is None:
            if not kinds.endswith("T"):
                raise fail("truncated: the report does not end with its T record", line=max(len(lines), 1))
            prefix = re.match(r"C*(H(H(D*)?)?)?", kinds)
            at = prefix.end() if prefix else 0
            raise fail(f"unexpected {kinds[at]} record (expected C*, H, H, D*, T)", line=at + 1)
        first_data = kinds.index("HH") + 2
        header = next(csv.reader([lines[first_data - 2]]))
        if header[1:] != COLUMNS:
            missing = [column for column in COLUMNS if column not in header[1:]]
            raise fail(
                f"columns {header[1:]} are not the hourly LMP report's {COLUMNS}",
                line=first_data - 1,
                field=missing[0] if missing else None,
            )
        data = lines[first_data:-1]
        trailer = next(csv.reader([lines[-1]]))
        if len(trailer) < 2 or not trailer[1].strip().isdigit():
            raise fail(f"the T record does not count the D records: {lines[-1]!r}", line=len(lines))
        if int(trailer[1]) != len(data):
            raise fail(
                f"truncated: the T record counts {int(trailer[1])} D records, the report has {len(data)}",
                line=len(lines),
            )
        if not data:
            raise fail("no D records", line=len(lines))
        run = self._run(payload.name, lines, fail)
        return self._rows(data, first_data + 1, run, fail)

    def _run(self, name: str, lines: list[str], fail: Fail) -> str:
        for pattern, run in REPORTS.items():
            if pattern.fullmatch(name):
                return run
        title = next(csv.reader([lines[0]]))[1] if lines[0].startswith('"C"') else ""
        for word, run in TITLES.items():
            if title.startswith(word):
                return run
        raise fail(f"neither a day-ahead nor a real-time hourly LMP report (title {title!r})", line=1)

    def _rows(self, data: list[str], first_line: int, run: str, fail: Fail) -> pa.Table:
        try:
            raw = pl.read_csv(
                "\n".join(data).encode(),
                has_header=False,
                new_columns=["record", *COLUMNS],
                infer_schema=False,
            )
        except pl.exceptions.ComputeError:
            raw = None  # a row with too many fields: found below
        short = raw.select(pl.any_horizontal(pl.all().is_null())).to_series() if raw is not None else None
        if raw is None or raw.width != len(COLUMNS) + 1 or short is None or short.any():
            # too many fields make the reader fail, too few leave nulls: find the line the slow way
            for row, fields in enumerate(csv.reader(data)):
                if len(fields) != len(COLUMNS) + 1:
                    raise fail(
                        f"expected {len(COLUMNS) + 1} fields, found {len(fields)}", line=first_line + row
                    )
            if raw is None:
                raise fail("unreadable D records", line=first_line)

        def check(bad: pl.Series, field: str, message: str) -> None:
            row = first_row(bad.fill_null(True))
            if row is not None:
                raise fail(f"{message}: {raw[field][row]!r}", line=first_line + row, field=field)

        label = raw["Hour Ending"].str.extract_groups(r"^(\d{2})(X?)$")
        values = raw.select(
            pl.col("Date").str.strptime(pl.Date, "%m/%d/%Y", strict=False).alias("day"),
            label.struct.field("1").cast(pl.Int32, strict=False).alias("hour"),
            (label.struct.field("2") == "X").alias("repeat"),
            *[pl.col(column).cast(pl.Float64, strict=False).alias(key) for key, column in PRICES.items()],
        )
        check(values["day"].is_null(), "Date", "not an MM/DD/YYYY date")
        check(~values["hour"].is_between(1, 24), "Hour Ending", "not an hour ending 01..24 or 02X")
        check(values["repeat"] & (values["hour"] != 2), "Hour Ending", "only hour ending 02 repeats")
        check(
            raw["Location Name"].is_null() | (raw["Location Name"] == ""), "Location Name", "no location name"
        )
        check(~raw["Location Type"].is_in(list(TYPES)), "Location Type", f"not one of {', '.join(TYPES)}")
        for key, column in PRICES.items():
            check(~values[key].is_finite(), column, "not a number")

        # hour ending H starts at (H-1):00 local time; "02X" is the second, standard-time 01:00-02:00
        local = values.select(pl.col("day").cast(pl.Datetime("us")) + pl.duration(hours=pl.col("hour") - 1))
        try:
            start = wall_clock_to_utc(local.to_series(), values["repeat"], EPT)
        except WallClockError as exc:
            raise fail(str(exc), line=first_line + exc.row, field="Hour Ending") from None

        keys = pl.DataFrame(
            [raw["Location Name"].alias("location"), start.alias("interval_start"), values["day"]]
        )
        row = first_repeat(keys, "location", "interval_start")
        if row is not None:
            raise fail(
                f"{keys['location'][row]} at {keys['interval_start'][row]} appears twice",
                line=first_line + row,
                field="Hour Ending",
            )
        # every location has every hour of the operating day: 23 on spring forward, 25 on fall back
        short = incomplete_day(keys.with_row_index("row"), "location", "day", "row", EPT)
        if short is not None:
            row, message = short
            raise fail(message, line=first_line + row["row"])
        kinds = raw.select("Location Name", "Location Type").unique()
        self.location_types.update(
            zip(kinds["Location Name"].to_list(), kinds["Location Type"].to_list(), strict=True)
        )
        return mapped_prices(
            {
                "market": self.market,
                "location": keys["location"],
                "run": run,
                "interval_start": start,
                "interval_minutes": 60,
                **{key: values[key] for key in PRICES},
            }
        )
