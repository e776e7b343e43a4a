"""Nord Pool Data Portal day-ahead prices: the published JSON in, canonical rows out."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from marketintel.connectors.fetch import Fetcher
from marketintel.connectors.models import ParseError, RawPayload
from marketintel.connectors.parse import parse_payload, payload_from_file
from marketintel.connectors.registry import connector
from marketintel.connectors.sources.nordpool import NordPoolDayAhead
from tests.connectors.localsource import local_source
from tests.connectors.prices import price_only as price

FIXTURES = Path(__file__).parent / "fixtures" / "nordpool"
FALL = FIXTURES / "nordpool_dayahead_2024-10-27_EUR.json"
SPRING = FIXTURES / "nordpool_dayahead_2024-03-31_EUR.json"
QUARTERS = FIXTURES / "nordpool_dayahead_2025-10-01_EUR.json"
NOT_PUBLISHED = FIXTURES / "nordpool_dayahead_2030-01-01_EUR.json"
AREAS = ("NO1", "NO2", "SE3", "FI")


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def parse(path: Path) -> pa.Table:
    return parse_payload(connector("nordpool-dayahead"), payload_from_file(path))


def parse_text(text: str, name: str = FALL.name) -> pa.Table:
    payload = RawPayload(name, text.encode(), dt.datetime.now(dt.UTC))
    return parse_payload(connector("nordpool-dayahead"), payload)


def counts(table: pa.Table) -> dict[str, int]:
    grouped = table.group_by("location").aggregate([("lmp", "count")])
    return dict(zip(grouped["location"].to_pylist(), grouped["lmp_count"].to_pylist(), strict=True))


def test_fall_back_day_has_25_hourly_entries_per_area() -> None:
    table = parse(FALL)
    assert counts(table) == dict.fromkeys(AREAS, 25)
    assert set(table["interval_minutes"].to_pylist()) == {60}
    assert set(table["market"].to_pylist()) == {"NORDPOOL"}
    assert set(table["run"].to_pylist()) == {"DA"}
    # first entry: "deliveryStart":"2024-10-26T22:00:00Z" (00:00 CEST), NO1 30.0, FI 49.5
    assert price(table, "NO1", utc(2024, 10, 26, 22)) == 30.0
    assert price(table, "FI", utc(2024, 10, 26, 22)) == 49.5
    # the repeated 02:00 local hour, second time (CET): 2024-10-27T01:00Z, FI -0.75
    assert price(table, "FI", utc(2024, 10, 27, 1)) == -0.75
    # last entry 2024-10-27T22:00Z (23:00 CET): NO1 38.88, SE3 51.88
    assert price(table, "NO1", utc(2024, 10, 27, 22)) == 38.88
    assert price(table, "SE3", utc(2024, 10, 27, 22)) == 51.88


def test_spring_forward_day_has_23_hourly_entries_per_area() -> None:
    table = parse(SPRING)
    assert counts(table) == dict.fromkeys(AREAS, 23)
    starts = sorted(set(table["interval_start"].to_pylist()))
    # 00:00 CET = 2024-03-30T23:00Z .. 23:00 CEST = 2024-03-31T21:00Z
    assert starts[0] == utc(2024, 3, 30, 23)
    assert starts[-1] == utc(2024, 3, 31, 21)
    assert price(table, "NO1", utc(2024, 3, 31, 21)) == 38.14
    assert price(table, "NO2", utc(2024, 3, 30, 23)) == 36.5


def test_quarter_hour_day_after_the_15_minute_go_live() -> None:
    table = parse(QUARTERS)
    assert counts(table) == dict.fromkeys(AREAS, 96)
    assert set(table["interval_minutes"].to_pylist()) == {15}
    # "deliveryStart":"2025-09-30T22:15:00Z","deliveryEnd":"2025-09-30T22:30:00Z": FI 48.7, NO1 29.2
    assert price(table, "FI", utc(2025, 9, 30, 22, 15)) == 48.7
    assert price(table, "NO1", utc(2025, 9, 30, 22, 15)) == 29.2
    assert price(table, "SE3", utc(2025, 10, 1, 21, 45)) == 49.11


def test_delivery_areas_are_zones() -> None:
    conn = connector("nordpool-dayahead")
    assert conn.location_type("NO1") == "zone"
    assert conn.instruments(parse(FALL))["location_type"].to_pylist() == ["zone"] * 4


# --- malformed or empty responses ----------------------------------------------------------------------


def test_204_empty_body_is_a_parse_error_saying_not_published() -> None:
    with pytest.raises(ParseError, match="not published") as caught:
        parse(NOT_PUBLISHED)
    assert caught.value.file == NOT_PUBLISHED.name


def test_missing_or_empty_entries_are_a_parse_error() -> None:
    text = FALL.read_text()
    start, end = text.index('"multiAreaEntries":'), text.index(',"blockPriceAggregates"')
    with pytest.raises(ParseError, match="no multiAreaEntries") as caught:
        parse_text(text[:start] + '"multiAreaEntries":[]' + text[end:])
    assert caught.value.field == "multiAreaEntries"
    with pytest.raises(ParseError, match="no multiAreaEntries"):
        parse_text(text[:start] + text[end + 1 :])


def test_truncated_json_names_line_and_column() -> None:
    with pytest.raises(ParseError, match=r"not valid JSON: .*\(column 1001\)") as caught:
        parse_text(FALL.read_text()[:1000])
    assert caught.value.line == 1


def test_non_numeric_price_names_the_entry_and_area() -> None:
    text = FALL.read_text().replace('"NO2":36.5,', '"NO2":"n/a",', 1)
    with pytest.raises(ParseError, match="price for NO2 'n/a' is not a number") as caught:
        parse_text(text)
    assert caught.value.field == "multiAreaEntries[0].entryPerArea.NO2"
    # a JSON true is no price either (polars would otherwise read it as 1.0 next to numbers)
    with pytest.raises(ParseError, match="price for NO2 'true' is not a number"):
        parse_text(FALL.read_text().replace('"NO2":36.5,', '"NO2":true,', 1))


def test_missing_area_price_names_the_entry() -> None:
    text = FALL.read_text().replace('"FI":-0.75}', '"FI":null}', 1)
    with pytest.raises(ParseError, match="price for FI is missing") as caught:
        parse_text(text)
    assert caught.value.field == "multiAreaEntries[3].entryPerArea.FI"


def test_bad_delivery_time_names_the_entry() -> None:
    text = FALL.read_text().replace(
        '"deliveryStart":"2024-10-27T01:00:00Z"', '"deliveryStart":"27.10.2024 03:00"', 1
    )
    with pytest.raises(ParseError, match="is not a UTC time") as caught:
        parse_text(text)
    assert caught.value.field == "multiAreaEntries[3].deliveryStart"


def test_other_currency_is_refused() -> None:
    with pytest.raises(ParseError, match="currency is 'SEK'") as caught:
        parse_text(FALL.read_text().replace('"currency":"EUR"', '"currency":"SEK"'))
    assert caught.value.field == "currency"


# --- where the files are -----------------------------------------------------------------------------


def test_url_is_the_data_portal_query_for_the_day() -> None:
    assert NordPoolDayAhead(areas=AREAS).urls(dt.date(2024, 10, 27)) == [
        "https://dataportal-api.nordpoolgroup.com/api/DayAheadPrices"
        "?date=2024-10-27&market=DayAhead&deliveryArea=NO1,NO2,SE3,FI&currency=EUR"
    ]
    assert connector("nordpool-dayahead").urls(dt.date(2025, 10, 1)) == [
        "https://dataportal-api.nordpoolgroup.com/api/DayAheadPrices?date=2025-10-01&market=DayAhead"
        "&deliveryArea=AT,BE,DK1,DK2,EE,FI,FR,GER,LT,LV,NL,NO1,NO2,NO3,NO4,NO5,PL,SE1,SE2,SE3,SE4,BG,TEL"
        "&currency=EUR"
    ]


def test_fetch_from_the_data_portal_path() -> None:
    with local_source() as source:
        conn = NordPoolDayAhead(base_url=source.base_url, areas=AREAS)
        target = (
            "/api/DayAheadPrices?date=2024-10-27&market=DayAhead&deliveryArea=NO1,NO2,SE3,FI&currency=EUR"
        )
        source.serve(target, FALL.read_bytes())
        day = dt.date(2024, 10, 27)
        payloads = list(
            conn.pull_or_subscribe(day, day + dt.timedelta(days=1), Fetcher(requests_per_second=1000))
        )
        assert source.requests == [target]
    assert [p.name for p in payloads] == [FALL.name]
    table = parse_payload(conn, payloads[0])
    assert counts(table) == dict.fromkeys(AREAS, 25)
    assert price(table, "NO1", utc(2024, 10, 26, 22)) == 30.0
