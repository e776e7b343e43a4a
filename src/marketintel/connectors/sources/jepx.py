"""JEPX day-ahead spot market results: the fiscal-year summary CSV `spot_summary_<FY>.csv`.

One file holds a Japanese fiscal year (April to March), one row per delivery day (受渡日, "YYYY/MM/DD")
and time code (時刻コード 1..48: slot k starts at (k-1)·30 min JST), with the volumes, the system price
(システムプライス) and the nine area prices (エリアプライス北海道 ... 九州), all in yen per kWh.

The same file comes in two encodings: the spot page's download (POST /_download.php) is Shift-JIS
(cp932); the reader behind the page's charts (GET /js/csv_read.php, which we fetch) answers UTF-8. The
encoding is detected from the header line, which must read 受渡日,... in one of them.

Japan keeps standard time all year (UTC+9), so every day has 48 slots.
"""

from __future__ import annotations

import codecs
import datetime as dt
from collections.abc import Callable
from typing import ClassVar
from urllib.parse import parse_qsl, urlsplit

import polars as pl
import pyarrow as pa

from marketintel.catalog.markets import MARKETS
from marketintel.connectors.base import Connector
from marketintel.connectors.checks import first_row
from marketintel.connectors.clock import local_to_utc
from marketintel.connectors.models import ParseError, RawPayload, mapped_prices

DATE = "受渡日"
TIME_CODE = "時刻コード"
# price column -> location id
PRICE_COLUMNS: dict[str, str] = {
    "システムプライス(円/kWh)": "SYSTEM",
    "エリアプライス北海道(円/kWh)": "HOKKAIDO",
    "エリアプライス東北(円/kWh)": "TOHOKU",
    "エリアプライス東京(円/kWh)": "TOKYO",
    "エリアプライス中部(円/kWh)": "CHUBU",
    "エリアプライス北陸(円/kWh)": "HOKURIKU",
    "エリアプライス関西(円/kWh)": "KANSAI",
    "エリアプライス中国(円/kWh)": "CHUGOKU",
    "エリアプライス四国(円/kWh)": "SHIKOKU",
    "エリアプライス九州(円/kWh)": "KYUSHU",
}
ENCODINGS: tuple[tuple[str, str], ...] = (("utf-8", "UTF-8"), ("cp932", "Shift-JIS (cp932)"))
SLOTS = 48
Fail = Callable[..., ParseError]
# prices are published in yen per kWh; the platform's unit for JEPX instruments is JPY/MWh
KWH_PER_MWH = 1000.0


def _reads_as(raw: bytes, encoding: str) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        return ""


def fiscal_year(day: dt.date) -> int:
    """JEPX's files run April to March: January-March belong to the previous year's file."""
    return day.year if day.month >= 4 else day.year - 1


