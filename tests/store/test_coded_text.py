"""Coded text (store/coded.py): a batch whose text columns come as dictionaries is written, checked and
read back exactly as the same batch in plain text, on every engine."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from marketintel.store.coded import CODED_TEXT, coded_constant, decoded, distinct_rows, one_text_columns
from marketintel.store.models import PRICES
from marketintel.store.service import TimeSeriesStore
from marketintel.store.validation import BatchRejected
from tests.store.factories import T0, prices

END = T0 + dt.timedelta(days=1)
KEY = ["location", "interval_start"]


def coded(batch: pa.Table) -> pa.Table:
    """The batch with its locations coded into a dictionary out of name order, holding a name twice and
    a name no row uses, and its market, run and source as one-value dictionaries."""
    names = ["ZZ.UNUSED", "INDIANA.HUB", "AMIL.BGS6", "INDIANA.HUB", "ILLINOIS.HUB"]
    first_of = {name: names.index(name) for name in names}
    locations = batch.column("location").to_pylist()
    # the second INDIANA.HUB entry (3) for every other row of it: equal texts under two codes
    indices = [3 if name == "INDIANA.HUB" and i % 2 else first_of[name] for i, name in enumerate(locations)]
    rows = batch.num_rows
    columns = {
        "location": pa.DictionaryArray.from_arrays(pa.array(indices, pa.int32()), pa.array(names)),
        **{name: coded_constant(batch.column(name)[0].as_py(), rows) for name in ("market", "run", "source")},
    }
    for name, column in columns.items():
        batch = batch.set_column(batch.schema.get_field_index(name), name, column)
    return batch


def by_key(table: pa.Table) -> pa.Table:
    return table.sort_by([(c, "ascending") for c in KEY])


def test_a_coded_batch_is_written_and_read_as_the_plain_one(store: TimeSeriesStore) -> None:
    plain = prices(locations=("INDIANA.HUB", "ILLINOIS.HUB", "AMIL.BGS6"), count=6)
    # rows out of entity order, so the store sorts them by the coded locations' texts
    shuffled = plain.take(pa.array([(i * 7) % plain.num_rows for i in range(plain.num_rows)]))
    result = store.write_prices(coded(shuffled))
    assert result.written == plain.num_rows
    assert result.rows is not None
    assert result.rows.schema == PRICES.schema  # what leaves the write path is plain text
    assert by_key(result.rows).equals(by_key(plain))
    read = store.prices(market="MISO", run="RT5", start=T0, end=END)
    assert by_key(read.select(PRICES.columns)).equals(by_key(plain))
    # the same rows again, coded or plain, are known facts: nothing new
    assert store.write_prices(coded(plain)).written == 0
    assert store.write_prices(plain).written == 0


def test_a_coded_revision_is_a_revision(store: TimeSeriesStore) -> None:
    store.write_prices(prices(count=4))
    later = prices(count=4, learned=T0 + dt.timedelta(days=9), base=31.0)
    assert store.write_prices(coded(later)).written == 4


def test_a_coded_unknown_market_or_location_is_refused_naming_the_row(store: TimeSeriesStore) -> None:
    batch = coded(prices(count=3))
    unknown = batch.set_column(0, "market", coded_constant("NOWHERE", batch.num_rows))
    with pytest.raises(BatchRejected, match=r"column 'market' row 0: unknown value 'NOWHERE'"):
        store.write_prices(unknown)
    names = pa.array(["INDIANA.HUB", "NOT.REGISTERED"])
    stray = pa.DictionaryArray.from_arrays(pa.array([0, 1, 0], pa.int32()), names)
    with pytest.raises(BatchRejected, match=r"row 1: unknown instrument .*NOT\.REGISTERED"):
        store.write_prices(batch.set_column(1, "location", stray))


def test_distinct_rows_from_codes_are_the_groups_of_the_plain_texts() -> None:
    batch = coded(prices(locations=("INDIANA.HUB", "AMIL.BGS6"), count=5))
    found = distinct_rows(batch, ["market", "location"]).to_pylist()
    plain = decoded(batch, PRICES.schema).group_by(["market", "location"]).aggregate([]).to_pylist()
    # the dictionary holds INDIANA.HUB twice (both used): from the codes it may appear twice
    assert {tuple(r.values()) for r in found} == {tuple(r.values()) for r in plain}
    assert len(found) == 3


def test_only_a_coded_text_of_one_value_and_no_nulls_is_a_constant() -> None:
    rows = 4
    table = pa.table(
        {
            "run": coded_constant("RT5", rows),
            "market": pa.array(["MISO"] * rows),  # plain: not looked at
            "location": pa.DictionaryArray.from_arrays(
                pa.array([0, 1, 0, 1], pa.int32()), pa.array(["A", "B"])
            ),
            "file": pa.DictionaryArray.from_arrays(pa.array([0, None, 0, 0], pa.int32()), pa.array(["f"])),
        }
    )
    assert one_text_columns(table) == {"run": "RT5"}
    assert table.schema.field("run").type == CODED_TEXT
    assert pc.all(pc.equal(table.column("run"), "RT5")).as_py()
