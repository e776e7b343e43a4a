"""pjm-dataminer: PJM Data Miner 2 da_hrl_lmps / rt_fivemin_hrl_lmps, CSV and JSON, on both EPT DST days."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from marketintel.connectors.base import Connector
from marketintel.connectors.fetch import Fetcher, NotPublished
from marketintel.connectors.models import ParseError, RawPayload
from marketintel.connectors.parse import parse_payload, payload_from_file
from marketintel.connectors.registry import connector
from marketintel.connectors.sources.pjm import PjmDataMiner
from tests.connectors.localsource import LocalSource, local_source

FIXTURES = Path(__file__).parent / "fixtures" / "pjm"
UTC = dt.UTC
FALL_BACK, SPRING_FORWARD = dt.date(2024, 11, 3), dt.date(2024, 3, 10)


def parse(name: str) -> pa.Table:
    return parse_payload(connector("pjm-dataminer"), payload_from_file(FIXTURES / name))


def parse_bytes(name: str, content: bytes) -> pa.Table:
    payload = RawPayload(name=name, content=content, fetched_at=dt.datetime.now(UTC))
    return parse_payload(connector("pjm-dataminer"), payload)


def row(table: pa.Table, location: str, start: dt.datetime) -> dict[str, object]:
    mask = pc.and_(pc.equal(table["location"], location), pc.equal(table["interval_start"], start))
    rows = table.filter(mask).to_pylist()
    assert len(rows) == 1, rows
    return rows[0]


def counts(table: pa.Table) -> dict[str, int]:
    grouped = table.group_by("location").aggregate([("interval_start", "count")])
    return dict(
        zip(grouped["location"].to_pylist(), grouped["interval_start_count"].to_pylist(), strict=True)
    )


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


# --- the day-ahead feed ---------------------------------------------------------------------------------


def test_day_ahead_csv_on_the_fall_back_day_has_25_hours_and_both_1am_hours() -> None:
    table = parse("da_hrl_lmps_20241103.csv")
    assert counts(table) == {
        "PJM-RTO": 25,
        "MID-ATL/APS": 25,
        "EASTERN HUB": 25,
        "WESTERN HUB": 25,
        "NYIS": 25,
        "ALBRIGHT 138 KV  ALB1": 25,
    }
    assert set(table["run"].to_pylist()) == {"DA"}
    assert set(table["interval_minutes"].to_pylist()) == {60}
    # line 11: "11/3/2024 5:00:00 AM,11/3/2024 1:00:00 AM,51288,WESTERN HUB,...,30.69,33.420735,2.895748,-0.165013"
    # 1:00 AM EDT (UTC-4) = 05:00Z, taken straight from datetime_beginning_utc
    assert row(table, "WESTERN HUB", utc(2024, 11, 3, 5)) == {
        "market": "PJM",
        "location": "WESTERN HUB",
        "run": "DA",
        "interval_start": utc(2024, 11, 3, 5),
        "interval_minutes": 60,
        "lmp": 33.420735,
        "energy": 30.69,
        "congestion": 2.895748,
        "loss": -0.165013,
    }
    # line 17: "11/3/2024 6:00:00 AM,11/3/2024 1:00:00 AM,51288,...,24.70,25.406595,1.316380,-0.609785"
    # the repeated 1:00 AM, now EST (UTC-5) = 06:00Z
    second = row(table, "WESTERN HUB", utc(2024, 11, 3, 6))
    assert (second["lmp"], second["energy"], second["congestion"], second["loss"]) == (
        25.406595,
        24.70,
        1.316380,
        -0.609785,
    )
    # the day runs 00:00 EDT (04:00Z) .. 23:00 EST (04:00Z next day): line 147, PJM-RTO lmp 26.265017
    assert row(table, "PJM-RTO", utc(2024, 11, 4, 4))["lmp"] == 26.265017


def test_a_superseded_version_is_dropped_and_the_current_one_kept() -> None:
    # lines 65/66: WESTERN HUB at 2:00 PM UTC (9:00 AM EST), version 1 row_is_current False (lmp 26.016916),
    # version 2 True (lmp 24.516916)
    table = parse("da_hrl_lmps_20241103.csv")
    assert row(table, "WESTERN HUB", utc(2024, 11, 3, 14))["lmp"] == 24.516916
    assert counts(table)["WESTERN HUB"] == 25


def test_day_ahead_json_on_the_spring_forward_day_has_23_hours() -> None:
    table = parse("da_hrl_lmps_20240310_p01.json")
    assert set(counts(table).values()) == {23}
    assert len(counts(table)) == 6
    # items[8]: EASTERN HUB 1:00 AM EST = 06:00Z; items[14]: the next hour is 3:00 AM EDT = 07:00Z
    assert row(table, "EASTERN HUB", utc(2024, 3, 10, 6))["lmp"] == 30.457994
    after = row(table, "EASTERN HUB", utc(2024, 3, 10, 7))
    assert (after["lmp"], after["energy"], after["congestion"], after["loss"]) == (
        25.927959,
        24.95,
        1.369148,
        -0.391189,
    )
    starts = pc.unique(table["interval_start"]).to_pylist()
    assert len(starts) == 23
    assert starts[0] == utc(2024, 3, 10, 5)
    assert starts[-1] == utc(2024, 3, 11, 3)


def test_csv_and_json_of_the_same_day_map_to_the_same_rows() -> None:
    for day in ("20241103", "20240310"):
        assert parse(f"da_hrl_lmps_{day}.csv").equals(parse(f"da_hrl_lmps_{day}_p01.json"))
        assert parse(f"rt_fivemin_hrl_lmps_{day}.csv").equals(parse(f"rt_fivemin_hrl_lmps_{day}_p01.json"))


# --- the real-time 5-minute feed ------------------------------------------------------------------------


def test_real_time_csv_on_the_fall_back_day_has_300_intervals() -> None:
    table = parse("rt_fivemin_hrl_lmps_20241103.csv")
    assert counts(table) == {"PJM-RTO": 300, "WESTERN HUB": 300}
    assert set(table["run"].to_pylist()) == {"RT5"}
    assert set(table["interval_minutes"].to_pylist()) == {5}
    # line 27: 5:00:00 AM UTC / 1:00:00 AM EPT (EDT) -> 05:00Z; line 51: 6:00:00 AM UTC / 1:00:00 AM EPT (EST)
    assert row(table, "WESTERN HUB", utc(2024, 11, 3, 5, 0))["lmp"] == 24.140967
    repeated = row(table, "WESTERN HUB", utc(2024, 11, 3, 6, 0))
    assert (repeated["lmp"], repeated["energy"], repeated["congestion"], repeated["loss"]) == (
        26.143383,
        25.95,
        0.670474,
        -0.477091,
    )
    # line 73: 1:55 AM EST = 06:55Z; line 601: the last interval, 11:55 PM EST = 04:55Z on the 4th
    assert row(table, "WESTERN HUB", utc(2024, 11, 3, 6, 55))["lmp"] == 29.834729
    assert row(table, "WESTERN HUB", utc(2024, 11, 4, 4, 55))["lmp"] == 31.654607


def test_real_time_json_on_the_spring_forward_day_has_276_intervals() -> None:
    table = parse("rt_fivemin_hrl_lmps_20240310_p01.json")
    assert counts(table) == {"PJM-RTO": 276, "WESTERN HUB": 276}
    # items[46]: 1:55 AM EST = 06:55Z; items[48]: the next interval is 3:00 AM EDT = 07:00Z
    assert row(table, "PJM-RTO", utc(2024, 3, 10, 6, 55))["lmp"] == 28.651784
    assert row(table, "PJM-RTO", utc(2024, 3, 10, 7, 0))["energy"] == 24.32


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.iterdir() if p.suffix in (".csv", ".json")))
def test_components_add_up_to_the_lmp(name: str) -> None:
    table = parse(name)
    total = pc.add(pc.add(table["energy"], table["congestion"]), table["loss"])
    assert pc.max(pc.abs(pc.subtract(total, table["lmp"]))).as_py() < 1e-6


def test_location_types_follow_the_type_column() -> None:
    pjm = connector("pjm-dataminer")
    parse_payload(pjm, payload_from_file(FIXTURES / "da_hrl_lmps_20241103.csv"))
    assert pjm.location_type("WESTERN HUB") == "hub"
    assert pjm.location_type("PJM-RTO") == "zone"
    assert pjm.location_type("NYIS") == "interface"
    assert pjm.location_type("ALBRIGHT 138 KV  ALB1") == "node"
    kinds = pjm.instruments(parse_payload(pjm, payload_from_file(FIXTURES / "da_hrl_lmps_20241103.csv")))
    assert dict(zip(kinds["location"].to_pylist(), kinds["location_type"].to_pylist(), strict=True)) == {
        "ALBRIGHT 138 KV  ALB1": "node",
        "EASTERN HUB": "hub",
        "MID-ATL/APS": "zone",
        "NYIS": "interface",
        "PJM-RTO": "zone",
        "WESTERN HUB": "hub",
    }
    # before any file is seen, PJM's naming: "... HUB" is a hub, the transmission zones are zones
    fresh = connector("pjm-dataminer")
    assert (fresh.location_type("DOMINION HUB"), fresh.location_type("PSEG"), fresh.location_type("X")) == (
        "hub",
        "zone",
        "node",
    )


# --- URLs and the fetch path ----------------------------------------------------------------------------


def test_urls_are_the_live_data_miner_queries_for_the_ept_day() -> None:
    urls = connector("pjm-dataminer").urls(FALL_BACK)
    assert len(urls) == 10 + 100
    assert urls[0] == (
        "https://api.pjm.com/api/v1/da_hrl_lmps?rowCount=50000&startRow=1"
        "&datetime_beginning_ept=11%2F03%2F2024%2000%3A00to11%2F03%2F2024%2023%3A59&row_is_current=TRUE"
    )
    assert urls[1] == (
        "https://api.pjm.com/api/v1/da_hrl_lmps?rowCount=50000&startRow=50001"
        "&datetime_beginning_ept=11%2F03%2F2024%2000%3A00to11%2F03%2F2024%2023%3A59&row_is_current=TRUE"
    )
    assert urls[10] == (
        "https://api.pjm.com/api/v1/rt_fivemin_hrl_lmps?rowCount=50000&startRow=1"
        "&datetime_beginning_ept=11%2F03%2F2024%2000%3A00to11%2F03%2F2024%2023%3A59&row_is_current=TRUE"
    )
    assert urls[-1].startswith(
        "https://api.pjm.com/api/v1/rt_fivemin_hrl_lmps?rowCount=50000&startRow=4950001&"
    )
    names = [connector("pjm-dataminer").payload_name(u) for u in (urls[0], urls[9], urls[10], urls[-1])]
    assert names == [
        "da_hrl_lmps_20241103_p01.json",
        "da_hrl_lmps_20241103_p10.json",
        "rt_fivemin_hrl_lmps_20241103_p01.json",
        "rt_fivemin_hrl_lmps_20241103_p100.json",
    ]


def test_csv_format_urls() -> None:
    class CsvPjm(type(connector("pjm-dataminer"))):  # type: ignore[misc]
        response_format = "csv"

    urls = CsvPjm().urls(SPRING_FORWARD)
    assert urls[0] == (
        "https://api.pjm.com/api/v1/da_hrl_lmps?rowCount=50000&startRow=1"
        "&datetime_beginning_ept=03%2F10%2F2024%2000%3A00to03%2F10%2F2024%2023%3A59&row_is_current=TRUE&format=csv"
    )
    assert CsvPjm().payload_name(urls[0]) == "da_hrl_lmps_20240310_p01.csv"


def empty_page(feed: str, start_row: int, total: int) -> bytes:
    """What the API answers for a page past the last row: no items."""
    return json.dumps(
        {
            "links": [{"rel": "self", "href": f"https://api.pjm.com/api/v1/{feed}?StartRow={start_row}"}],
            "items": [],
            "searchSpecification": {"rowCount": 50000, "startRow": start_row, "fields": []},
            "totalRows": total,
        }
    ).encode()


def count_answer(feed: str, total: int) -> bytes:
    """What the API answers to the one-row query `documents()` sends first: the day's totalRows."""
    return json.dumps(
        {
            "links": [{"rel": "self", "href": f"https://api.pjm.com/api/v1/{feed}?StartRow=1"}],
            "items": [],
            "searchSpecification": {"rowCount": 1, "startRow": 1, "fields": []},
            "totalRows": total,
        }
    ).encode()


