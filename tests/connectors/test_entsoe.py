"""ENTSO-E A44 day-ahead prices: the published XML in, canonical rows out, against hand-computed values."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from marketintel.connectors.fetch import Fetcher
from marketintel.connectors.models import ParseError, RawPayload
from marketintel.connectors.parse import parse_payload, payload_from_file
from marketintel.connectors.registry import connector
from marketintel.connectors.sources.entsoe import TOKEN_ENV, ZONES, EntsoeDayAhead
from tests.connectors.localsource import local_source

FIXTURES = Path(__file__).parent / "fixtures" / "entsoe"
DE_LU_FALL = FIXTURES / "entsoe_a44_DE-LU_202410262200_202410272300.xml"
FR_SPRING = FIXTURES / "entsoe_a44_FR_202403302300_202403312200.xml"
NL_QUARTERS = FIXTURES / "entsoe_a44_NL_202509302200_202510012200.xml"
FI_QUARTERS_FALL = FIXTURES / "entsoe_a44_FI_202510252200_202510262300.xml"
ACKNOWLEDGEMENT = FIXTURES / "entsoe_a44_DE-LU_202510022200_202510032200.xml"
DE_LU = "10Y1001A1001A82H"


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def parse(path: Path) -> pa.Table:
    return parse_payload(connector("entsoe-a44"), payload_from_file(path))


def edited(path: Path, old: str, new: str) -> RawPayload:
    text = path.read_text()
    assert old in text
    return RawPayload(path.name, text.replace(old, new, 1).encode(), dt.datetime.now(dt.UTC))


def row(table: pa.Table, location: str, start: dt.datetime) -> dict[str, object]:
    mask = pc.and_(pc.equal(table["location"], location), pc.equal(table["interval_start"], start))
    rows = table.filter(mask).to_pylist()
    assert len(rows) == 1, rows
    return rows[0]


def test_fall_back_day_has_25_hours_and_a03_gaps_carry_the_previous_price() -> None:
    table = parse(DE_LU_FALL)
    # CEST -> CET: the CET day 2024-10-27 runs 2024-10-26T22:00Z .. 2024-10-27T23:00Z, 25 hours; the EXAA
    # auction published as sequence 2 (100 quarter-hours) is not the SDAC price and is dropped
    assert table.num_rows == 25
    assert set(table["location"].to_pylist()) == {"DE-LU"}
    assert set(table["interval_minutes"].to_pylist()) == {60}
    assert set(table["market"].to_pylist()) == {"ENTSOE"}
    assert set(table["run"].to_pylist()) == {"DA"}
    # position 1 = 00:00 CEST = 2024-10-26T22:00Z, 81.4
    assert row(table, "DE-LU", utc(2024, 10, 26, 22))["lmp"] == 81.4
    # position 3 = the first 02:00 (CEST) = 00:00Z, 72.15; positions 4 (the second 02:00, CET = 01:00Z)
    # and 5 (03:00 CET = 02:00Z) are not in the file: A03 carries 72.15 forward
    sdac = DE_LU_FALL.read_text().split("<TimeSeries>")[1]
    assert "<position>3</position>" in sdac
    assert "<position>4</position>" not in sdac
    assert "<position>5</position>" not in sdac
    assert "<position>25</position>" not in sdac
    assert row(table, "DE-LU", utc(2024, 10, 27, 0))["lmp"] == 72.15
    assert row(table, "DE-LU", utc(2024, 10, 27, 1))["lmp"] == 72.15
    assert row(table, "DE-LU", utc(2024, 10, 27, 2))["lmp"] == 72.15
    assert row(table, "DE-LU", utc(2024, 10, 27, 3))["lmp"] == 70.88
    # the last position (25 = 23:00 CET = 22:00Z) is omitted too: filled to the end of the period with 80.05
    assert row(table, "DE-LU", utc(2024, 10, 27, 21))["lmp"] == 80.05
    last = row(table, "DE-LU", utc(2024, 10, 27, 22))
    assert last["lmp"] == 80.05
    assert last["energy"] is None
    assert last["congestion"] is None
    assert last["loss"] is None


def test_spring_forward_day_has_23_hours() -> None:
    table = parse(FR_SPRING)
    # CET -> CEST: 2024-03-30T23:00Z .. 2024-03-31T22:00Z, 23 hourly positions
    assert table.num_rows == 23
    starts = table["interval_start"].to_pylist()
    assert starts[0] == utc(2024, 3, 30, 23)
    assert starts[-1] == utc(2024, 3, 31, 21)
    assert row(table, "FR", utc(2024, 3, 31, 0))["lmp"] == 40.13  # position 2, 01:00 CET
    assert row(table, "FR", utc(2024, 3, 31, 1))["lmp"] == 35.9  # position 3, 03:00 CEST (02:00 skipped)
    # position 13 (11:00Z) is -1.05; position 14 (12:00Z) is omitted and repeats it
    assert row(table, "FR", utc(2024, 3, 31, 11))["lmp"] == -1.05
    assert row(table, "FR", utc(2024, 3, 31, 12))["lmp"] == -1.05
    assert row(table, "FR", utc(2024, 3, 31, 13))["lmp"] == -0.01
    assert row(table, "FR", utc(2024, 3, 31, 21))["lmp"] == 47.75


def test_quarter_hour_day_after_the_15_minute_go_live() -> None:
    table = parse(NL_QUARTERS)
    # 2025-10-01 CEST: 2025-09-30T22:00Z .. 2025-10-01T22:00Z in 96 quarter-hours
    assert table.num_rows == 96
    assert set(table["interval_minutes"].to_pylist()) == {15}
    assert row(table, "NL", utc(2025, 9, 30, 22, 0))["lmp"] == 86.1  # position 1
    assert row(table, "NL", utc(2025, 9, 30, 22, 15))["lmp"] == 89.4  # position 2
    # position 3 (22:30Z) is left out because it repeats position 2
    assert "<position>3</position>" not in NL_QUARTERS.read_text()
    assert row(table, "NL", utc(2025, 9, 30, 22, 30))["lmp"] == 89.4
    assert row(table, "NL", utc(2025, 9, 30, 22, 45))["lmp"] == 92.7  # position 4


def test_quarter_hour_fall_back_day_has_100_intervals_and_fills_to_the_end() -> None:
    table = parse(FI_QUARTERS_FALL)
    # Finland trades on the CET day too: 2025-10-25T22:00Z .. 2025-10-26T23:00Z = 25 h = 100 quarter-hours
    assert table.num_rows == 100
    starts = table["interval_start"].to_pylist()
    assert starts[0] == utc(2025, 10, 25, 22)
    assert starts[-1] == utc(2025, 10, 26, 22, 45)
    # position 96 (21:45Z) is the last one listed, 36.05; positions 97..100 (22:00..22:45Z) take it
    text = FI_QUARTERS_FALL.read_text()
    assert "<position>96</position>" in text
    assert "<position>97</position>" not in text
    for minute in (0, 15, 30, 45):
        assert row(table, "FI", utc(2025, 10, 26, 22, minute))["lmp"] == 36.05


def test_acknowledgement_is_a_parse_error_with_its_reason() -> None:
    with pytest.raises(ParseError, match="No matching data found for Data item ENERGY_PRICES") as caught:
        parse(ACKNOWLEDGEMENT)
    assert caught.value.file == ACKNOWLEDGEMENT.name


def test_zones_are_zones_on_their_own_clock() -> None:
    conn = connector("entsoe-a44")
    assert conn.location_type("DE-LU") == "zone"
    instruments = conn.instruments(parse(FI_QUARTERS_FALL))
    assert instruments.to_pylist() == [
        {
            "market": "ENTSOE",
            "location": "FI",
            "location_type": "zone",
            "timezone": "Europe/Helsinki",
            "currency": "EUR",
            "unit": "EUR/MWh",
            "name": None,
        }
    ]
    assert conn.instruments(parse(DE_LU_FALL))["timezone"].to_pylist() == ["Europe/Berlin"]


def test_sdac_sequence_1_wins_over_exaa_sequence_2_and_sequence_2_alone_is_kept() -> None:
    # without sequence 1 the only auction published for the day is what there is
    payload = edited(
        DE_LU_FALL,
        "<classificationSequence_AttributeInstanceComponent.position>1<",
        "<classificationSequence_AttributeInstanceComponent.position>3<",
    )
    table = parse_payload(connector("entsoe-a44"), payload)
    assert table.num_rows == 100
    assert set(table["interval_minutes"].to_pylist()) == {15}


def test_intraday_contract_series_are_not_day_ahead() -> None:
    payload = edited(FR_SPRING, "<contract_MarketAgreement.type>A01<", "<contract_MarketAgreement.type>A07<")
    with pytest.raises(ParseError, match="no day-ahead TimeSeries"):
        parse_payload(connector("entsoe-a44"), payload)


# --- malformed documents ------------------------------------------------------------------------------


def test_non_numeric_price_names_its_line() -> None:
    payload = edited(DE_LU_FALL, "<price.amount>76.02<", "<price.amount>7x.02<")
    with pytest.raises(ParseError, match=r"'7x.02' is not a number") as caught:
        parse_payload(connector("entsoe-a44"), payload)
    # line 38 of the file: position 2's price.amount
    assert caught.value.line == 38
    assert caught.value.field == "price.amount"
    assert caught.value.file == DE_LU_FALL.name


def test_truncated_document_names_the_line_where_it_stops() -> None:
    content = DE_LU_FALL.read_bytes()[:2000]
    payload = RawPayload(DE_LU_FALL.name, content, dt.datetime.now(dt.UTC))
    with pytest.raises(ParseError, match="not well-formed XML") as caught:
        parse_payload(connector("entsoe-a44"), payload)
    assert caught.value.line == content.count(b"\n") + 1


def test_unknown_zone_eic_is_rejected_by_name() -> None:
    payload = edited(FR_SPRING, ">10YFR-RTE------C</in_Domain.mRID>", ">10YXX-NOWHERE--Q</in_Domain.mRID>")
    with pytest.raises(ParseError, match="unknown bidding-zone EIC '10YXX-NOWHERE--Q'") as caught:
        parse_payload(connector("entsoe-a44"), payload)
    assert caught.value.field == "in_Domain.mRID"
    assert caught.value.line == 19


def test_position_outside_the_period_names_its_line() -> None:
    payload = edited(FR_SPRING, "<position>23</position>", "<position>24</position>")
    with pytest.raises(ParseError, match=r"position '24' is not in 1..23") as caught:
        parse_payload(connector("entsoe-a44"), payload)
    assert caught.value.field == "position"


def test_fixed_block_curve_must_list_every_position() -> None:
    # the FR file leaves position 14 out, which only curveType A03 allows
    payload = edited(FR_SPRING, "<curveType>A03<", "<curveType>A01<")
    with pytest.raises(ParseError, match="curveType A01 lists 22 of 23 positions"):
        parse_payload(connector("entsoe-a44"), payload)


def test_other_documents_and_namespaces_are_refused() -> None:
    other = edited(FR_SPRING, "publicationdocument:7:3", "publicationdocument:6:0")
    with pytest.raises(ParseError, match="unknown namespace"):
        parse_payload(connector("entsoe-a44"), other)
    empty = RawPayload("empty.xml", b"", dt.datetime.now(dt.UTC))
    with pytest.raises(ParseError, match="not well-formed XML") as caught:
        parse_payload(connector("entsoe-a44"), empty)
    assert caught.value.line == 1


def test_prices_in_another_currency_are_refused() -> None:
    payload = edited(FR_SPRING, "<currency_Unit.name>EUR<", "<currency_Unit.name>PLN<")
    with pytest.raises(ParseError, match="prices in 'PLN'") as caught:
        parse_payload(connector("entsoe-a44"), payload)
    assert caught.value.field == "currency_Unit.name"


# --- where the files are -----------------------------------------------------------------------------


def test_urls_ask_for_the_cet_delivery_day_of_each_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    conn = EntsoeDayAhead(zones=(DE_LU,))
    # 2024-10-27 CET: 2024-10-26T22:00Z .. 2024-10-27T23:00Z
    assert conn.urls(dt.date(2024, 10, 27)) == [
        "https://web-api.tp.entsoe.eu/api?documentType=A44&in_Domain=10Y1001A1001A82H"
        "&out_Domain=10Y1001A1001A82H&periodStart=202410262200&periodEnd=202410272300&securityToken="
    ]
    # 2024-03-31 CET/CEST: 2024-03-30T23:00Z .. 2024-03-31T22:00Z; Finland still trades the CET day
    assert EntsoeDayAhead(zones=("10YFI-1--------U",)).urls(dt.date(2024, 3, 31)) == [
        "https://web-api.tp.entsoe.eu/api?documentType=A44&in_Domain=10YFI-1--------U"
        "&out_Domain=10YFI-1--------U&periodStart=202403302300&periodEnd=202403312200&securityToken="
    ]
    assert len(connector("entsoe-a44").urls(dt.date(2024, 10, 27))) == len(ZONES)
    monkeypatch.setenv(TOKEN_ENV, "abc-123")
    assert conn.urls(dt.date(2024, 10, 27))[0].endswith("&securityToken=abc-123")
    assert conn.payload_name(conn.urls(dt.date(2024, 10, 27))[0]) == DE_LU_FALL.name


def test_unknown_zone_in_the_fetch_list_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown bidding-zone EIC"):
        EntsoeDayAhead(zones=("10YXX-NOWHERE--Q",))


def test_fetch_from_the_api_path_and_keep_the_token_out_of_the_archive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "secret-token")
    with local_source() as source:
        conn = EntsoeDayAhead(base_url=source.base_url, zones=(DE_LU,))
        target = (
            "/api?documentType=A44&in_Domain=10Y1001A1001A82H&out_Domain=10Y1001A1001A82H"
            "&periodStart=202410262200&periodEnd=202410272300&securityToken=secret-token"
        )
        source.serve(target, DE_LU_FALL.read_bytes())
        day = dt.date(2024, 10, 27)
        payloads = list(
            conn.pull_or_subscribe(day, day + dt.timedelta(days=1), Fetcher(requests_per_second=1000))
        )
        assert source.requests == [target]
    assert len(payloads) == 1
    payload = payloads[0]
    assert payload.name == DE_LU_FALL.name
    assert payload.url is not None
    assert "secret-token" not in payload.url
    assert "securityToken=REDACTED" in payload.url
    assert payload.content == DE_LU_FALL.read_bytes()
    table = parse_payload(conn, payload)
    assert table.num_rows == 25
    assert row(table, "DE-LU", utc(2024, 10, 26, 22))["lmp"] == 81.4
