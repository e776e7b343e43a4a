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
import re
from functools import partial
from typing import ClassVar

import polars as pl
import pyarrow as pa

from marketintel.connectors.base import Connector
from marketintel.connectors.checks import first_repeat, first_row
from marketintel.connectors.clock import fixed_offset_to_utc
from marketintel.connectors.models import Fail, ParseError, RawPayload, mapped_prices
from marketintel.connectors.textfile import decode, floats, read_rows

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

        row = first_row(frame.get_column("Value").is_in(VALUES).not_())
        if row is not None:
            raise fail(
                f"unknown Value {frame['Value'][row]!r}; expected LMP, MCC or MLC",
                line=PREAMBLE + 1 + row,
                field="Value",
            )
        row = first_repeat(frame, "Node", "Value")
        if row is not None:
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
        return mapped_prices(
            {
                "market": self.market,
                "location": wide.get_column("Node"),
                "run": self.run,
                "interval_start": fixed_offset_to_utc(local_start, EST_OFFSET_HOURS),
                "interval_minutes": 60,
                "lmp": lmp,
                # prices are in cents: rounding the residual to 6 places only removes float noise
                "energy": (lmp - mcc - mlc).round(6),
                "congestion": mcc,
                "loss": mlc,
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