FIRST_PAGES = {
    "da_hrl_lmps": FIXTURES / "da_hrl_lmps_20241103_p01.json",  # totalRows 150
    "rt_fivemin_hrl_lmps": FIXTURES / "rt_fivemin_hrl_lmps_20241103_p01.json",  # totalRows 600
}


def serve_day(source: LocalSource, pjm: Connector, totals: dict[str, int]) -> None:
    assert isinstance(pjm, PjmDataMiner)
    """The day's row counts, its first pages (the fixtures) and empty pages past them."""
    for feed, total in totals.items():
        (count_url,) = pjm._page_urls(feed, FALL_BACK, 1, row_count=1, response_format="json")
        source.serve(count_url.removeprefix(source.base_url), count_answer(feed, total))
    for url in pjm.urls(FALL_BACK):
        target = url.removeprefix(source.base_url)
        feed = target[1:].split("?")[0]
        start_row = int(target.split("startRow=")[1].split("&")[0])
        first = FIRST_PAGES[feed].read_bytes()
        source.serve(target, first if start_row == 1 else empty_page(feed, start_row, totals[feed]))


def test_fetch_a_day_from_a_local_server_asking_only_for_the_pages_it_has() -> None:
    with local_source() as source:
        pjm = connector("pjm-dataminer", base_url=source.base_url)
        serve_day(source, pjm, {"da_hrl_lmps": 150, "rt_fivemin_hrl_lmps": 600})
        payloads = list(
            pjm.pull_or_subscribe(
                FALL_BACK, FALL_BACK + dt.timedelta(days=1), Fetcher(requests_per_second=1000)
            )
        )
        # a row count per feed, then each feed's one page: 4 requests, not the 110 of the page budget
        assert len(source.requests) == 4
        asked = [r.split("?")[1].split("&")[0] for r in source.requests]
        assert asked == ["rowCount=1", "rowCount=1", "rowCount=50000", "rowCount=50000"]
    assert [p.name for p in payloads] == [
        "da_hrl_lmps_20241103_p01.json",
        "rt_fivemin_hrl_lmps_20241103_p01.json",
    ]
    tables = [parse_payload(pjm, p) for p in payloads]
    assert [t.num_rows for t in tables] == [150, 600]
    assert tables[0].equals(parse("da_hrl_lmps_20241103.csv"))