class JepxSpot(Connector):
    name: ClassVar[str] = "jepx-spot"
    market: ClassVar[str] = "JEPX"
    runs: ClassVar[tuple[str, ...]] = ("DA",)
    description: ClassVar[str] = "JEPX spot (day-ahead) system and area prices, fiscal-year summary CSV"
    base_url: ClassVar[str] = "https://www.jepx.jp"

    def headers(self, url: str) -> dict[str, str]:
        # csv_read.php answers with 0 bytes unless the request carries the spot page as Referer
        return {"Referer": "https://www.jepx.jp/electricpower/market-data/spot/"}

    def urls(self, day: dt.date) -> list[str]:
        return [f"{self.url_root}/js/csv_read.php?dir=spot_summary&file=spot_summary_{fiscal_year(day)}.csv"]

    def payload_name(self, url: str) -> str:
        return dict(parse_qsl(urlsplit(url).query)).get("file") or super().payload_name(url)

    def location_type(self, location: str) -> str:
        return "zone"

    def map_to_schema(self, payload: RawPayload) -> pa.Table:
        def fail(message: str, line: int | None = None, field: str | None = None) -> ParseError:
            return ParseError(self.name, payload.name, message, line=line, field=field)

        text = self._decode(payload, fail)
        lines = pl.DataFrame({"text": text.split("\n")}).with_row_index("line", offset=1)
        lines = lines.with_columns(pl.col("text").str.strip_suffix("\r"))
        header = lines["text"][0].split(",")
        missing = [c for c in (DATE, TIME_CODE, *PRICE_COLUMNS) if c not in header]
        if missing:
            raise fail(f"header lacks {missing}", line=1, field=missing[0])
        rows = lines.slice(1).filter(pl.col("text") != "")
        if rows.is_empty():
            raise fail("no data rows after the header", line=2)
        # a row with a different number of fields is cut short (truncated download) or shifted
        commas = rows["text"].str.count_matches(",", literal=True)
        row = first_row(commas != len(header) - 1)
        if row is not None:
            found = int(commas[row]) + 1
            raise fail(f"{found} fields, the header has {len(header)}", line=int(rows["line"][row]))

        fields = rows["text"].str.split_exact(",", len(header) - 1).struct.unnest()
        fields.columns = [f"c{i}" for i in range(len(header))]
        wanted = {name: f"c{header.index(name)}" for name in (DATE, TIME_CODE, *PRICE_COLUMNS)}
        table = pl.DataFrame(
            {
                "line": rows["line"],
                "date": fields[wanted[DATE]].str.to_date("%Y/%m/%d", strict=False),
                "code": fields[wanted[TIME_CODE]].cast(pl.Int32, strict=False),
                **{
                    location: fields[wanted[column]].cast(pl.Float64, strict=False)
                    for column, location in PRICE_COLUMNS.items()
                },
            }
        )
        checks = [
            (DATE, table["date"].is_null()),
            (TIME_CODE, ~table["code"].is_between(1, SLOTS).fill_null(False)),
        ]
        checks += [
            (column, ~table[location].is_finite().fill_null(False))
            for column, location in PRICE_COLUMNS.items()
        ]
        for column, invalid in checks:
            row = first_row(invalid)
            if row is not None:
                value = fields[wanted[column]][row]
                raise fail(f"{value!r} is not a valid {column}", line=int(table["line"][row]), field=column)
        self._check_days(table, fail)

        # slot k of a JST day starts at (k-1)*30 minutes past local midnight
        local = table.select(
            pl.col("date").cast(pl.Datetime("us")) + pl.duration(minutes=(pl.col("code") - 1) * 30)
        )
        starts = local_to_utc(local.to_series(), MARKETS[self.market].timezone)
        long = (
            table.select(list(PRICE_COLUMNS.values()))
            .with_columns(pl.Series("start", starts))
            .unpivot(index="start", variable_name="location", value_name="lmp")
        )
        return mapped_prices(
            {
                "market": self.market,
                "location": long["location"],
                "run": "DA",
                "interval_start": long["start"],
                "interval_minutes": 30,
                "lmp": (long["lmp"] * KWH_PER_MWH).round(6),
                # JEPX publishes system and area prices only, no components
                "energy": None,
                "congestion": None,
                "loss": None,
            }
        )

    @staticmethod
    def _decode(payload: RawPayload, fail: Fail) -> str:
        """The text in whichever of UTF-8 and cp932 makes the header read 受渡日; the exact line of any
        byte that is not valid in that encoding."""
        content = payload.content.removeprefix(codecs.BOM_UTF8)
        if not content.strip():
            raise fail("empty file (csv_read.php answers 0 bytes when the Referer header is missing)")
        first = content.split(b"\n", 1)[0]
        found = [(e, label) for e, label in ENCODINGS if _reads_as(first, e).startswith(DATE)]
        if not found:
            raise fail(
                f"header is not {DATE},... in UTF-8 or Shift-JIS (cp932): wrong encoding or not a spot summary",
                1,
            )
        encoding, label = found[0]
        try:
            return content.decode(encoding)
        except UnicodeDecodeError as exc:
            line = content.count(b"\n", 0, exc.start) + 1
            raise fail(
                f"bytes {content[exc.start : exc.end]!r} are not valid {label} (file encoding)", line
            ) from None

    @staticmethod
    def _check_days(table: pl.DataFrame, fail: Fail) -> None:
        """Every day present has each of the 48 time codes exactly once (a truncated file does not)."""
        repeated = table.select(pl.struct("date", "code").is_duplicated()).to_series()
        if repeated.any():
            row = int(repeated.arg_true()[-1])
            raise fail(
                f"time code {table['code'][row]} of {table['date'][row]} is listed twice",
                int(table["line"][row]),
            )
        days = table.group_by("date", maintain_order=True).agg(pl.len().alias("n"), pl.col("line").max())
        short = days.filter(pl.col("n") != SLOTS)
        if short.height:
            raise fail(
                f"{short['date'][0]} has {short['n'][0]} of {SLOTS} time codes (truncated file?)",
                int(short["line"][0]),
                TIME_CODE,
            )
