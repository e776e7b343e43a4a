"""The fast CSV path: plain text is read; anything else is None, for the exact path to report."""

from __future__ import annotations

import io

import pyarrow as pa
import pytest

from marketintel.connectors.plaincsv import read_plain_csv

PLAIN = b"node,kind,price\n" + b"".join(b"N%02d,LMP,%d.5\n" % (n % 7, n) for n in range(3000))


def read(text: bytes, block: int = 1 << 12) -> pa.Table | None:
    return read_plain_csv(io.BytesIO(text), ["node"], ["price"], block)


def test_plain_text_is_read_in_blocks_with_only_the_columns_asked_for() -> None:
    table = read(PLAIN)
    assert table is not None
    assert table.column_names == ["node", "price"]
    assert table.num_rows == 3000
    assert table.column("node").num_chunks > 1  # parsed in blocks
    assert table.column("node").type == pa.string()
    assert table.column("node").to_pylist()[:8] == [
        *(f"N{n:02d}" for n in range(7)),
        "N00",
    ]
    assert table.column("price").to_pylist()[-1] == 2999.5


@pytest.mark.parametrize(
    "text",
    [
        PLAIN.replace(b"N03,LMP,10.5", b"N03,LMP, 10.5"),  # pyarrow's reader would skip it; polars refuses it
        PLAIN.replace(b"N03,LMP,10.5", b"N03,LMP,10.5\t"),
        PLAIN.replace(b"N03,LMP,10.5", b'"N03",LMP,10.5'),  # quoting: the exact path's rules
        PLAIN.replace(b"N03,LMP,10.5", b'N03,"LMP,10.5'),  # a quote even in a column not read
        PLAIN.replace(b"N03,LMP,10.5", "N03,LMÉ,10.5".encode()),  # not ASCII, even if valid UTF-8
        PLAIN.replace(b"N03,LMP,10.5", b"N03,LMP,x"),
        PLAIN.replace(b"N03,LMP,10.5", b",LMP,10.5"),  # an empty field asked for
        PLAIN.replace(b"N03,LMP,10.5", b"N03,LMP"),  # a line cut short
        PLAIN.replace(b"N03,LMP,10.5", b"N03,LMP,10.5,1"),  # a field too many
        PLAIN.replace(b"N03,LMP,10.5\n", b"N03,LMP,10.5\n\n"),  # a blank line
        PLAIN.replace(b"price", b"value"),  # a column missing
        PLAIN[:-1],  # no newline at the end
    ],
    ids=[
        "space",
        "tab",
        "quoted",
        "quote elsewhere",
        "non-ASCII",
        "not a number",
        "empty field",
        "short line",
        "long line",
        "blank line",
        "missing column",
        "no final newline",
    ],
)
def test_anything_not_plain_is_none(text: bytes) -> None:
    assert read(PLAIN) is not None
    assert read(text) is None


def test_an_empty_field_not_asked_for_is_fine() -> None:
    assert read(PLAIN.replace(b"N03,LMP,10.5", b"N03,,10.5")) is not None


def test_a_stream_that_fails_is_none() -> None:
    class Broken(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def read(self, size: int | None = -1) -> bytes:
            raise EOFError("compressed data ended before the end-of-stream marker was reached")

    assert read_plain_csv(Broken(), ["node"], ["price"], 1 << 12) is None


def test_a_space_in_a_text_is_kept_as_polars_keeps_it() -> None:
    table = read(PLAIN.replace(b"N03,LMP,10.5", b"N 03,LMP,10.5"))
    assert table is not None
    assert "N 03" in table.column("node").to_pylist()