def test_a_day_of_more_rows_than_a_page_is_asked_for_page_by_page_within_the_budget() -> None:
    with local_source() as source:
        pjm = connector("pjm-dataminer", base_url=source.base_url)
        # 120,001 RT rows: 3 pages of 50,000; 9,999,999 DA rows: more than 10 pages hold, so the budget's 10
        serve_day(source, pjm, {"da_hrl_lmps": 9_999_999, "rt_fivemin_hrl_lmps": 120_001})
        documents = pjm.documents(FALL_BACK, Fetcher(requests_per_second=1000))
    names = [d.name for d in documents]
    assert names[:10] == [f"da_hrl_lmps_20241103_p{n:02d}.json" for n in range(1, 11)]
    assert names[10:] == [f"rt_fivemin_hrl_lmps_20241103_p{n:02d}.json" for n in (1, 2, 3)]


def test_a_day_with_no_rows_yet_is_not_published() -> None:
    with local_source() as source:
        pjm = connector("pjm-dataminer", base_url=source.base_url)
        serve_day(source, pjm, {"da_hrl_lmps": 150, "rt_fivemin_hrl_lmps": 0})
        with pytest.raises(NotPublished, match=r"rt_fivemin_hrl_lmps 2024-11-03.*totalRows 0"):
            pjm.documents(FALL_BACK, Fetcher(requests_per_second=1000))


