"""`mapped_prices`: the canonical table from arrays of any kind, scalars broadcast, unpublished parts null."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from marketintel.connectors.models import MAPPED_PRICES, Column, mapped_prices
from marketintel.store.coded import CODED_TEXT, decoded

UTC = dt.UTC
STARTS = [dt.datetime(2024, 11, 3, 5, tzinfo=UTC), dt.datetime(2024, 11, 3, 6, tzinfo=UTC)]


def columns(**overrides: Column) -> dict[str, Column]:
    """Two rows of a source that publishes only the LMP; `overrides` replace any column."""
    base: dict[str, Column] = {
        "market": "MISO",
        "location": pl.Series(["A", "B"]),
        "run": "DA",
        "interval_start": pa.array(STARTS, pa.timestamp("us", tz="UTC")),
        "interval_minutes": 60,
        "lmp": np.array([1.5, 2.5]),
        "energy": None,
        "congestion": None,
        "loss": None,
    }
    return base | overrides


def test_scalars_are_broadcast_and_none_is_a_typed_null() -> None:
    table = mapped_prices(columns())
    assert decoded(table, MAPPED_PRICES).schema == MAPPED_PRICES
    # a text every row shares is coded: one value, not a copy per row
    assert table.schema.field("market").type == table.schema.field("run").type == CODED_TEXT
    assert table.column("run").chunk(0).dictionary.to_pylist() == ["DA"]
    assert table.to_pylist() == [
        {
            "market": "MISO",
            "location": location,
            "run": "DA",
            "interval_start": start,
            "interval_minutes": 60,
            "lmp": lmp,
            "energy": None,
            "congestion": None,
            "loss": None,
        }
        for location, start, lmp in zip(["A", "B"], STARTS, [1.5, 2.5], strict=True)
    ]


@pytest.mark.parametrize("array", [pl.Series, pa.array, np.array], ids=["polars", "arrow", "numpy"])
def test_polars_arrow_and_numpy_columns_give_the_same_table(array: Callable[[list[object]], Column]) -> None:
    table = mapped_prices(
        columns(
            location=array(["A", "B"]),
            interval_minutes=array([5, 15]),
            lmp=array([1.0, -2.0]),
            energy=array([0.5, -1.0]),
            congestion=pa.chunked_array([[0.25], [-0.5]]),
            loss=0.25,
        )
    )
    assert decoded(table, MAPPED_PRICES).schema == MAPPED_PRICES
    assert table.to_pydict() | {"interval_start": None} == {
        "market": ["MISO", "MISO"],
        "location": ["A", "B"],
        "run": ["DA", "DA"],
        "interval_start": None,
        "interval_minutes": [5, 15],
        "lmp": [1.0, -2.0],
        "energy": [0.5, -1.0],
        "congestion": [0.25, -0.5],
        "loss": [0.25, 0.25],
    }


def test_an_empty_table_keeps_the_schema() -> None:
    table = mapped_prices(
        columns(
            location=pl.Series([], dtype=pl.String),
            interval_start=pl.Series([], dtype=pl.Datetime("us", "UTC")),
            lmp=pl.Series([], dtype=pl.Float64),
        )
    )
    assert table.num_rows == 0
    assert decoded(table, MAPPED_PRICES).schema == MAPPED_PRICES


def test_columns_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="one common length"):
        mapped_prices(columns(lmp=np.array([1.0, 2.0, 3.0])))


def test_a_table_of_scalars_alone_has_no_length() -> None:
    with pytest.raises(ValueError, match="no array column"):
        mapped_prices(columns(location="A", interval_start=None, lmp=1.0))


def test_a_missing_or_unknown_column_is_refused() -> None:
    named = columns()
    named["los"] = named.pop("loss")
    with pytest.raises(ValueError, match=r"missing \{'loss'\}, unknown \{'los'\}"):
        mapped_prices(named)
