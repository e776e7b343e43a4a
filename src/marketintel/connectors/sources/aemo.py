"""AEMO NEM 5-minute regional reference prices (RRP) from NEMWEB DispatchIS reports.

Every dispatch run AEMO publishes `PUBLIC_DISPATCHIS_<YYYYMMDDHHMM>_<16-digit sequence>.zip`, holding one
MMS-format CSV (`.CSV`): a `C` row (`C,NEMP.WORLD,DISPATCHIS,AEMO,PUBLIC,<date>,<time>,...`), then per table
an `I` row (`I,<report>,<sub-report>,<version>,<column names...>`) and its `D` rows, and a closing
`C,"END OF REPORT",<lines in the file>`. One file holds several tables (CASE_SOLUTION, PRICE, REGIONSUM,
INTERCONNECTORRES, CONSTRAINT, ...); only DISPATCH,PRICE is read here, by column name from its `I` row
(AEMO adds columns and bumps the version). NEMWEB's archive bundles a day of these into
`Reports/Archive/DispatchIS_Reports/PUBLIC_DISPATCHIS_<YYYYMMDD>.zip`, a zip of the 288 5-minute zips;
unlike the daily Public_Prices report, whose name carries its publication time to the second, that name
can be built from the date alone, so `urls(day)` uses it. A single 5-minute zip parses the same way.

SETTLEMENTDATE ("2024/10/06 00:05:00", quoted) is the END of the interval in NEM time, UTC+10 all year:
the NEM never observes daylight saving, even while NSW, VIC, TAS and SA do. So the interval starts five
minutes earlier, at SETTLEMENTDATE - 10 h in UTC, on Australian DST days too.

INTERVENTION: when AEMO intervenes (directions, RERT) it publishes two runs per interval. INTERVENTION = 0
is the pricing run, whose RRP sets the spot price the market settles at (NER 3.9.3); INTERVENTION = 1 is
the physical (intervention) run, whose prices are not settlement prices. Only INTERVENTION = 0 is kept.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from marketintel.connectors.base import Connector
from marketintel.connectors.checks import Rule, first_failure, first_repeat
from marketintel.connectors.clock import fixed_offset_to_utc
from marketintel.connectors.models import ParseError, RawPayload, mapped_prices
from marketintel.connectors.textfile import decode
from marketintel.connectors.zipfiles import ZipPayload

NEM_OFFSET_HOURS = 10.0  # NEM time is AEST, UTC+10, every day of the year
INTERVAL = dt.timedelta(minutes=5)
PRICE_HEADER = "I,DISPATCH,PRICE,"
PRICE_ROW = "D,DISPATCH,PRICE,"
REQUIRED = ("SETTLEMENTDATE", "REGIONID", "INTERVENTION", "RRP")
SETTLEMENT_FORMAT = "%Y/%m/%d %H:%M:%S"
FOOTER = re.compile(r'^C,"?END OF REPORT"?,(\d+)\s*$')


class AemoDispatchPrice(Connector):
    name = "aemo-dispatchprice"
    market = "AEMO"
    runs = ("RT5",)
    description = "AEMO NEM 5-minute regional reference prices (RRP) per region, DispatchIS DISPATCH.PRICE"
    base_url = "https://nemweb.com.au"

    def urls(self, day: dt.date) -> list[str]:
        return [f"{self.url_root}/Reports/Archive/DispatchIS_Reports/PUBLIC_DISPATCHIS_{day:%Y%m%d}.zip"]

    def location_type(self, location: str) -> str:
        return "zone"  # NEM prices are per region (NSW1, QLD1, SA1, TAS1, VIC1)

    def map_to_schema(self, payload: RawPayload) -> pa.Table:
        reports = list(_reports(payload.content, payload.name, partial(ParseError, self.name)))
        if not reports:
            raise ParseError(self.name, payload.name, "no CSV report in the zip")
        lines = _lines(reports, self.name)
        rows = _price_rows(lines, [label for label, _ in reports], self.name)
        return _mapped(rows)


def _reports(content: bytes, label: str, fail: Callable[..., ParseError]) -> Iterator[tuple[str, bytes]]:
    """(file label, CSV bytes) of every report in a zip, looking one level into zips inside it."""
    archive = ZipPayload(content, partial(fail, label))
    for member in archive.names:
        lower = member.lower()
        if lower.endswith(".csv"):
            yield f"{label}/{member}", archive.read(member)
        elif lower.endswith(".zip"):
            yield from _reports(archive.read(member), f"{label}/{member}", fail)


def _lines(reports: list[tuple[str, bytes]], source: str) -> pl.DataFrame:
    """Every line of every report as (file, line number, text), after checking each report's frame: the
    opening C row and the END OF REPORT row whose count says how many lines the file has."""
    texts: list[str] = []
    files: list[np.ndarray] = []
    numbers: list[np.ndarray] = []
    for index, (label, content) in enumerate(reports):
        # bom=False: AEMO writes no BOM, and a file with one fails the opening-C-row check, as it always did
        lines = decode(content, partial(ParseError, source, label), bom=False).splitlines()
        while lines and not lines[-1].strip():
            lines.pop()
        if not lines or not lines[0].startswith("C,"):
            raise ParseError(source, label, "not an AEMO MMS report: no opening C row", line=1)
        footer = FOOTER.match(lines[-1])
        if footer is None:
            raise ParseError(source, label, "truncated: no END OF REPORT row at the end", line=len(lines))
        if int(footer.group(1)) != len(lines):
            raise ParseError(
                source,
                label,
                f"truncated or padded: END OF REPORT says {footer.group(1)} lines, the file has {len(lines)}",
                line=len(lines),
            )
        texts.extend(lines)
        files.append(np.full(len(lines), index, dtype=np.int32))
        numbers.append(np.arange(1, len(lines) + 1, dtype=np.int32))
    return pl.DataFrame(
        {
            "file": np.concatenate(files),
            "line": np.concatenate(numbers),
            "text": pl.Series(texts, dtype=pl.String),
        }
    )


def _price_rows(lines: pl.DataFrame, labels: list[str], source: str) -> pl.DataFrame:
    """The DISPATCH,PRICE rows of all reports, typed: (file, line, region, settlement, intervention, rrp)."""
    headers = lines.filter(pl.col("text").str.starts_with(PRICE_HEADER))
    missing = sorted(set(range(len(labels))) - set(headers["file"].to_list()))
    if missing:
        raise ParseError(source, labels[missing[0]], "no DISPATCH,PRICE table (no I,DISPATCH,PRICE row)")
    if (dup := headers.filter(pl.col("file").is_duplicated())).height:
        raise ParseError(source, labels[dup["file"][0]], "two DISPATCH,PRICE tables", line=dup["line"][1])
    data = lines.filter(pl.col("text").str.starts_with(PRICE_ROW)).join(
        headers.select("file", pl.col("text").alias("header")), on="file"
    )
    parts = []
    # one pass per distinct header (a day's files normally share one; AEMO may add columns mid-history)
    for header, group in data.group_by("header", maintain_order=True):
        columns = str(header[0]).split(",")
        first = headers.filter(pl.col("text") == header[0]).row(0, named=True)
        for name in REQUIRED:
            if name not in columns:
                raise _error(source, labels, first, "missing column in the DISPATCH,PRICE header", name)
        # no DISPATCH,PRICE field is free text (numbers, ids, quoted times, status words), so every comma
        # separates two fields and a plain split is exact
        fields = group.with_columns(pl.col("text").str.split(",").alias("fields"))
        short = fields.filter(pl.col("fields").list.len() != len(columns))
        if short.height:
            hit = short.row(0, named=True)
            found = len(hit["fields"])
            raise _error(
                source, labels, hit, f"{found} fields where the DISPATCH,PRICE header has {len(columns)}"
            )
        parts.append(
            fields.select(
                "file",
                "line",
                *(
                    pl.col("fields").list.get(columns.index(c)).str.strip_chars('"').alias(c)
                    for c in REQUIRED
                ),
            )
        )
    raw = (
        pl.concat(parts)
        if parts
        else pl.DataFrame(schema={"file": pl.Int32, "line": pl.Int32, **dict.fromkeys(REQUIRED, pl.String)})
    )
    typed = raw.with_columns(
        pl.col("SETTLEMENTDATE").str.to_datetime(SETTLEMENT_FORMAT, strict=False).alias("settlement"),
        pl.col("INTERVENTION").cast(pl.Int64, strict=False).alias("intervention"),
        pl.col("RRP").cast(pl.Float64, strict=False).alias("rrp"),
    )
    checks: list[Rule] = [
        (pl.col("REGIONID") == "", "REGIONID", lambda r: "empty region id"),
        (
            pl.col("settlement").is_null(),
            "SETTLEMENTDATE",
            lambda r: f"not a NEM time: {r['SETTLEMENTDATE']!r}",
        ),
        (pl.col("intervention").is_null(), "INTERVENTION", lambda r: f"not a flag: {r['INTERVENTION']!r}"),
        (pl.col("rrp").is_null() | ~pl.col("rrp").is_finite(), "RRP", lambda r: f"not a price: {r['RRP']!r}"),
    ]
    failure = first_failure(typed, checks)
    if failure is not None:
        row, field, message = failure
        raise _error(source, labels, row, message, field)
    pricing = typed.filter(pl.col("intervention") == 0)
    in_file_order = pricing.sort("file", "line")
    repeat = first_repeat(in_file_order, "REGIONID", "settlement")
    if repeat is not None:
        row = in_file_order.row(repeat, named=True)
        message = f"a second pricing-run RRP for {row['REGIONID']} at {row['SETTLEMENTDATE']}"
        raise _error(source, labels, row, message, "SETTLEMENTDATE")
    return pricing


def _error(
    source: str, labels: list[str], row: dict[str, Any], message: str, field: str | None = None
) -> ParseError:
    """A ParseError at a row of `_lines`: its file (an index into `labels`) and line."""
    return ParseError(source, labels[row["file"]], message, line=row["line"], field=field)


def _mapped(rows: pl.DataFrame) -> pa.Table:
    # SETTLEMENTDATE ends the interval: the interval starts 5 minutes earlier, on a clock that is UTC+10
    starts = fixed_offset_to_utc(rows["settlement"] - INTERVAL, NEM_OFFSET_HOURS)
    return mapped_prices(
        {
            "market": "AEMO",
            "location": rows["REGIONID"],
            "run": "RT5",
            "interval_start": starts,
            "interval_minutes": 5,
            "lmp": rows["rrp"],
            # the RRP is a regional price; AEMO publishes no energy/congestion/loss split of it
            "energy": None,
            "congestion": None,
            "loss": None,
        }
    )