# --- malformed input ------------------------------------------------------------------------------------


def da_csv() -> bytes:
    return (FIXTURES / "da_hrl_lmps_20241103.csv").read_bytes()


def test_a_truncated_csv_names_the_cut_line() -> None:
    content = da_csv()
    cut = content[
        : content.index(b"\r\n", content.index(b"11/3/2024 5:00:00 AM")) - 20
    ]  # inside line 8's prices
    with pytest.raises(
        ParseError, match=r"da_hrl_lmps_20241103\.csv:8 field 'row_is_current': missing value"
    ):
        parse_bytes("da_hrl_lmps_20241103.csv", cut)


def test_truncated_json_is_refused() -> None:
    content = (FIXTURES / "da_hrl_lmps_20241103_p01.json").read_bytes()
    with pytest.raises(ParseError, match="truncated or malformed JSON"):
        parse_bytes("da_hrl_lmps_20241103_p01.json", content[:-500])


def test_a_missing_column_is_refused() -> None:
    content = da_csv().replace(b"total_lmp_da", b"total_lmp", 1)
    with pytest.raises(ParseError, match=r"missing column\(s\) \['total_lmp_da'\]"):
        parse_bytes("da_hrl_lmps_20241103.csv", content)


def test_a_real_time_file_is_not_read_as_day_ahead() -> None:
    content = (FIXTURES / "rt_fivemin_hrl_lmps_20241103.csv").read_bytes()
    with pytest.raises(ParseError, match="not a da_hrl_lmps file"):
        parse_bytes("da_hrl_lmps_20241103.csv", content)
    with pytest.raises(ParseError, match="cannot tell which feed"):
        parse_bytes("download.csv", content)


