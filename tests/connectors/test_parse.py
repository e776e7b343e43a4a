"""`parse_payload` output order: rows sorted by location, run, interval_start; a sorted table kept as is."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from marketintel.connectors.parse import ORDER, in_order

HOURS = [dt.datetime(2024, 11, 3, h, tzinfo=dt.UTC) for h in range(3)]


def table(locations: list[str], runs: list[str], starts: list[dt.datetime]) -> pa.Table:
    return pa.table(
        {
            "location": locations,
            "run": runs,
            "interval_start": pa.array(starts, pa.timestamp("us", tz="UTC")),
        }
    )


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ((["A", "A", "B"], ["DA", "DA", "DA"], [HOURS[0], HOURS[1], HOURS[0]]), True),
        ((["A", "A", "A"], ["DA", "DA", "DA"], [HOURS[0], HOURS[0], HOURS[1]]), True),  # ties are in order
        ((["A", "A", "B"], ["DA", "DA", "DA"], [HOURS[1], HOURS[0], HOURS[2]]), False),  # time goes back
        ((["A", "A", "A"], ["RT5", "DA", "DA"], [HOURS[0], HOURS[1], HOURS[2]]), False),  # run goes back
        ((["B", "A"], ["DA", "DA"], [HOURS[0], HOURS[1]]), False),  # location goes back, times forward
        ((["A", "B"], ["RT5", "DA"], [HOURS[2], HOURS[0]]), True),  # a later location resets the rest
        (([], [], []), True),
        ((["A"], ["DA"], [HOURS[0]]), True),
    ],
)
def test_in_order_compares_each_row_with_the_next_key_by_key(
    rows: tuple[list[str], list[str], list[dt.datetime]], expected: bool
) -> None:
    assert in_order(table(*rows), ORDER) is expected


def test_in_order_reads_across_chunk_boundaries() -> None:
    sorted_rows = table(["A", "A", "B", "B"], ["DA"] * 4, [HOURS[0], HOURS[1], HOURS[0], HOURS[1]])
    chunked = pa.concat_tables([sorted_rows.slice(0, 1), sorted_rows.slice(1, 2), sorted_rows.slice(3)])
    assert chunked.column("location").num_chunks == 3
    assert in_order(chunked, ORDER)
    swapped = pa.concat_tables([sorted_rows.slice(2, 1), sorted_rows.slice(0, 2), sorted_rows.slice(3)])
    assert not in_order(swapped, ORDER)


def test_in_order_reads_coded_locations_by_their_text_not_their_codes() -> None:
    # codes 1, 1, 0 into ["B", "A"]: A, A, B — in order, though the codes go down
    coded = pa.DictionaryArray.from_arrays(pa.array([1, 1, 0], pa.int32()), pa.array(["B", "A"]))
    rows = table(["A", "A", "B"], ["DA"] * 3, [HOURS[0], HOURS[1], HOURS[0]])
    assert in_order(rows.set_column(0, "location", coded), ORDER)
    backwards = pa.DictionaryArray.from_arrays(pa.array([0, 1, 1], pa.int32()), pa.array(["B", "A"]))
    assert not in_order(rows.set_column(0, "location", backwards), ORDER)
