"""connectors/blocks.py: text columns coded by the file's block layout, or row by row when it has none."""

from __future__ import annotations

import itertools

import pyarrow as pa
import pytest

from marketintel.connectors.blocks import Layout, block_layout, row_layout

NODES = ["N2", "N1", "N3"]
TIMES = ["07:00", "07:05"]
KINDS = ["LMP", "MCE", "MCC"]


def node_major() -> list[tuple[str, str, str]]:
    return [(n, t, k) for n, t, k in itertools.product(NODES, TIMES, KINDS)]


def time_major() -> list[tuple[str, str, str]]:
    return [(n, t, k) for t, n, k in itertools.product(TIMES, NODES, KINDS)]


def columns(rows: list[tuple[str, str, str]], chunk: int | None = None) -> dict[str, pa.ChunkedArray]:
    """NODE, START, TYPE and a constant RUN, in chunks of `chunk` rows (one chunk if None)."""
    named = {"NODE": [r[0] for r in rows], "START": [r[1] for r in rows], "TYPE": [r[2] for r in rows]}
    named["RUN"] = ["RTM"] * len(rows)
    size = chunk or len(rows)
    return {
        name: pa.chunked_array(
            [pa.array(texts[i : i + size]) for i in range(0, len(texts), size)], pa.string()
        )
        for name, texts in named.items()
    }


def spelled_out(layout: Layout, name: str) -> list[str]:
    coded = layout.columns[name]
    return coded.dictionary.take(pa.array(layout.rows(coded))).to_pylist()


def assert_codes_give_back(layout: Layout, texts: dict[str, pa.ChunkedArray]) -> None:
    for name, column in texts.items():
        assert spelled_out(layout, name) == column.to_pylist(), name


@pytest.mark.parametrize("chunk", [None, 4, 5, 7], ids=["one chunk", "chunks of 4", "of 5", "of 7"])
def test_node_by_node_rows_are_blocks_of_one_node(chunk: int | None) -> None:
    texts = columns(node_major(), chunk)
    layout = block_layout(texts)
    assert layout is not None
    assert (layout.blocks, layout.block) == (len(NODES), len(TIMES) * len(KINDS))
    assert layout.columns["NODE"].per_block
    assert not layout.columns["START"].per_block
    assert not layout.columns["TYPE"].per_block
    # each distinct text coded once: the node's per block, the times and kinds per position in the block
    assert len(layout.columns["NODE"].codes) == len(NODES)
    assert len(layout.columns["TYPE"].codes) == len(TIMES) * len(KINDS)
    assert_codes_give_back(layout, texts)


@pytest.mark.parametrize("chunk", [None, 3, 4], ids=["one chunk", "chunks of 3", "of 4"])
def test_interval_by_interval_rows_are_blocks_of_one_interval(chunk: int | None) -> None:
    texts = columns(time_major(), chunk)
    layout = block_layout(texts)
    assert layout is not None
    assert (layout.blocks, layout.block) == (len(TIMES), len(NODES) * len(KINDS))
    assert layout.columns["START"].per_block
    assert not layout.columns["NODE"].per_block
    assert_codes_give_back(layout, texts)


@pytest.mark.parametrize(
    "rows",
    [
        # two rows of the second node swapped: its block differs from the others
        [*node_major()[:6], node_major()[7], node_major()[6], *node_major()[8:]],
        # one node lacks a component: its block is shorter
        [r for r in node_major() if r != ("N1", "07:05", "MCC")],
        # rows in no order
        [*sorted(node_major(), key=lambda r: (r[2], r[0], r[1]))[::-1][:-1], node_major()[0]],
    ],
    ids=["a block out of order", "a block short", "no blocks"],
)
def test_rows_without_equal_blocks_have_no_block_layout_and_are_coded_row_by_row(
    rows: list[tuple[str, str, str]],
) -> None:
    texts = columns(rows, chunk=5)
    assert block_layout(texts) is None
    layout = row_layout(texts)
    assert (layout.blocks, layout.block) == (len(rows), 1)
    assert_codes_give_back(layout, texts)


def test_a_column_of_one_text_is_coded_once_and_no_rows_have_no_layout() -> None:
    texts = columns(node_major(), chunk=4)
    layout = block_layout(texts)
    assert layout is not None
    run = layout.columns["RUN"]
    assert run.dictionary.to_pylist() == ["RTM"]
    assert not run.codes.any()
    assert block_layout({"NODE": pa.chunked_array([], pa.string())}) is None
