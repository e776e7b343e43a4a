"""The fast path for big CSVs: columns read in parallel blocks while the file is still being inflated.

A day of CAISO nodal prices is 800 MB of CSV. Reading it whole, then checking it, then parsing it passes over
the bytes several times and leaves a core idle. Here pyarrow's reader pulls blocks from a stream (a zip
member inflating on pyarrow's I/O thread) and parses them on every core, so the inflating, the checks and
the parsing overlap, and no copy of the whole text is ever held.

Only "plain" text takes this path: ASCII (so valid UTF-8 without decoding it), no quote character, every
line ending in a newline. On such text pyarrow, with quoting off, splits lines into the same fields as
polars (the exact path, which reports the line of any error); the quoting rules of the two differ. Fields
are read as text; numbers are then parsed by Arrow's cast, which refuses what polars refuses (a space or a
tab around a number, which pyarrow's CSV reader would skip). Anything else — a bad byte, a short line, a
bad number — gives None, and the caller takes its exact path, which finds and reports it.
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from typing import TypeAlias

import pyarrow as pa
import pyarrow.csv as pacsv

QUOTE = b'"'
Stream: TypeAlias = io.RawIOBase | io.BufferedIOBase


class PlainText(io.RawIOBase):
    """A stream passed through unchanged, noting whether all of it is plain (see the module) text."""

    def __init__(self, stream: Stream) -> None:
        super().__init__()
        self._stream = stream
        self.plain = True
        self._last = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        piece = self._stream.read(size)
        if piece and self.plain:
            self.plain = piece.isascii() and QUOTE not in piece
            self._last = piece[-1:]
        return piece

    @property
    def ends_with_newline(self) -> bool:
        return self._last == b"\n"


def read_plain_csv(stream: Stream, texts: list[str], numbers: list[str], block: int) -> pa.Table | None:
    """These columns of a CSV stream with a header line, `texts` as strings and `numbers` as float64, every
    line having the header's fields and no field asked for empty; None if the text is not plain, or not
    CSV of that shape, or a number does not parse, or the stream raises. `block` is the size of the pieces
    parsed in parallel."""
    text = PlainText(stream)
    try:
        table = pacsv.read_csv(
            text,
            read_options=pacsv.ReadOptions(block_size=block),
            parse_options=pacsv.ParseOptions(
                quote_char=False, double_quote=False, escape_char=False, ignore_empty_lines=False
            ),
            convert_options=pacsv.ConvertOptions(
                include_columns=[*texts, *numbers],
                column_types=dict.fromkeys([*texts, *numbers], pa.string()),
                null_values=[""],  # an empty field, and only that, is null: then it is found by null_count
                strings_can_be_null=True,
                check_utf8=False,  # all of the text is checked to be ASCII (PlainText), so valid UTF-8
            ),
        )
        if not (text.plain and text.ends_with_newline) or any(c.null_count for c in table.columns):
            return None
        for name in numbers:
            table = table.set_column(table.column_names.index(name), name, _parsed(table.column(name)))
    except Exception:
        return None  # whatever it was (shape, bytes, a number, a damaged stream), the exact path says where
    return table


# threads kept for the life of the process: Arrow's allocator gives back the memory of a thread that ends
_CASTS = ThreadPoolExecutor(2, thread_name_prefix="plaincsv-cast")


def _parsed(texts: pa.ChunkedArray) -> pa.ChunkedArray:
    """Numbers from their texts, the blocks parsed on two threads (a cast lets go of the GIL); raises if
    one does not parse."""
    return pa.chunked_array(_CASTS.map(lambda chunk: chunk.cast(pa.float64()), texts.chunks), pa.float64())