def test_a_non_numeric_price_names_line_and_field() -> None:
    lines = da_csv().split(b"\r\n")
    lines[19] = lines[19].replace(b"-0.116229", b"n/a")  # line 20: PJM-RTO at 7:00 AM UTC
    with pytest.raises(ParseError, match=r":20 field 'congestion_price_da': not a number: 'n/a'"):
        parse_bytes("da_hrl_lmps_20241103.csv", b"\r\n".join(lines))


def test_a_non_numeric_price_in_json_names_the_item() -> None:
    body = json.loads((FIXTURES / "da_hrl_lmps_20241103_p01.json").read_bytes())
    body["items"][7]["total_lmp_da"] = "n/a"
    with pytest.raises(ParseError, match=r"field 'total_lmp_da': items\[7\]: not a number"):
        parse_bytes("da_hrl_lmps_20241103_p01.json", json.dumps(body).encode())


def test_a_bad_time_and_a_utc_ept_mismatch_are_refused() -> None:
    lines = da_csv().split(b"\r\n")
    bad_time = [*lines[:4], lines[4].replace(b"11/3/2024 4:00:00 AM", b"11/3/2024 4:00", 1), *lines[5:]]
    with pytest.raises(ParseError, match=r":5 field 'datetime_beginning_utc': not a time"):
        parse_bytes("da_hrl_lmps_20241103.csv", b"\r\n".join(bad_time))
    # line 17 says 6:00 AM UTC is 2:00 AM EPT: it is 1:00 AM EST
    shifted = [*lines[:16], lines[16].replace(b"11/3/2024 1:00:00 AM", b"11/3/2024 2:00:00 AM"), *lines[17:]]
    with pytest.raises(
        ParseError, match=r":17 field 'datetime_beginning_ept': .* is not datetime_beginning_utc"
    ):
        parse_bytes("da_hrl_lmps_20241103.csv", b"\r\n".join(shifted))


