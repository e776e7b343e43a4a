"""NYISO LBMPs from the MIS public archive: day-ahead hourly (`damlbmp`) and real-time 5-minute (`realtime`),
zonal and generator files, as daily CSVs or monthly zips of them.

What this relies on (the live files as described by pyiso's and gridstatus's NYISO clients and test fixtures,
and NYISO's MIS URL conventions):
- `http://mis.nyiso.com/public/csv/<damlbmp|realtime>/<YYYYMMDD><report>_<zone|gen>.csv`; the monthly bundle
  `<YYYYMM01><report>_<zone|gen>_csv.zip` holds one such daily CSV per published day of the month.
- Header `"Time Stamp","Name","PTID","LBMP ($/MWHr)","Marginal Cost Losses ($/MWHr)","Marginal Cost Congestion
  ($/MWHr)"` (files before mid-2016 end the last name at `($/MWH`); time stamp and name quoted, numbers bare,
  CRLF lines, rows in time order and alphabetical by name within a time.
- Time Stamp is Eastern prevailing wall-clock time with no EST/EDT column. Day-ahead stamps ("11/03/2024 01:00")
  are the hour's START; real-time stamps ("11/03/2024 00:05:00") are the 5-minute interval's END, so a day's
  real-time file runs 00:05 .. 00:00 of the next day. On the fall-back day the repeated wall-clock times appear
  twice per name, in time order: the first is EDT, the second EST.
- NYISO publishes congestion with the opposite sign to the canonical one: LBMP = energy + losses - congestion.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import partial
from typing import ClassVar, NoReturn

import polars as pl
import pyarrow as pa

from marketintel.connectors.base import Connector
from marketintel.connectors.checks import first_repeat, first_row
from marketintel.connectors.clock import WallClockError, local_day_starts, wall_clock_to_utc
from marketintel.connectors.models import MAPPED_PRICES, ParseError, RawPayload, mapped_prices
from marketintel.connectors.textfile import decode, read_table
from marketintel.connectors.zipfiles import ZipPayload

EASTERN = "America/New_York"
STAMP = "Time Stamp"
LBMP, LOSSES, CONGESTION = (
    "LBMP ($/MWHr)",
    "Marginal Cost Losses ($/MWHr)",
    "Marginal Cost Congestion ($/MWHr)",
)
HEADER = (STAMP, "Name", "PTID", LBMP, LOSSES, CONGESTION)
OLD_CONGESTION = "Marginal Cost Congestion ($/MWH"  # the truncated header of files before mid-2016
FILE_NAME = re.compile(
    r"^(?P<day>\d{8})(?P<report>damlbmp|realtime)_(?P<kind>zone|gen)(?:\.csv|(?P<zip>_csv\.zip))$"
)
# the names in the zonal files: the eleven NYCA load zones and the four external proxy zones
ZONES = frozenset(
    {
        "CAPITL",
        "CENTRL",
        "DUNWOD",
        "GENESE",
        "HUD VL",
        "LONGIL",
        "MHK VL",
        "MILLWD",
        "N.Y.C.",
        "NORTH",
        "WEST",
    }
    | {"H Q", "NPX", "O H", "PJM"}
)


@dataclass(frozen=True)
class Report:
    run: str
    minutes: int
    stamp_is_end: bool  # real-time stamps label the interval's end, day-ahead stamps its start


REPORTS = {"damlbmp": Report("DA", 60, False), "realtime": Report("RT5", 5, True)}


class NyisoLbmp(Connector):
    name = "nyiso-lbmp"
    market = "NYISO"
    runs = ("DA", "RT5")
    description = (
        "NYISO LBMPs with energy, congestion and losses: day-ahead hourly and real-time 5-minute, "
        "zones and generator buses (MIS damlbmp/realtime CSVs and their monthly zips)"
    )
    base_url = "http://mis.nyiso.com/public"
    requests_per_second = 2.0
    files: ClassVar[tuple[tuple[str, str], ...]] = (
        ("damlbmp", "zone"),
        ("damlbmp", "gen"),
        ("realtime", "zone"),
        ("realtime", "gen"),
    )

    def __init__(self, base_url: str | None = None) -> None:
        super().__init__(base_url)
        self._types: dict[str, str] = {}  # Name -> zone/node, from the kind of file it was parsed from

    def urls(self, day: dt.date) -> list[str]:
        return [
            f"{self.url_root}/csv/{report}/{day:%Y%m%d}{report}_{kind}.csv" for report, kind in self.files
        ]

    def monthly_urls(self, day: dt.date) -> list[str]:
        """The monthly zips holding `day` (for backfills: one request per month and file kind)."""
        first = day.replace(day=1)
        return [
            f"{self.url_root}/csv/{report}/{first:%Y%m%d}{report}_{kind}_csv.zip"
            for report, kind in self.files
        ]

    def location_type(self, location: str) -> str:
        return self._types.get(location) or ("zone" if location in ZONES else "node")

    def map_to_schema(self, payload: RawPayload) -> pa.Table:
        named = FILE_NAME.match(payload.name)
        if not named:
            raise ParseError(
                self.name,
                payload.name,
                "cannot tell the report from the file name; expected YYYYMMDD<damlbmp|realtime>_<zone|gen>.csv "
                "or the monthly YYYYMM01..._csv.zip",
            )
        report, kind = named["report"], named["kind"]
        day = _day(self.name, payload.name, named["day"])
        if not named["zip"]:
            return self._daily(payload.name, payload.content, day, report, kind)
        tables = [
            self._daily(f"{payload.name}/{member}", content, member_day, report, kind)
            for member, member_day, content in self._members(payload, named)
        ]
        return pa.concat_tables(tables) if tables else MAPPED_PRICES.empty_table()

    def _members(self, payload: RawPayload, named: re.Match[str]) -> list[tuple[str, dt.date, bytes]]:
        """The daily CSVs of a monthly zip, each checked to be of the zip's report, kind and month."""
        archive = ZipPayload(payload.content, partial(ParseError, self.name, payload.name), "corrupt zip")
        members = []
        for member in sorted(archive.names):
            inner = FILE_NAME.match(member)
            if (
                not inner
                or inner["zip"]
                or (inner["report"], inner["kind"]) != (named["report"], named["kind"])
            ):
                raise ParseError(self.name, payload.name, f"unexpected member {member!r} in the zip")
            if inner["day"][:6] != named["day"][:6]:
                raise ParseError(
                    self.name, payload.name, f"member {member!r} is not of month {named['day'][:6]}"
                )
            day = _day(self.name, f"{payload.name}/{member}", inner["day"])
            members.append((member, day, archive.read(member)))
        return members

    def _daily(self, file: str, content: bytes, day: dt.date, report_name: str, kind: str) -> pa.Table:
        report = REPORTS[report_name]
        rows = _Rows.read(self.name, file, content)
        stamp = rows.stamps()
        lbmp, losses, mcc = rows.numbers(LBMP), rows.numbers(LOSSES), rows.numbers(CONGESTION)
        names = rows.texts("Name")

        frame = pl.DataFrame({"line": rows.lines, "name": names, "stamp": stamp, "lbmp": lbmp})
        frame = frame.with_columns(losses=losses, mcc=mcc)
        if report.stamp_is_end:
            # real-time files also carry the odd interval off the 5-minute grid (RTD corrective-action runs);
            # the canonical 5-minute series has no place for them, so they are dropped
            frame = frame.filter((pl.col("stamp").dt.second() == 0) & (pl.col("stamp").dt.minute() % 5 == 0))

        # a wall-clock time seen twice for a name is the fall-back hour: first in the file is EDT, then EST.
        # A second copy outside that hour is caught below, as a repeated interval.
        second = frame.select(pl.struct("name", "stamp").is_first_distinct().not_()).to_series()
        try:
            utc = wall_clock_to_utc(frame.get_column("stamp"), second, EASTERN, check_repeat=False)
        except WallClockError as exc:
            rows.fail(frame, exc.row, "no such Eastern time (the spring-forward gap)", STAMP)
        if report.stamp_is_end:
            utc = utc - dt.timedelta(minutes=report.minutes)  # in UTC, so the fall-back hour stays distinct
        frame = frame.with_columns(start=utc)

        row = first_repeat(frame, "name", "start")
        if row is not None:
            rows.fail(frame, row, "repeats an interval already given for this name", STAMP)
        self._check_day(rows, frame, day, report)

        for name in frame.get_column("name").unique():
            self._types[name] = "zone" if kind == "zone" else "node"
        # flip NYISO's congestion sign so that lmp = energy + congestion + loss (0.0 - x keeps 0.00 from being -0.0)
        congestion = 0.0 - frame.get_column("mcc")
        energy = (frame.get_column("lbmp") - frame.get_column("losses") - congestion).round(6)
        return mapped_prices(
            {
                "market": self.market,
                "location": frame.get_column("name"),
                "run": report.run,
                "interval_start": frame.get_column("start"),
                "interval_minutes": report.minutes,
                "lmp": frame.get_column("lbmp"),
                "energy": energy,
                "congestion": congestion,
                "loss": frame.get_column("losses"),
            }
        )

    def _check_day(self, rows: _Rows, frame: pl.DataFrame, day: dt.date, report: Report) -> None:
        """Every interval inside the file's market day, and the day's intervals all there (a file cut short at a
        line break is still a well-formed CSV: this is what catches it)."""
        expected = pl.Series(local_day_starts(day, EASTERN, report.minutes))
        end = expected[-1] + dt.timedelta(minutes=report.minutes)
        start = frame.get_column("start")
        row = first_row((start < expected[0]) | (start >= end))
        if row is not None:
            rows.fail(frame, row, f"interval starting {start[row]} is not on {day}", STAMP)
        covered = start.n_unique()
        if covered != len(expected):
            raise ParseError(
                self.name,
                rows.file,
                f"only {covered} of the {len(expected)} intervals of {day} are in the file (truncated?)",
            )


