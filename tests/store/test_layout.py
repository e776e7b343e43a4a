"""Entity order: sorts by market, run, location, time; finds repeated entities; keeps values intact."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from marketintel.store.layout import entity_order, sort_columns
from marketintel.store.models import FUNDAMENTALS, PRICES
from tests.store.factories import T0, prices


def test_prices_sort_by_market_run_location_then_time() -> None:
    assert sort_columns(PRICES) == ("market", "run", "location", "interval_start")
    assert sort_columns(FUNDAMENTALS) == ("series_id", "interval_start")
    feed = pa.concat_tables(
        [
            prices(
                locations=("INDIANA.HUB", "AMIL.BGS6"),
                start=T0 + dt.timedelta(minutes=5 * i),
                count=1,
                base=float(i),
            )
            for i in range(3)
        ]
    )
    order = entity_order(PRICES, feed)
    assert not order.repeats
    laid_out = order.sorted_for_insert(feed)
    assert laid_out.column("location").to_pylist() == ["AMIL.BGS6"] * 3 + ["INDIANA.HUB"] * 3
    assert (
        laid_out.column("interval_start").to_pylist()
        == [T0 + dt.timedelta(minutes=5 * i) for i in range(3)] * 2
    )
    assert pa.types.is_dictionary(laid_out.schema.field("location").type)
    assert laid_out.column("lmp").to_pylist() == [0.01, 1.01, 2.01, 0.0, 1.0, 2.0]
    assert laid_out.column("source_file_sha256").cast(pa.string()).to_pylist() == ["0" * 64] * 6


def test_a_repeated_entity_is_found_wherever_it_sits_in_the_batch() -> None:
    batch = pa.concat_tables([prices(count=5), prices(locations=("ILLINOIS.HUB",), count=5), prices(count=1)])
    assert entity_order(PRICES, batch).repeats
    assert not entity_order(PRICES, prices(count=5)).repeats
    assert not entity_order(PRICES, prices(count=1)).repeats
