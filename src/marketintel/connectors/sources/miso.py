"""MISO hourly LMPs from the daily market reports: day-ahead ex-post and real-time final.

https://docs.misoenergy.org/marketreports/YYYYMMDD_da_expost_lmp.csv (and ..._rt_lmp_final.csv) is a wide CSV:
four preamble lines (a title, the market date as MM/DD/YYYY, a blank line and
",,,All Hours-Ending are Eastern Standard Time (EST)"), then the header `Node,Type,Value,HE 1,...,HE 24` and,
per node, an LMP, an MCC and an MLC row (the file lists every LMP row, then every MCC row, then every MLC
row). LMP = MEC + MCC + MLC and MEC is not published, so energy is the residual LMP - MCC - MLC.

MISO's market clock is Eastern Standard Time all year (no DST): every market day has exactly 24 hours, and
HE h of day D covers [D + (h-1) h, D + h h) EST, i.e. it starts at D + (h+4) h UTC, on US DST days too.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from functools import partial
from typing import ClassVar

import polars as pl
import pyarrow as pa

from marketintel.connectors.base import Connector
from marketintel.connectors.clock import fixed_offset_to_utc
from marketintel.connectors.models import ParseError, RawPayload, mapped_prices

Fail = Callable[..., ParseError]

HOURS = [f"HE {h}" for h in range(1, 25)]
HEADER = ["Node", "Type", "Value", *HOURS]
VALUES = ("LMP", "MCC", "MLC")
EST_OFFSET_HOURS = -5.0  # MISO market time: Eastern Standard Time, never daylight time
PREAMBLE = 5  # title, date, blank, EST note, column header; data starts on line 6
LOCATION_TYPES = {"Hub": "hub", "Interface": "interface", "Loadzone": "zone"}  # any other Type: node
REPORT_NAME = re.compile(r"(\d{8})_([a-z0-9_]+)\.csv")


class _MisoHourlyReport(Connector):
    """One of MISO's wide hourly LMP reports; subclasses say which report and which run it is."""

    market = "MISO"
    base_url = "https://docs.misoenergy.org/marketreports"
    report: ClassVar[str]  # the file-name suffix, e.g. "da_expost_lmp"
    run: ClassVar[str]

    def __init__(self, base_url: str | None = None) -> None:
        super().__init__(base_url)
        # node -> its Type column, from the files this connector has parsed: MISO's names alone do not tell
        # a load zone from a generator node
        self.node_types: dict[str, str] = {}

    def urls(self, day: dt.date) -> list[str]:
        return [f"{self.url_root}/{day:%Y%m%d}_{self.report}.csv"]

    def location_type(self, location: str) -> str:
        node_type = self.node_types.get(location)
        if node_type is not None:
            return LOCATION_TYPES.get(node_type, "node")
        # by name, for nodes not seen in a file: commercial hubs end ".HUB", interfaces to neighbouring
        # systems are bare names (AECI, PJM, TVA), everything else is AREA.NAME
        if location.endswith(".HUB"):
            return "hub"
        return "interface" if "." not in location else "node"

    def map_to_schema(self, payload: RawPayload) -> pa.Table:
        fail: Fail = partial(ParseError, self.name, payload.name)
        text = decode(payload.content, fail)
        day, body = self._preamble(payload.name, text, fail)
        frame = read_rows(body, HEADER, PREAMBLE + 1, fail)

        bad_value = frame.get_column("Value").is_in(VALUES).not_().arg_true()
        if bad_value.len():
            row = bad_value[0]
            raise fail(
                f"unknown Value {frame['Value'][row]!r}; expected LMP, MCC or MLC",
                line=PREAMBLE + 1 + row,
                field="Value",
            )
        repeated = frame.select(pl.struct("Node", "Value").is_first_distinct().not_()).to_series()
        if repeated.any():
            row = repeated.arg_true()[0]
            node, value = frame["Node"][row], frame["Value"][row]
            raise fail(f"a second {value} row for node {node!r}", line=PREAMBLE + 1 + row)
        prices = floats(frame, HOURS, PREAMBLE + 1, fail)
        self.node_types.update(frame.unique("Node", keep="first").select("Node", "Type").iter_rows())

        long = pl.concat([frame.select("Node", "Value"), prices], how="horizontal").unpivot(
            index=["Node", "Value"], on=HOURS, variable_name="he", value_name="price"
        )
        wide = long.pivot(on="Value", index=["Node", "he"], values="price")
        for value in VALUES:
            if value not in wide.columns:
                raise fail(f"no {value} rows at all (truncated file?)")
        incomplete = wide.filter(pl.any_horizontal(pl.col(v).is_null() for v in VALUES))
        if incomplete.height:
            first = incomplete.row(0, named=True)
            absent = next(v for v in VALUES if first[v] is None)
            raise fail(f"node {first['Node']!r} has no {absent} row (truncated file?)")

        hour_ending = pl.col("he").str.strip_prefix("HE ").cast(pl.Int64)
        midnight = dt.datetime.combine(day, dt.time())
        local_start = wide.select(pl.lit(midnight) + pl.duration(hours=hour_ending - 1)).to_series()
        lmp, mcc, mlc = wide.get_column("LMP"), wide.get_column("MCC"), wide.get_column("MLC")
        rows = wide.height
        return mapped_prices(
            {
                "market": pa.array([self.market] * rows),
                "location": wide.get_column("Node").to_arrow(),
                "run": pa.array([self.run] * rows),
                "interval_start": fixed_offset_to_utc(local_start, EST_OFFSET_HOURS),
                "interval_minutes": pa.array([60] * rows, pa.int16()),
                "lmp": lmp.to_arrow(),
                # prices are in cents: rounding the residual to 6 places only removes float noise
                "energy": (lmp - mcc - mlc).round(6).to_arrow(),
                "congestion": mcc.to_arrow(),
                "loss": mlc.to_arrow(),
            }
        )

    def _preamble(self, name: str, text: str, fail: Fail) -> tuple[dt.date, str]:
        """The market day and the data lines, after checking the four preamble lines and the column header."""
        *lines, body = text.split("\n", PREAMBLE)
        if len(lines) < PREAMBLE:
            raise fail("truncated: the file ends before the first data row", line=len(lines) + 1)
        title, date_line, blank, note, header = (line.rstrip("\r") for line in lines)
        if not title.strip(" ,") or title.startswith("Node,"):
            raise fail("expected the report title on the first line", line=1)
        try:
            day = dt.datetime.strptime(date_line.strip(" ,"), "%m/%d/%Y").date()
        except ValueError:
            raise fail(f"expected the market date as MM/DD/YYYY, got {date_line!r}", line=2) from None
        if blank.strip(" ,"):
            raise fail(f"expected a blank line, got {blank!r}", line=3)
        if "Eastern Standard Time (EST)" not in note:
            # the time mapping rests on this statement; a file without it is not one we understand
            raise fail(f"expected the note that hours are Eastern Standard Time, got {note!r}", line=4)
        columns = [c.strip() for c in header.split(",")]
        if columns != HEADER:
            at = next((i for i, (e, c) in enumerate(zip(HEADER, columns, strict=False)) if e != c), None)
            at = min(len(HEADER), len(columns)) if at is None else at
            field = HEADER[at] if at < len(HEADER) else columns[at]
            raise fail(f"unexpected header; expected {','.join(HEADER)!r}", line=PREAMBLE, field=field)
        named = REPORT_NAME.fullmatch(name)
        if named and named.group(2) != self.report:
            raise fail(f"this is MISO's {named.group(2)} report, not {self.report}")
        if named and named.group(1) != f"{day:%Y%m%d}":
            raise fail(f"the file name says {named.group(1)} but the file says {day:%m/%d/%Y}", line=2)
        return day, body


