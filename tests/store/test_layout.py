"""Entity order: sorts by market, run, location, time; finds repeated entities; keeps values intact."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute
import pytest

from marketintel.store.layout import entity_order, sort_columns
from marketintel.store.models import FUNDAMENTALS, PRICES
from tests.store.factories import LEARNED, T0, prices


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
    # neighbours at the same time are told apart by the location
    assert not entity_order(PRICES, prices(locations=("INDIANA.HUB", "ILLINOIS.HUB"), count=1)).repeats
    assert entity_order(
        PRICES, prices(locations=("INDIANA.HUB", "ILLINOIS.HUB", "INDIANA.HUB"), count=2)
    ).repeats


def test_small_and_large_reads_resolve_revisions_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    from marketintel.store.engines import base

    original = prices(locations=("INDIANA.HUB", "ILLINOIS.HUB"), count=40)
    revised = prices(locations=("INDIANA.HUB",), count=10, base=90.0, learned=LEARNED + dt.timedelta(days=1))
    reverted = prices(locations=("INDIANA.HUB",), count=3, base=10.0, learned=LEARNED + dt.timedelta(days=2))
    table = pa.concat_tables([revised, original, reverted])
    small = base.latest_revisions(PRICES.schema, table, ["location", "interval_start"])
    monkeypatch.setattr(base, "SMALL_READ", 0)
    large = base.latest_revisions(PRICES.schema, table, ["location", "interval_start"])
    assert small.equals(large)
    assert small.num_rows == 80
    indiana = (
        small.filter(pa.compute.equal(small.column("location"), "INDIANA.HUB")).column("lmp").to_pylist()
    )
    assert indiana[:3] == [10.0, 11.0, 12.0]
    assert indiana[3:10] == [93.0, 94.0, 95.0, 96.0, 97.0, 98.0, 99.0]
    assert indiana[10] == 40.0


def test_rows_already_in_entity_order_come_back_as_they_are() -> None:
    from marketintel.store.engines import base

    table = prices(locations=("ILLINOIS.HUB", "INDIANA.HUB"), count=5)
    table = table.sort_by([("location", "ascending"), ("interval_start", "ascending")])
    assert base.latest_revisions(PRICES.schema, table, ["location", "interval_start"]).equals(table)
    shuffled = table.take(pa.array([9, 3, 0, 7, 5, 1, 8, 2, 6, 4]))
    assert base.latest_revisions(PRICES.schema, shuffled, ["location", "interval_start"]).equals(table)
    assert (
        base.latest_revisions(PRICES.schema, table.slice(0, 0), ["location", "interval_start"]).num_rows == 0
    )
    assert (
        base.latest_revisions(PRICES.schema, table.slice(0, 1), ["location", "interval_start"]).num_rows == 1
    )


def test_a_batch_already_in_entity_order_is_neither_sorted_nor_gathered() -> None:
    ordered = pa.concat_tables(
        [prices(locations=("AMIL.BGS6",), count=4), prices(locations=("INDIANA.HUB",), count=4)]
    )
    order = entity_order(PRICES, ordered)
    assert order.indices is None
    assert not order.repeats
    assert order.take(ordered) is ordered
    laid_out = order.sorted_for_insert(ordered)
    assert laid_out.column("lmp").to_pylist() == ordered.column("lmp").to_pylist()
    assert pa.types.is_dictionary(laid_out.schema.field("location").type)
    # the same rows with one pair swapped: sorted again, back to the order above
    swapped = ordered.take([0, 1, 2, 4, 3, 5, 6, 7])
    resorted = entity_order(PRICES, swapped)
    assert resorted.indices is not None
    assert resorted.take(swapped).equals(ordered)
    # in order with an entity twice (ties allowed): still found
    twice = pa.concat_tables([prices(count=2), prices(count=2)]).take([0, 2, 1, 3])
    again = entity_order(PRICES, twice)
    assert again.indices is None
    assert again.repeats