class _Rows:
    """A daily LBMP CSV as text columns, with the file line of every row (for error messages)."""

    def __init__(self, source: str, file: str, frame: pl.DataFrame, lines: pl.Series) -> None:
        self.source, self.file, self.frame, self.lines = source, file, frame, lines

    @classmethod
    def read(cls, source: str, file: str, content: bytes) -> _Rows:
        fail = partial(ParseError, source, file)
        decode(content, fail, encoding="ascii", bom=False)  # checked only: polars reads the bytes
        if not content.strip():
            raise fail("empty file")
        frame, lines = read_table(content, fail)
        frame = frame.rename({OLD_CONGESTION: CONGESTION}, strict=False)
        missing = [c for c in HEADER if c not in frame.columns]
        if missing:
            raise fail(f"missing column(s) {missing}; header is {frame.columns}", line=1)
        return cls(source, file, frame, lines)

    def fail(self, frame: pl.DataFrame | None, row: int, message: str, field: str) -> NoReturn:
        lines = self.lines if frame is None else frame.get_column("line")
        raise ParseError(self.source, self.file, message, line=int(lines[row]), field=field)

    def texts(self, column: str) -> pl.Series:
        series = self.frame.get_column(column)
        row = first_row(series.is_null())
        if row is not None:
            self.fail(None, row, "missing value", column)
        return series

    def numbers(self, column: str) -> pl.Series:
        text = self.texts(column).str.strip_chars()
        values = text.cast(pl.Float64, strict=False)
        row = first_row(values.is_null())
        if row is not None:
            self.fail(None, row, f"not a number: {text[row]!r}", column)
        return values

    def stamps(self) -> pl.Series:
        text = self.texts(STAMP).str.strip_chars()
        # day-ahead files stamp "MM/DD/YYYY HH:MM", real-time files "MM/DD/YYYY HH:MM:SS"
        parsed = text.str.strptime(pl.Datetime("us"), "%m/%d/%Y %H:%M", strict=False)
        if parsed.has_nulls():
            parsed = parsed.fill_null(text.str.strptime(pl.Datetime("us"), "%m/%d/%Y %H:%M:%S", strict=False))
        row = first_row(parsed.is_null())
        if row is not None:
            self.fail(None, row, f"not a time stamp: {text[row]!r}", STAMP)
        return parsed


def _day(source: str, file: str, digits: str) -> dt.date:
    try:
        return dt.datetime.strptime(digits, "%Y%m%d").date()
    except ValueError:
        raise ParseError(source, file, f"no such day {digits!r} in the file name") from None
