"""A delimited text file as columns of strings, with the exact line and field of the first thing wrong.

Published CSVs arrive cut short, re-encoded or edited by hand. A ParseError that names the line and field
lets whoever reads it find the damage in the archived file, so every helper here reports the FIRST bad
line. The common path (a valid file) is one vectorised read; the text is searched line by line only once
that read has failed or found a gap.
"""

from __future__ import annotations

import codecs
import csv
import io
import math

import polars as pl

from marketintel.connectors.checks import first_row
from marketintel.connectors.models import Fail


def decode(content: bytes, fail: Fail, *, encoding: str = "utf-8", bom: bool = True) -> str:
    """The payload as text; a ParseError with the line, value and offset of the first byte that is not
    `encoding`. With `bom`, a leading UTF-8 byte-order mark is dropped (Excel and some portals add one)."""
    body = content.removeprefix(codecs.BOM_UTF8) if bom else content
    try:
        return body.decode(encoding)
    except UnicodeDecodeError as exc:
        start = exc.start + len(content) - len(body)  # an offset in the file, BOM included
        raise fail(
            f"not {encoding.upper()} text: byte {content[start]:#04x} at offset {start}",
            line=content.count(b"\n", 0, start) + 1,
        ) from None


def read_rows(body: str, columns: list[str], first_line: int, fail: Fail) -> pl.DataFrame:
    """Headerless, unquoted data lines as string columns; ParseError at the first line that is blank, short,
    long or has an empty field. `first_line` is the file line number of the body's first line."""
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
    row = first_row((fields != len(columns)) | lines.str.contains(r"(^|,)\s*(,|$)"))
    if row is None:
        raise fail("unreadable CSV", line=first_line)
    line, count = lines[row], fields[row]
    if not line.strip():
        raise fail("blank line among the data rows", line=first_line + row)
    if count != len(columns):
        raise fail(f"{count} fields, expected {len(columns)} (truncated line?)", line=first_line + row)
    empty = next(i for i, cell in enumerate(line.split(",")) if not cell.strip())
    raise fail("empty field", line=first_line + row, field=columns[empty])


def read_table(content: bytes, fail: Fail) -> tuple[pl.DataFrame, pl.Series]:
    """A CSV with a header line (quoted fields allowed) as string columns, and the file line of each row.

    A blank line reads as a row of nulls: it is dropped, without shifting the line numbers of the rows after
    it. A row with more fields than the header is a ParseError at its line."""
    try:
        frame = pl.read_csv(content, infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        line = ragged_line(content.decode("utf-8", errors="replace"))
        raise fail(f"malformed CSV: {str(exc).splitlines()[0]}", line=line) from None
    lines = pl.int_range(2, frame.height + 2, eager=True).alias("line")
    # an all-null row has a null first field: only then is it worth looking for blank rows
    if frame.width and frame.get_column(frame.columns[0]).has_nulls():
        data = frame.select(~pl.all_horizontal(pl.all().is_null())).to_series()
        frame, lines = frame.filter(data), lines.filter(data)
    return frame, lines


def ragged_line(text: str) -> int | None:
    """The line of the first CSV row (quotes honoured, blank lines skipped) whose field count differs from
    the header's. Slow, Python-level: for the error path only."""
    ragged = ragged_row(text)
    return ragged[0] if ragged is not None else None


def ragged_row(text: str) -> tuple[int, int, int] | None:
    """The first CSV row whose field count differs from the header's, as (line, its fields, the header's);
    quotes honoured, blank lines skipped. Slow, Python-level: for the error path only."""
    rows = csv.reader(io.StringIO(text))
    width = len(next(rows, []))
    for row in rows:
        if row and len(row) != width:
            return rows.line_num, len(row), width
    return None


def floats(frame: pl.DataFrame, columns: list[str], first_line: int, fail: Fail) -> pl.DataFrame:
    """Those columns as finite float64; ParseError naming the line and field of the first non-number."""
    numbers = frame.select(pl.col(c).cast(pl.Float64, strict=False) for c in columns)
    bad = numbers.select(pl.any_horizontal(pl.col(c).is_finite().not_().fill_null(True) for c in columns))
    row = first_row(bad.to_series())
    if row is not None:
        column = next(c for c in columns if numbers[c][row] is None or not math.isfinite(numbers[c][row]))
        raise fail(f"not a number: {frame[column][row]!r}", line=first_line + row, field=column)
    return numbers
