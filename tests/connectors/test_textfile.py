"""The SDK's CSV-as-text helpers: every broken file is a ParseError at the first bad line (and field)."""

from __future__ import annotations

from functools import partial

import polars as pl
import pytest

from marketintel.connectors.models import ParseError
from marketintel.connectors.textfile import decode, floats, ragged_line, read_rows, read_table

fail = partial(ParseError, "test-source", "prices.csv")
COLUMNS = ["node", "he1", "he2"]


def refused(call: object, *args: object, **kwargs: object) -> ParseError:
    with pytest.raises(ParseError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    assert caught.value.file == "prices.csv"
    return caught.value


# --- decode -------------------------------------------------------------------------------------------


def test_decode_drops_a_byte_order_mark() -> None:
    assert decode(b"\xef\xbb\xbfa,b\n", fail) == "a,b\n"


def test_decode_can_keep_a_byte_order_mark() -> None:
    assert decode(b"\xef\xbb\xbfa,b\n", fail, bom=False) == "\ufeffa,b\n"


def test_a_byte_that_is_not_utf8_is_named_with_its_line_and_offset() -> None:
    error = refused(decode, b"a,b\nc,d\ne,\xe9\n", fail)
    assert (error.line, error.field) == (3, None)
    assert error.reason == "not UTF-8 text: byte 0xe9 at offset 10"


def test_the_offset_and_byte_are_the_files_even_after_a_byte_order_mark() -> None:
    error = refused(decode, b"\xef\xbb\xbfa\n\xff\n", fail)
    assert error.line == 2
    assert error.reason == "not UTF-8 text: byte 0xff at offset 5"


def test_decode_as_ascii() -> None:
    assert decode(b"plain\n", fail, encoding="ascii") == "plain\n"
    error = refused(decode, b"x\n\xc3\xa9\n", fail, encoding="ascii", bom=False)
    assert (error.line, error.reason) == (2, "not ASCII text: byte 0xc3 at offset 2")


# --- read_rows (headerless, unquoted, no empty fields) -----------------------------------------------


def test_read_rows_gives_string_columns() -> None:
    frame = read_rows("A,1,2\nB,3,4\n", COLUMNS, 6, fail)
    assert frame.columns == COLUMNS
    assert frame.schema == dict.fromkeys(COLUMNS, pl.String)
    assert frame.rows() == [("A", "1", "2"), ("B", "3", "4")]


def test_read_rows_accepts_crlf() -> None:
    assert read_rows("A,1,2\r\nB,3,4\r\n", COLUMNS, 6, fail).height == 2


@pytest.mark.parametrize(
    ("body", "line", "field", "reason"),
    [
        ("", 6, None, "no data rows (truncated file?)"),
        ("A,1,2\nB,3", 7, None, "truncated: the last line has no line end"),
        ("A,1,2\n\nB,3,4\n", 7, None, "blank line among the data rows"),
        ("A,1,2\nB,3\nC,5,6\n", 7, None, "2 fields, expected 3 (truncated line?)"),
        ("A,1,2\nB,3,4\nC,5,6,7\n", 8, None, "4 fields, expected 3 (truncated line?)"),
        ("A,1,2\nB,,4\n", 7, "he1", "empty field"),
        ("A,1,\n", 6, "he2", "empty field"),
    ],
    ids=["empty", "no line end", "blank line", "short line", "long line", "empty field", "empty last field"],
)
def test_read_rows_names_the_first_bad_line(body: str, line: int, field: str | None, reason: str) -> None:
    error = refused(read_rows, body, COLUMNS, 6, fail)
    assert (error.line, error.field, error.reason) == (line, field, reason)


# --- read_table (a header, quotes, blank lines skipped) ----------------------------------------------


def test_read_table_numbers_rows_by_file_line_across_blank_lines() -> None:
    frame, lines = read_table(b'"Name","Price"\r\n"A, Inc.",1.5\r\n\r\n"B",2\r\n\r\n"C",3\r\n', fail)
    assert frame.columns == ["Name", "Price"]
    assert frame.rows() == [("A, Inc.", "1.5"), ("B", "2"), ("C", "3")]
    assert lines.to_list() == [2, 4, 6]


def test_read_table_without_blank_lines_numbers_from_two() -> None:
    frame, lines = read_table(b"a,b\n1,2\n3,4\n", fail)
    assert frame.height == 2
    assert lines.to_list() == [2, 3]


def test_a_row_longer_than_the_header_is_refused_at_its_line() -> None:
    error = refused(read_table, b'a,b\n1,2\n"x,y",3\n4,5,6\n7,8\n', fail)
    assert error.line == 4
    assert error.reason.startswith("malformed CSV: ")


def test_ragged_line_honours_quotes_and_skips_blank_lines() -> None:
    assert ragged_line('a,b\n"1,5",2\n\n3,4\n') is None
    assert ragged_line('a,b\n"1,5",2\n\n3\n') == 4


# --- floats ---------------------------------------------------------------------------------------------


def test_floats_converts_the_named_columns() -> None:
    frame = pl.DataFrame({"node": ["A", "B"], "he1": ["1.5", "-2"], "he2": ["3", "1e3"]})
    numbers = floats(frame, ["he1", "he2"], 6, fail)
    assert numbers.schema == {"he1": pl.Float64, "he2": pl.Float64}
    assert numbers.rows() == [(1.5, 3.0), (-2.0, 1000.0)]


@pytest.mark.parametrize("bad", ["n/a", "NaN", "inf", "1e400", ""])
def test_floats_names_the_line_and_field_of_the_first_non_number(bad: str) -> None:
    # row 1 has the bad value in he2, row 2 in he1: the first LINE wins, not the first column
    frame = pl.DataFrame({"node": ["A", "B", "C"], "he1": ["1", "2", bad], "he2": ["3", bad, "4"]})
    error = refused(floats, frame, ["he1", "he2"], 6, fail)
    assert (error.line, error.field, error.reason) == (7, "he2", f"not a number: {bad!r}")
