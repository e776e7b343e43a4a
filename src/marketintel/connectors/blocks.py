"""Codes for the long text columns of a file laid out in equal blocks, without hashing every row.

A big market file is a product: OASIS writes, for each interval, every node's components in the same order
(or, for each node, every interval). One column (the interval, or the node) is then constant over blocks of
P rows, and the others repeat the same P values in every block. Coding 4.6 M texts row by row (hashing each)
costs more than reading them; here a column constant over blocks is coded from its runs, one text per run,
and a repeating column from its first block, found equal to every other block by one vectorised comparison.
A file laid out any other way gives None, and the caller codes it row by row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class Coded:
    """A text column's codes (int32) into its distinct texts: one per block, for a column constant over
    each block, or one per position in a block, for a column that repeats in every block."""

    codes: np.ndarray
    dictionary: pa.Array
    per_block: bool


@dataclass(frozen=True)
class Layout:
    """Rows as `blocks` blocks of `block` rows (row = block index × `block` + position), and the columns'
    codes in those terms."""

    blocks: int
    block: int
    columns: dict[str, Coded]

    def rows(self, coded: Coded) -> np.ndarray:
        """A column's codes spelled out row by row."""
        if coded.per_block:
            return np.repeat(coded.codes, self.block)
        return np.tile(coded.codes, self.blocks)


def block_layout(columns: dict[str, pa.ChunkedArray]) -> Layout | None:
    """These (equally long, null-free text) columns' layout, if all of them are constant over, or repeat
    with, one block length; else None."""
    rows = len(next(iter(columns.values())))
    if not rows:
        return None
    # the column whose first run is longest is the one constant over blocks (the node, or the interval),
    # unless that run is the whole column (the run id), which is constant over any blocks
    first_runs = {name: _first_run(column) for name, column in columns.items()}
    leader = max((n for n, run in first_runs.items() if run is not None), key=first_runs.get, default=None)
    if leader is None:
        return None
    runs = _runs(columns[leader])
    if runs is None or len(runs[1]) < 2 or (runs[1] != runs[1][0]).any() or rows % int(runs[1][0]):
        return None
    block = int(runs[1][0])
    coded = {}
    for name, column in columns.items():
        if first_runs[name] is None:  # one text throughout
            text = column.slice(0, 1).combine_chunks()
            coded[name] = Coded(np.zeros(rows // block, np.int32), text, per_block=True)
            continue
        if name != leader and _repeats_every(column, block):
            encoded = pc.dictionary_encode(column.slice(0, block).combine_chunks())
            coded[name] = Coded(encoded.indices.to_numpy(), encoded.dictionary, per_block=False)
            continue
        found = runs if name == leader else _runs(column)
        if found is None or (np.cumsum(found[1]) % block).any():
            return None
        values, lengths = found  # constant over each block: one text per run, a run being whole blocks
        encoded = pc.dictionary_encode(values)
        per_block = np.repeat(encoded.indices.to_numpy(), lengths // block)
        coded[name] = Coded(per_block, encoded.dictionary, per_block=True)
    return Layout(rows // block, block, coded)


def row_layout(columns: dict[str, pa.ChunkedArray]) -> Layout:
    """Any rows as blocks of one row: every row's text hashed (for a file laid out no other way)."""
    coded = {}
    for name, column in columns.items():
        encoded = pc.dictionary_encode(column).unify_dictionaries()
        codes = np.concatenate([c.indices.to_numpy() for c in encoded.chunks])
        coded[name] = Coded(codes, encoded.chunk(0).dictionary, per_block=True)
    rows = len(next(iter(columns.values())))
    return Layout(rows, 1, coded)


def _first_run(column: pa.ChunkedArray) -> int | None:
    """How many rows the first run of equal texts spans (across chunks); None if it spans the column."""
    chunks = [chunk for chunk in column.chunks if len(chunk)]
    runs = pc.run_end_encode(chunks[0])
    if len(runs.values) > 1:
        return int(runs.run_ends[0].as_py())
    first = runs.values[0]
    if pc.all(pc.equal(column, first)).as_py():
        return None  # one text throughout
    length = 0
    for chunk in chunks:  # a run longer than a chunk: rare, and not long to walk
        runs = pc.run_end_encode(chunk)
        if runs.values[0] != first:
            return length
        length += int(runs.run_ends[0].as_py())
        if len(runs.values) > 1:
            return length
    return length


def _runs(column: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray] | None:
    """The column's runs of equal texts, as their texts and lengths; None if most runs are one row long
    (nothing to gain). A run that a chunk boundary splits is one run."""
    encoded = [chunk for chunk in pc.run_end_encode(column).chunks if len(chunk)]
    if not encoded or sum(len(c.values) for c in encoded) * 2 > len(column):
        return None
    values = pa.concat_arrays([c.values for c in encoded])
    lengths = np.concatenate([np.diff(c.run_ends.to_numpy(), prepend=0) for c in encoded])
    # where one chunk's last run and the next one's first hold the same text, they are one run
    firsts = np.cumsum([0, *(len(c.values) for c in encoded[:-1])])[1:]
    split = [i for i in firsts if values[i - 1].as_py() == values[i].as_py()]
    if split:
        keep = np.ones(len(values), bool)
        for i in reversed(split):  # from the end, so a run split more than once adds up whole
            lengths[i - 1] += lengths[i]
            keep[i] = False
        values, lengths = values.filter(pa.array(keep)), lengths[keep]
    return values, lengths


def _repeats_every(column: pa.ChunkedArray, block: int) -> bool:
    """Whether every block of `block` rows holds the same texts as the first."""
    rows = len(column)
    if rows == block:
        return True
    same = pc.equal(column.slice(block), column.slice(0, rows - block))
    return bool(pc.all(same).as_py())
