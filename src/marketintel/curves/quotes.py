"""Contract quotes in: a CSV file (`contract, product, start, end, price[, bid, ask]`), or the store's
forward quotes of a hub on a trade date. Every problem is reported with its file, line and field."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import math
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa

from marketintel.catalog.markets import market as market_named
from marketintel.curves.models import Quote, QuoteError

REQUIRED = ("contract", "product", "start", "end", "price")
OPTIONAL = ("bid", "ask")
STORE_BLOCKS = {"ATC": "ATC", "ON": "PEAK", "OFF": "OFFPEAK"}


def _number(text: str, where: str, name: str, required: bool) -> float | None:
    text = text.strip()
    if not text:
        if required:
            raise QuoteError(f"{where}, field '{name}': missing")
        return None
    try:
        value = float(text)
    except ValueError:
        raise QuoteError(f"{where}, field '{name}': {text!r} is not a number") from None
    if not math.isfinite(value):
        raise QuoteError(f"{where}, field '{name}': {text!r} is not a finite number")
    return value


def _date(text: str, where: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise QuoteError(f"{where}, field '{name}': {text!r} is not a date (YYYY-MM-DD)") from None


def read_quotes(data: bytes, source: str) -> list[Quote]:
    """Quotes from CSV bytes; `source` names the file in messages and lineage."""
    digest = hashlib.sha256(data).hexdigest()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise QuoteError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise QuoteError(
            f"{source} line 1: missing column(s) {', '.join(missing)} (have {', '.join(header)})"
        )
    reader.fieldnames = header
    quotes = []
    for row in reader:
        line = reader.line_num
        where = f"{source} line {line}"
        price = _number(row["price"] or "", where, "price", True)
        assert price is not None
        quote = Quote(
            contract=(row["contract"] or "").strip(),
            product=(row["product"] or "").strip().upper(),
            start=_date(row["start"] or "", where, "start"),
            end=_date(row["end"] or "", where, "end"),
            price=price,
            bid=_number(row.get("bid") or "", where, "bid", False),
            ask=_number(row.get("ask") or "", where, "ask", False),
            source=source,
            source_sha256=digest,
            line=line,
        )
        quote.check()
        quotes.append(quote)
    if not quotes:
        raise QuoteError(f"{source}: no quotes")
    return quotes


def read_quotes_file(path: Path) -> list[Quote]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise QuoteError(f"{path}: cannot read ({exc.strerror})") from None
    return read_quotes(data, path.name)


def quotes_from_store(market: str, table: pa.Table) -> list[Quote]:
    """The store's forward quotes of one hub and trade date (rows of FORWARD_QUOTES) as contracts; delivery
    instants become the market-local dates they were written from."""
    zone = ZoneInfo(market_named(market).timezone)
    quotes = []
    for row in table.to_pylist():
        start = row["delivery_start"].astimezone(zone).date()
        end = row["delivery_end"].astimezone(zone).date()
        product = STORE_BLOCKS[row["block"]]
        quote = Quote(
            contract=f"{row['product']} {start:%Y-%m} {product}",
            product=product,
            start=start,
            end=end,
            price=float(row["price"]),
            source=f"store:forward_quotes/{row['source']}",
            source_sha256=row["source_file_sha256"],
        )
        quote.check()
        quotes.append(quote)
    return quotes