def test_a_row_with_extra_fields_names_its_line() -> None:
    lines = da_csv().split(b"\r\n")
    lines[9] += b",surplus"
    with pytest.raises(ParseError, match=r"da_hrl_lmps_20241103\.csv:10: malformed CSV"):
        parse_bytes("da_hrl_lmps_20241103.csv", b"\r\n".join(lines))


def test_wrong_encoding_is_refused() -> None:
    content = da_csv().decode().encode("utf-16")
    with pytest.raises(ParseError, match=r"da_hrl_lmps_20241103\.csv:1: not UTF-8 text"):
        parse_bytes("da_hrl_lmps_20241103.csv", content)


def test_an_api_error_answer_is_refused() -> None:
    body = b'{"errors":[{"field":"datetime_beginning_ept","message":"Date range cannot exceed 366 days"}]}'
    with pytest.raises(ParseError, match="the API answered with errors"):
        parse_bytes("da_hrl_lmps_20241103_p01.json", body)


def test_a_day_larger_than_the_page_budget_is_refused() -> None:
    # the API says the query has more rows than the 10 budgeted DA pages hold: they would never be fetched
    body = json.loads((FIXTURES / "da_hrl_lmps_20241103_p01.json").read_bytes())
    body["totalRows"] = 10 * 50_000 + 1
    with pytest.raises(ParseError, match=r"has 500001 rows .* only requests the first 10 pages"):
        parse_bytes("da_hrl_lmps_20241103_p01.json", json.dumps(body).encode())
    body["totalRows"] = 10 * 50_000  # exactly fits
    assert parse_bytes("da_hrl_lmps_20241103_p01.json", json.dumps(body).encode()).num_rows == 150


def test_other_shapes_of_the_same_data() -> None:
    # download=true answers the bare list of items; some times come with milliseconds
    body = json.loads((FIXTURES / "da_hrl_lmps_20240310_p01.json").read_bytes())
    for item in body["items"]:
        item["datetime_beginning_utc"] += ".000"
    table = parse_bytes("da_hrl_lmps_20240310.json", json.dumps(body["items"]).encode())
    assert table.equals(parse("da_hrl_lmps_20240310_p01.json"))
    # a CSV page past the last row is the header alone
    header = da_csv().split(b"\r\n")[0] + b"\r\n"
    assert parse_bytes("da_hrl_lmps_20241103_p02.csv", header).num_rows == 0


@pytest.mark.parametrize("answer", [b"<html>busy</html>", b'{"items": []}', b'{"totalRows": "many"}'])
def test_a_row_count_answer_without_a_number_is_a_parse_error_naming_it(answer: bytes) -> None:
    with local_source() as source:
        pjm = connector("pjm-dataminer", base_url=source.base_url)
        serve_day(source, pjm, {"da_hrl_lmps": 150, "rt_fivemin_hrl_lmps": 600})
        assert isinstance(pjm, PjmDataMiner)
        (count_url,) = pjm._page_urls("da_hrl_lmps", FALL_BACK, 1, row_count=1, response_format="json")
        source.serve(count_url.removeprefix(source.base_url), answer)
        with pytest.raises(
            ParseError, match=r"da_hrl_lmps_20241103_count\.json: .*did not answer a totalRows"
        ):
            pjm.documents(FALL_BACK, Fetcher(requests_per_second=1000))