class MisoDayAhead(_MisoHourlyReport):
    name = "miso-da"
    runs = ("DA",)
    run = "DA"
    report = "da_expost_lmp"
    description = "MISO day-ahead ex-post hourly LMP, MCC and MLC by CPnode (daily market report)"


class MisoRealTimeFinal(_MisoHourlyReport):
    name = "miso-rt"
    runs = ("RT",)
    run = "RT"
    report = "rt_lmp_final"
    description = "MISO real-time final hourly LMP, MCC and MLC by CPnode (daily market report)"


# --- CSV helpers: exact line numbers for every way a file can be broken -------------------------------


def decode(content: bytes, fail: Fail) -> str:
    """The payload as text (the reports are ASCII; UTF-8 and a BOM are tolerated)."""
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content.count(b"\n", 0, exc.start) + 1
        raise fail(
            f"not UTF-8 text: byte {content[exc.start]:#04x} at offset {exc.start}", line=line
        ) from None


def read_rows(body: str, columns: list[str], first_line: int, fail: Fail) -> pl.DataFrame:
    """The data lines as string columns; ParseError at the first line that is blank, short, long or has an
    empty field. `first_line` is the file line number of the body's first line."""
    if not body or body.isspace():
        raise fail("no data rows (truncated file?)", line=first_line)
    if not body.endswith("\n"):
        raise fail("truncated: the last line has no line end", line=first_line + body.count("\n"))
    lines_in_body = body.count("\n")
    try:
        frame = pl.read_csv(
            body.encode(), has_header=False, schema=dict.fromkeys(columns, pl.String), quote_char=None
        )
    except pl.exceptions.PolarsError:
        frame = None
    if frame is not None and frame.height == lines_in_body and not frame.null_count().sum_horizontal().item():
        return frame
    # something is wrong: find the first bad line, vectorised over the lines
    lines = pl.Series(body.split("\n")[:lines_in_body]).str.strip_suffix("\r")
    fields = lines.str.count_matches(",", literal=True) + 1
    bad = (fields != len(columns)) | lines.str.contains(r"(^|,)\s*(,|$)")
    if not bad.any():
        raise fail("unreadable CSV", line=first_line)
    row = bad.arg_true()[0]
    line, count = lines[row], fields[row]
    if not line.strip():
        raise fail("blank line among the data rows", line=first_line + row)
    if count != len(columns):
        raise fail(f"{count} fields, expected {len(columns)} (truncated line?)", line=first_line + row)
    empty = next(i for i, cell in enumerate(line.split(",")) if not cell.strip())
    raise fail("empty field", line=first_line + row, field=columns[empty])


def floats(frame: pl.DataFrame, columns: list[str], first_line: int, fail: Fail) -> pl.DataFrame:
    """Those columns as finite float64; ParseError naming the line and field of the first non-number."""
    numbers = frame.select(pl.col(c).cast(pl.Float64, strict=False) for c in columns)
    bad = numbers.select(pl.any_horizontal(pl.col(c).is_finite().not_().fill_null(True) for c in columns))
    rows = bad.to_series().arg_true()
    if rows.len():
        row = rows[0]
        column = next(c for c in columns if numbers[c][row] is None or not math.isfinite(numbers[c][row]))
        raise fail(f"not a number: {frame[column][row]!r}", line=first_line + row, field=column)
    return numbers
