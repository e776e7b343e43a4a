"""SPP Integrated Marketplace LMPs by settlement location: day-ahead (hourly) and RTBM (5-minute).

The marketplace file browser serves files as <root>/<folder>?path=/YYYY/MM/...:
- DA: folder da-lmp-by-settlement-location, /YYYY/MM/By_Day/DA-LMP-SL-YYYYMMDD0100.csv (named after its first
  interval end, HE1), header `Interval,GMTIntervalEnd,Settlement Location,Pnode,LMP,MLC,MCC,MEC`.
- RTBM: folder rtbm-lmp-by-location, /YYYY/MM/By_Day/RTBM-LMP-DAILY-SL-YYYYMMDD.csv, the daily roll-up of the
  per-interval files /YYYY/MM/By_Interval/DD/RTBM-LMP-SL-YYYYMMDDHHMM.csv (288 a day, 300 on fall-back, with a
  "d" suffix on the repeated hour's names). We fetch the roll-up: one request a day instead of ~288, at the
  price of SPP's ~5-day publication lag. Its header is
  `Interval, GMT Interval, Settlement Location Name, PNODE Name, LMP, MLC, MCC, MEC`.
Files from the April 2026 western expansion on add a BAA column (SPP or SWPW).

`Interval` is the interval END on SPP's local clock (Central prevailing time; the label repeats at fall-back)
and `GMTIntervalEnd` / `GMT Interval` the same end in GMT, so we use only the GMT column: start = end - length.
A file's market day runs from local midnight to local midnight: 23/25 hours, 276/300 intervals on DST days.
LMP = MEC + MCC + MLC with the usual signs.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import partial
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit

import polars as pl
import pyarrow as pa

from marketintel.connectors.base import Connector
from marketintel.connectors.checks import first_repeat, first_row
from marketintel.connectors.clock import fixed_offset_to_utc, local_day_starts
from marketintel.connectors.models import Fail, ParseError, RawPayload, mapped_prices
from marketintel.connectors.textfile import decode, floats, read_rows

SPP_CLOCK = "America/Chicago"
# the published header names (both spellings) -> our column names
COLUMNS = {
    "Interval": "interval",
    "GMTIntervalEnd": "gmt_end",
    "GMT Interval": "gmt_end",
    "Settlement Location": "location",
    "Settlement Location Name": "location",
    "Pnode": "pnode",
    "PNODE Name": "pnode",
    "LMP": "lmp",
    "MLC": "mlc",
    "MCC": "mcc",
    "MEC": "mec",
    "BAA": "baa",
}
REQUIRED = ("interval", "gmt_end", "location", "pnode", "lmp", "mlc", "mcc", "mec")
PRICES = ["lmp", "mlc", "mcc", "mec"]
TIME_FORMATS = ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M")  # files mix both
# SPP's interface settlement locations (external balancing areas), as its price contour map types them
INTERFACES = frozenset(
    {
        "AECI", "ALTW", "AMRN", "BLKW", "CLEC", "DPC", "EDDY", "EES", "ERCOTE", "ERCOTN", "GRE", "LAM345",
        "MCWEST", "MDU", "MEC", "MISO", "NSP", "OTP", "RCEAST", "SCSE", "SGE", "SPA", "SPC",
    }
)  # fmt: skip


class FileKind(NamedTuple):
    run: str
    minutes: int
    day: dt.date | None  # the market day a daily file covers; None for a single-interval file


def file_kind(name: str) -> FileKind | None:
    if m := re.fullmatch(r"DA-LMP-SL-(\d{8})0100\.csv", name):
        return FileKind("DA", 60, dt.datetime.strptime(m.group(1), "%Y%m%d").date())
    if m := re.fullmatch(r"RTBM-LMP-DAILY-SL-(\d{8})\.csv", name):
        return FileKind("RT5", 5, dt.datetime.strptime(m.group(1), "%Y%m%d").date())
    if re.fullmatch(r"RTBM-LMP-SL-\d{12}d?\.csv", name):
        return FileKind("RT5", 5, None)
    return None


class SppLmp(Connector):
    name = "spp-lmp"
    market = "SPP"
    runs = ("DA", "RT5")
    description = "SPP day-ahead hourly and RTBM 5-minute LMP, MEC, MCC and MLC by settlement location"
    base_url = "https://portal.spp.org/file-browser-api/download"

    def urls(self, day: dt.date) -> list[str]:
        folder = f"/{day:%Y}/{day:%m}/By_Day"
        return [
            f"{self.url_root}/da-lmp-by-settlement-location?path={folder}/DA-LMP-SL-{day:%Y%m%d}0100.csv",
            f"{self.url_root}/rtbm-lmp-by-location?path={folder}/RTBM-LMP-DAILY-SL-{day:%Y%m%d}.csv",
        ]

    def payload_name(self, url: str) -> str:
        """The file name is in the `path` query parameter; the URL path only names the folder."""
        paths = parse_qs(urlsplit(url).query).get("path")
        return paths[0].rsplit("/", 1)[-1] if paths else super().payload_name(url)

    def location_type(self, location: str) -> str:
        if location.endswith("_HUB"):
            return "hub"
        return "interface" if location in INTERFACES else "node"

    def map_to_schema(self, payload: RawPayload) -> pa.Table:
        fail: Fail = partial(ParseError, self.name, payload.name)
        kind = file_kind(payload.name)
        if kind is None:
            raise fail(
                "not a DA-LMP-SL-YYYYMMDD0100.csv, RTBM-LMP-DAILY-SL-YYYYMMDD.csv or RTBM-LMP-SL file name"
            )
        text = decode(payload.content, fail)
        header, _, body = text.partition("\n")
        published = self._columns(header.rstrip("\r"), fail)
        frame = read_rows(body, published, 2, fail)  # named as the file names them, for error messages
        column = {COLUMNS[c]: c for c in published}  # our name -> the file's

        prices = floats(frame, [column[c] for c in PRICES], 2, fail)
        lmp, mlc, mcc, mec = (prices.get_column(column[c]) for c in PRICES)
        gmt_end = frame.get_column(column["gmt_end"])
        ends = pl.select(
            pl.coalesce(gmt_end.str.strptime(pl.Datetime("us"), f, strict=False) for f in TIME_FORMATS)
        ).to_series()
        row = first_row(ends.is_null())
        if row is not None:
            raise fail(
                f"not an MM/DD/YYYY HH:MM:SS time: {gmt_end[row]!r}", line=2 + row, field=column["gmt_end"]
            )
        starts = ends - dt.timedelta(minutes=kind.minutes)  # GMT interval end -> start
        locations = frame.get_column(column["location"])
        self._check_times(starts, locations, kind, fail, column["gmt_end"])
        row = first_repeat(pl.DataFrame([locations, starts]), locations.name, starts.name)
        if row is not None:
            raise fail(f"a second row for {locations[row]!r} at this interval", line=2 + row)

        return mapped_prices(
            {
                "market": self.market,
                "location": locations,
                "run": kind.run,
                "interval_start": fixed_offset_to_utc(starts, 0),
                "interval_minutes": kind.minutes,
                "lmp": lmp,
                "energy": mec,
                "congestion": mcc,
                "loss": mlc,
            }
        )

    @staticmethod
    def _columns(header: str, fail: Fail) -> list[str]:
        """The file's column names (spaces around them stripped), checked against SPP's layouts."""
        published = [c.strip() for c in header.split(",")]
        for column in published:
            if column not in COLUMNS:
                raise fail("unexpected column", line=1, field=column)
        ours = [COLUMNS[c] for c in published]
        for column in REQUIRED:
            if ours.count(column) != 1:
                expected = next(k for k, v in COLUMNS.items() if v == column)
                problem = "missing column" if column not in ours else "column appears twice"
                raise fail(problem, line=1, field=expected)
        return published

    @staticmethod
    def _check_times(starts: pl.Series, locations: pl.Series, kind: FileKind, fail: Fail, field: str) -> None:
        """Interval starts on the interval grid and, for a daily file, inside the file's market day and up to
        its last interval for every location (rows come in interval order, so a cut file lacks the end)."""
        step = kind.minutes * 60_000_000
        row = first_row(starts.dt.epoch("us") % step != 0)
        if row is not None:
            raise fail(f"not on the {kind.minutes}-minute grid", line=2 + row, field=field)
        if kind.day is None:
            return
        grid = local_day_starts(kind.day, SPP_CLOCK, kind.minutes)
        first, last = (grid[i].as_py().replace(tzinfo=None) for i in (0, -1))
        row = first_row((starts < first) | (starts > last))
        if row is not None:
            raise fail(f"interval outside market day {kind.day} (Central time)", line=2 + row, field=field)
        if locations.filter(starts == last).n_unique() != locations.n_unique():
            raise fail(
                f"truncated: not every location reaches the market day's last interval ({last:%H:%M} GMT start)",
                line=1 + len(starts),
            )
