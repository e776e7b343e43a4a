"""One suite for every time-series engine: the same behaviour on DuckDB and on ClickHouse (chdb)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from marketintel.store.models import CURVE_POINTS, FORWARD_QUOTES, FUNDAMENTALS, PRICES, SERIES_SCHEMA
from marketintel.store.service import TimeSeriesStore
from marketintel.store.validation import BatchRejected
from tests.store.factories import LEARNED, T0, UTC, prices

END = T0 + dt.timedelta(days=1)


def price_count(store: TimeSeriesStore) -> int:
    return int(store.query(f"SELECT count(*) AS n FROM {PRICES.name}").column("n")[0].as_py())


def lmps(table: pa.Table) -> list[float]:
    return table.column("lmp").to_pylist()


def with_column(table: pa.Table, name: str, values: list[object]) -> pa.Table:
    index = table.schema.get_field_index(name)
    return table.set_column(index, table.schema.field(name), pa.array(values, table.schema.field(name).type))


def test_written_prices_read_back_in_utc(store: TimeSeriesStore) -> None:
    batch = prices(locations=("INDIANA.HUB", "ILLINOIS.HUB"))
    result = store.write_prices(batch)
    assert (result.received, result.written, result.unchanged) == (24, 24, 0)
    read = store.prices(market="MISO", run="RT5", start=T0, end=END)
    assert read.num_rows == 24
    assert read.schema.field("interval_start").type == pa.timestamp("us", tz="UTC")
    assert read.column("location").to_pylist() == ["ILLINOIS.HUB"] * 12 + ["INDIANA.HUB"] * 12
    first = read.slice(12, 1).to_pylist()[0]
    assert first["interval_start"] == T0
    assert first["lmp"] == 30.0
    assert (first["energy"], first["congestion"], first["loss"]) == (28.5, 1.0, 0.5)


def test_writing_the_same_batch_twice_writes_nothing_new(store: TimeSeriesStore) -> None:
    batch = prices(count=24)
    store.write_prices(batch)
    again = store.write_prices(batch)
    assert (again.written, again.unchanged) == (0, 24)
    assert price_count(store) == 24


def test_same_values_learned_again_later_is_not_a_revision(store: TimeSeriesStore) -> None:
    store.write_prices(prices())
    relearned = store.write_prices(prices(learned=LEARNED + dt.timedelta(days=3)))
    assert relearned.written == 0
    assert price_count(store) == 12


def test_changed_value_is_a_new_revision_and_old_one_stays_visible_as_of(store: TimeSeriesStore) -> None:
    store.write_prices(prices())
    corrected_at = LEARNED + dt.timedelta(days=2)
    corrected = prices(learned=corrected_at)
    corrected = with_column(corrected, "lmp", [99.0 if i == 3 else v for i, v in enumerate(lmps(corrected))])
    assert store.write_prices(corrected).written == 1
    assert price_count(store) == 13

    latest = store.prices(market="MISO", run="RT5", start=T0, end=END)
    assert lmps(latest)[3] == 99.0
    before = store.prices(
        market="MISO", run="RT5", start=T0, end=END, as_of=corrected_at - dt.timedelta(seconds=1)
    )
    assert lmps(before)[3] == 33.0
    at = store.prices(market="MISO", run="RT5", start=T0, end=END, as_of=corrected_at)
    assert lmps(at)[3] == 99.0
    nothing_known = store.prices(
        market="MISO", run="RT5", start=T0, end=END, as_of=LEARNED - dt.timedelta(hours=1)
    )
    assert nothing_known.num_rows == 0


def test_reverting_to_an_earlier_value_is_a_revision(store: TimeSeriesStore) -> None:
    store.write_prices(prices(count=1))
    store.write_prices(prices(count=1, base=50.0, learned=LEARNED + dt.timedelta(days=1)))
    back = store.write_prices(prices(count=1, learned=LEARNED + dt.timedelta(days=2)))
    assert back.written == 1
    assert lmps(store.prices(market="MISO", run="RT5", start=T0, end=END)) == [30.0]


def test_null_component_changing_to_a_value_is_a_revision(store: TimeSeriesStore) -> None:
    first = with_column(prices(count=2), "congestion", [None, None])
    store.write_prices(first)
    assert store.write_prices(first).written == 0
    filled = with_column(prices(count=2, learned=LEARNED + dt.timedelta(hours=1)), "congestion", [None, 2.0])
    assert store.write_prices(filled).written == 1


def test_one_batch_can_carry_several_revisions_of_a_fact(store: TimeSeriesStore) -> None:
    original = prices(count=2)
    revised = prices(count=2, base=40.0, learned=LEARNED + dt.timedelta(days=1))
    restated = prices(count=2, base=40.0, learned=LEARNED + dt.timedelta(days=2))
    result = store.write_prices(pa.concat_tables([restated, original, revised]))
    assert result.written == 4
    assert lmps(store.prices(market="MISO", run="RT5", start=T0, end=END)) == [40.0, 41.0]
    early = store.prices(market="MISO", run="RT5", start=T0, end=END, as_of=LEARNED)
    assert lmps(early) == [30.0, 31.0]


def test_exact_duplicate_rows_in_a_batch_collapse(store: TimeSeriesStore) -> None:
    batch = prices(count=3)
    assert store.write_prices(pa.concat_tables([batch, batch])).written == 3


def test_same_key_with_two_values_in_one_batch_is_rejected(store: TimeSeriesStore) -> None:
    batch = pa.concat_tables([prices(count=3), prices(count=1, base=70.0)])
    with pytest.raises(BatchRejected, match="same key and different values"):
        store.write_prices(batch)
    assert price_count(store) == 0


def test_restating_a_stored_key_with_another_value_is_rejected_and_nothing_is_written(
    store: TimeSeriesStore,
) -> None:
    store.write_prices(prices(count=2))
    later = prices(locations=("ILLINOIS.HUB",), count=2)
    clash = prices(count=2, base=45.0)  # same knowledge_time as what is stored, other value
    with pytest.raises(BatchRejected, match="different value"):
        store.write_prices(pa.concat_tables([later, clash]))
    assert price_count(store) == 2


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("market", "MISOO", "unknown value 'MISOO'"),
        ("location", "NOWHERE.HUB", "location='NOWHERE.HUB'"),
        ("run", "RT15", "unknown run 'RT15' for market MISO"),
        ("lmp", float("nan"), "not a finite number"),
        ("lmp", float("inf"), "not a finite number"),
        ("lmp", None, "must not be null"),
    ],
)
def test_bad_value_in_the_last_row_rejects_the_whole_batch_naming_it(
    store: TimeSeriesStore, column: str, value: object, message: str
) -> None:
    batch = prices(count=6)
    values = batch.column(column).to_pylist()
    values[-1] = value
    with pytest.raises(BatchRejected, match=message) as caught:
        store.write_prices(with_column(batch, column, values))
    assert caught.value.column == column
    assert caught.value.row == 5
    assert price_count(store) == 0


def test_misaligned_interval_start_is_rejected(store: TimeSeriesStore) -> None:
    batch = prices(count=3)
    starts = batch.column("interval_start").to_pylist()
    starts[1] = starts[1] + dt.timedelta(minutes=2)
    with pytest.raises(BatchRejected, match="not aligned to 5-minute intervals") as caught:
        store.write_prices(with_column(batch, "interval_start", starts))
    assert caught.value.row == 1


def test_naive_timestamps_are_rejected(store: TimeSeriesStore) -> None:
    batch = prices(count=2)
    naive = batch.column("interval_start").cast(pa.timestamp("us"))
    batch = batch.set_column(batch.schema.get_field_index("interval_start"), "interval_start", naive)
    with pytest.raises(BatchRejected, match="time zone"):
        store.write_prices(batch)
    with pytest.raises(ValueError, match="start must carry a time zone"):
        store.prices(market="MISO", run="RT5", start=dt.datetime(2024, 3, 9), end=END)


def test_missing_and_unexpected_columns_are_named(store: TimeSeriesStore) -> None:
    with pytest.raises(BatchRejected, match=r"missing required column\(s\) \['lmp'\]"):
        store.write_prices(prices().drop_columns(["lmp"]))
    with pytest.raises(BatchRejected, match="unexpected column"):
        store.write_prices(prices().append_column("price", pa.array([1.0] * 12)))


def test_non_local_timestamps_are_converted_to_utc(store: TimeSeriesStore) -> None:
    batch = prices(count=1)
    eastern = batch.column("interval_start").cast(pa.timestamp("us", tz="America/New_York"))
    batch = batch.set_column(batch.schema.get_field_index("interval_start"), "interval_start", eastern)
    store.write_prices(batch)
    read = store.prices(market="MISO", run="RT5", start=T0, end=END)
    assert read.column("interval_start")[0].as_py() == T0


def test_latest_price_per_location(store: TimeSeriesStore) -> None:
    store.write_prices(prices(locations=("INDIANA.HUB", "ILLINOIS.HUB"), count=10))
    store.write_prices(prices(locations=("INDIANA.HUB",), count=12))
    latest = store.latest_prices(market="MISO", run="RT5")
    assert latest.column("location").to_pylist() == ["ILLINOIS.HUB", "INDIANA.HUB"]
    assert latest.column("interval_start").to_pylist() == [
        T0 + dt.timedelta(minutes=45),
        T0 + dt.timedelta(minutes=55),
    ]
    assert lmps(latest) == [39.01, 41.0]
    assert store.latest_prices(market="CAISO", run="RT5").num_rows == 0


def test_hourly_resample_is_time_weighted_with_min_and_max(store: TimeSeriesStore) -> None:
    store.write_prices(prices(count=24))
    hourly = store.resample_prices(market="MISO", run="RT5", start=T0, end=END, freq="hour")
    rows = hourly.to_pylist()
    assert [r["bucket_start"] for r in rows] == [T0, T0 + dt.timedelta(hours=1)]
    assert [r["intervals"] for r in rows] == [12, 12]
    assert [r["lmp_avg"] for r in rows] == [pytest.approx(35.5), pytest.approx(47.5)]
    assert [(r["lmp_min"], r["lmp_max"]) for r in rows] == [(30.0, 41.0), (42.0, 53.0)]


def test_daily_resample_follows_the_market_clock_across_dst(store: TimeSeriesStore) -> None:
    # 2024-03-10 in California is 23 hours long: 276 five-minute intervals
    start = T0  # 2024-03-09 00:00 PST
    store.write_prices(
        prices(market="CAISO", locations=("TH_NP15_GEN-APND",), count=288 + 276 + 288, start=start)
    )
    daily = store.resample_prices(
        market="CAISO", run="RT5", start=start, end=start + dt.timedelta(days=3), freq="day"
    ).to_pylist()
    assert [r["bucket_start"] for r in daily] == [
        dt.datetime(2024, 3, 9, 8, tzinfo=UTC),
        dt.datetime(2024, 3, 10, 8, tzinfo=UTC),
        dt.datetime(2024, 3, 11, 7, tzinfo=UTC),
    ]
    assert [r["intervals"] for r in daily] == [288, 276, 288]


def test_resample_uses_the_value_known_as_of(store: TimeSeriesStore) -> None:
    store.write_prices(prices(count=12))
    store.write_prices(prices(count=12, base=130.0, learned=LEARNED + dt.timedelta(days=1)))
    latest = store.resample_prices(market="MISO", run="RT5", start=T0, end=END, freq="hour")
    then = store.resample_prices(market="MISO", run="RT5", start=T0, end=END, freq="hour", as_of=LEARNED)
    assert latest.column("lmp_avg")[0].as_py() == pytest.approx(135.5)
    assert then.column("lmp_avg")[0].as_py() == pytest.approx(35.5)
    assert then.column("intervals")[0].as_py() == 12


def test_instruments_register_idempotently_and_update(store: TimeSeriesStore) -> None:
    listed = store.instruments("MISO")
    assert listed.column("location").to_pylist() == ["AMIL.BGS6", "ILLINOIS.HUB", "INDIANA.HUB"]
    again = listed.cast(listed.schema)
    assert store.register_instruments(again) == 0
    renamed = with_column(listed, "name", ["Ameren Illinois BGS6", None, "Indiana Hub"])
    assert store.register_instruments(renamed) == 0
    names = store.instruments("MISO").column("name").to_pylist()
    assert names == ["Ameren Illinois BGS6", None, "Indiana Hub"]
    assert store.instruments().num_rows == 5


def test_unknown_instrument_fields_are_rejected(empty_store: TimeSeriesStore) -> None:
    bad = pa.Table.from_pylist(
        [
            {
                "market": "MISO",
                "location": "X",
                "location_type": "planet",
                "timezone": "Etc/GMT+5",
                "currency": "USD",
                "unit": "USD/MWh",
                "name": None,
            }
        ]
    )
    with pytest.raises(BatchRejected, match="unknown value 'planet'"):
        empty_store.register_instruments(bad)
    bad_zone = with_column(bad, "location_type", ["hub"])
    bad_zone = with_column(bad_zone, "timezone", ["Mars/Olympus"])
    with pytest.raises(BatchRejected, match="unknown time zone 'Mars/Olympus'"):
        empty_store.register_instruments(bad_zone)


def test_fundamentals_are_bitemporal_too(store: TimeSeriesStore) -> None:
    store.register_series(
        pa.Table.from_pylist(
            [
                {
                    "series_id": "HENRY_HUB",
                    "market": None,
                    "kind": "gas_price",
                    "fuel": None,
                    "unit": "USD/MMBtu",
                    "timezone": "America/Chicago",
                    "name": "Henry Hub",
                }
            ],
            schema=SERIES_SCHEMA,
        )
    )
    day = dt.datetime(2024, 3, 9, 6, tzinfo=UTC)  # Chicago midnight
    row = {
        "series_id": "HENRY_HUB",
        "interval_start": day,
        "interval_minutes": 1440,
        "value": 1.75,
        "knowledge_time": LEARNED,
        "source": "test",
        "source_file_sha256": None,
    }
    store.write(FUNDAMENTALS, pa.Table.from_pylist([row], schema=FUNDAMENTALS.schema))
    revised = {**row, "value": 1.80, "knowledge_time": LEARNED + dt.timedelta(days=1)}
    assert store.write(FUNDAMENTALS, pa.Table.from_pylist([revised], schema=FUNDAMENTALS.schema)).written == 1
    read = store.fundamentals(series_ids=["HENRY_HUB"], start=day, end=day + dt.timedelta(days=1))
    assert read.column("value").to_pylist() == [1.80]
    then = store.fundamentals(
        series_ids=["HENRY_HUB"], start=day, end=day + dt.timedelta(days=1), as_of=LEARNED
    )
    assert then.column("value").to_pylist() == [1.75]
    unknown = {**row, "series_id": "TTF"}
    with pytest.raises(BatchRejected, match="series_id='TTF'"):
        store.write(FUNDAMENTALS, pa.Table.from_pylist([unknown], schema=FUNDAMENTALS.schema))


def test_forward_quotes_and_curve_points_round_trip(store: TimeSeriesStore) -> None:
    trade_date = dt.date(2024, 3, 8)
    delivery = (dt.datetime(2024, 5, 1, 5, tzinfo=UTC), dt.datetime(2024, 6, 1, 5, tzinfo=UTC))
    quote = {
        "market": "MISO",
        "location": "INDIANA.HUB",
        "block": "ON",
        "trade_date": trade_date,
        "delivery_start": delivery[0],
        "delivery_end": delivery[1],
        "product": "M",
        "price": 38.25,
        "knowledge_time": LEARNED,
        "source": "test",
        "source_file_sha256": None,
    }
    assert (
        store.write(FORWARD_QUOTES, pa.Table.from_pylist([quote], schema=FORWARD_QUOTES.schema)).written == 1
    )
    read = store.forward_quotes(market="MISO", trade_date=trade_date)
    assert read.column("price").to_pylist() == [38.25]
    backwards = {**quote, "delivery_end": delivery[0]}
    with pytest.raises(BatchRejected, match="delivery_end must be after delivery_start"):
        store.write(FORWARD_QUOTES, pa.Table.from_pylist([backwards], schema=FORWARD_QUOTES.schema))

    point = {
        "curve_id": "MISO.INDIANA.HUB.ATC",
        "scenario_id": "BASE",
        "as_of_date": trade_date,
        "delivery_start": delivery[0],
        "delivery_end": delivery[1],
        "granularity": "M",
        "value": 35.0,
        "run_id": "r1",
        "knowledge_time": LEARNED,
    }
    store.write(CURVE_POINTS, pa.Table.from_pylist([point], schema=CURVE_POINTS.schema))
    rerun = {**point, "run_id": "r2", "knowledge_time": LEARNED + dt.timedelta(hours=1)}
    assert store.write(CURVE_POINTS, pa.Table.from_pylist([rerun], schema=CURVE_POINTS.schema)).written == 0
    curve = store.curve_points(curve_id="MISO.INDIANA.HUB.ATC", as_of_date=trade_date)
    assert curve.column("value").to_pylist() == [35.0]


def test_summary_counts_rows_markets_and_span(store: TimeSeriesStore) -> None:
    store.write_prices(prices(count=12))
    store.write_prices(prices(market="CAISO", locations=("TH_SP15_GEN-APND",), count=3))
    summary = store.summary()
    assert summary.datasets[PRICES.name].rows == 15
    assert summary.datasets[PRICES.name].first == T0
    assert summary.markets["MISO"]["rows"] == 12
    assert summary.markets["MISO"]["instruments"] == 3
    assert summary.markets["CAISO"]["locations"] == 1


def test_values_that_look_like_sql_are_just_values(store: TimeSeriesStore) -> None:
    store.write_prices(prices(count=1))
    hostile = ["x' OR '1'='1", "x\\' OR 1=1 --"]
    assert store.prices(market="MISO", run="RT5", start=T0, end=END, locations=hostile).num_rows == 0
    assert store.instruments("MISO' OR '1'='1").num_rows == 0
    assert pc.sum(store.prices(market="MISO", run="RT5", start=T0, end=END).column("lmp")).as_py() == 30.0


def test_a_write_reports_exactly_the_rows_it_wrote(store: TimeSeriesStore) -> None:
    store.write_prices(prices(count=4))
    corrected = with_column(
        prices(count=4, learned=LEARNED + dt.timedelta(hours=2)), "lmp", [30.0, 31.0, 99.0, 33.0]
    )
    result = store.write_prices(corrected)
    assert result.rows is not None
    assert result.rows.schema == PRICES.schema
    assert result.rows.column("lmp").to_pylist() == [99.0]
    assert result.rows.column("interval_start").to_pylist() == [T0 + dt.timedelta(minutes=10)]
    unchanged = store.write_prices(corrected)
    assert unchanged.rows is not None
    assert unchanged.rows.num_rows == 0


def test_what_a_file_wrote_is_read_back_by_its_hash_and_knowledge_time(store: TimeSeriesStore) -> None:
    first = with_column(
        prices(count=4, locations=("INDIANA.HUB", "ILLINOIS.HUB")), "source_file_sha256", ["a" * 64] * 8
    )
    store.write_prices(first)
    later = LEARNED + dt.timedelta(hours=2, microseconds=123_456)  # microseconds survive the round trip
    corrected = with_column(
        with_column(
            prices(count=4, locations=("INDIANA.HUB", "ILLINOIS.HUB"), learned=later),
            "source_file_sha256",
            ["b" * 64] * 8,
        ),
        "lmp",
        [30.0, 31.0, 99.0, 33.0, 30.01, 77.0, 32.01, 33.01],
    )
    result = store.write_prices(corrected)
    assert result.rows is not None
    learned = store.prices_learned_from("b" * 64, later)
    assert learned.schema == PRICES.schema
    assert learned.equals(result.rows.sort_by([("location", "ascending"), ("interval_start", "ascending")]))
    assert lmps(learned) == [77.0, 99.0]  # ILLINOIS.HUB first, then INDIANA.HUB
    assert store.prices_learned_from("a" * 64, LEARNED).num_rows == 8
    # the same hash under another knowledge time is another batch: it wrote nothing
    assert store.prices_learned_from("b" * 64, LEARNED).num_rows == 0
    assert store.prices_learned_from("c" * 64, later).num_rows == 0


def test_a_rejected_batch_with_several_revisions_writes_none_of_them(store: TimeSeriesStore) -> None:
    store.write_prices(prices(count=1))
    store.write_prices(prices(count=1, base=50.0, learned=LEARNED + dt.timedelta(days=2)))
    in_between = prices(
        count=1, base=40.0, learned=LEARNED + dt.timedelta(days=1)
    )  # new: would be written first
    clash = prices(count=1, base=55.0, learned=LEARNED + dt.timedelta(days=2))  # stored key, other value
    with pytest.raises(BatchRejected, match="different value"):
        store.write_prices(pa.concat_tables([clash, in_between]))
    assert price_count(store) == 2


def test_a_point_read_of_one_location_sees_its_latest_revisions_in_time_order(store: TimeSeriesStore) -> None:
    store.write_prices(prices(locations=("INDIANA.HUB", "ILLINOIS.HUB"), count=6))
    # a correction of two intervals, stored after (and apart from) the original rows
    corrected = with_column(
        prices(count=6, learned=LEARNED + dt.timedelta(hours=1)), "lmp", [30.0, 31.0, 92.0, 33.0, 94.0, 35.0]
    )
    assert store.write_prices(corrected).written == 2
    one = store.prices(market="MISO", run="RT5", start=T0, end=END, locations=["INDIANA.HUB"])
    assert lmps(one) == [30.0, 31.0, 92.0, 33.0, 94.0, 35.0]
    assert one.column("interval_start").to_pylist() == [T0 + dt.timedelta(minutes=5 * i) for i in range(6)]
    assert one.schema == PRICES.schema
    two = store.prices(market="MISO", run="RT5", start=T0, end=END, locations=["INDIANA.HUB", "ILLINOIS.HUB"])
    assert two.column("location").to_pylist() == ["ILLINOIS.HUB"] * 6 + ["INDIANA.HUB"] * 6
    assert lmps(two)[6:] == lmps(one)
    then = store.prices(market="MISO", run="RT5", start=T0, end=END, locations=["INDIANA.HUB"], as_of=LEARNED)
    assert lmps(then) == [30.0, 31.0, 32.0, 33.0, 34.0, 35.0]
    # the same reads again (DuckDB runs them from statements parsed once), other values bound
    assert lmps(store.prices(market="MISO", run="RT5", start=T0, end=END, locations=["INDIANA.HUB"])) == lmps(
        one
    )
    other = store.prices(market="MISO", run="RT5", start=T0, end=END, locations=["ILLINOIS.HUB"])
    assert lmps(other) == [30.01, 31.01, 32.01, 33.01, 34.01, 35.01]
    assert store.prices(market="MISO", run="RT5", start=END, end=END + dt.timedelta(days=1)).num_rows == 0


def test_every_read_binds_its_values(store: TimeSeriesStore) -> None:
    store.write_prices(prices(count=24))
    hour = T0 + dt.timedelta(hours=1)
    assert store.prices(market="MISO", run="RT5", start=hour, end=END).num_rows == 12
    assert store.latest_prices(market="MISO", run="RT5", locations=["INDIANA.HUB"]).num_rows == 1
    assert store.latest_prices(market="MISO", run="RT5", as_of=LEARNED - dt.timedelta(days=1)).num_rows == 0
    hourly = store.resample_prices(
        market="MISO", run="RT5", start=T0, end=END, freq="hour", locations=["INDIANA.HUB", "AMIL.BGS6"]
    )
    assert hourly.column("intervals").to_pylist() == [12, 12]
    assert store.instruments("CAISO").num_rows == 2
    assert store.fundamentals(series_ids=["A", "B"], start=T0, end=END).num_rows == 0
    assert store.forward_quotes(market="MISO", trade_date=T0.date(), location="INDIANA.HUB").num_rows == 0
    assert store.curve_points(curve_id="X", as_of_date=T0.date(), as_of=LEARNED).num_rows == 0


def test_a_read_of_some_columns_returns_them_with_the_entity_and_resolves_revisions(
    store: TimeSeriesStore,
) -> None:
    store.write_prices(prices(count=6))
    corrected = with_column(
        prices(count=6, learned=LEARNED + dt.timedelta(hours=1)), "lmp", [30.0, 31.0, 92.0, 33.0, 94.0, 35.0]
    )
    store.write_prices(corrected)
    point = {"market": "MISO", "run": "RT5", "start": T0, "end": END, "locations": ["INDIANA.HUB"]}
    narrow = store.prices(**point, columns=["lmp"])  # type: ignore[arg-type]
    assert narrow.schema.names == ["market", "location", "run", "interval_start", "lmp", "knowledge_time"]
    assert narrow.schema == pa.schema([PRICES.schema.field(c) for c in narrow.schema.names])
    full = store.prices(**point)  # type: ignore[arg-type]
    assert narrow.equals(full.select(narrow.schema.names))
    then = store.prices(**point, as_of=LEARNED, columns=["lmp", "congestion"])  # type: ignore[arg-type]
    assert lmps(then) == [30.0, 31.0, 32.0, 33.0, 34.0, 35.0]
    assert "congestion" in then.schema.names
    assert "source" not in then.schema.names
    with pytest.raises(ValueError, match=r"unknown price columns \['price'\]"):
        store.prices(**point, columns=["price"])  # type: ignore[arg-type]
