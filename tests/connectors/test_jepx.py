"""JEPX spot summary CSV: the published file (Shift-JIS or UTF-8) in, canonical rows out."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from marketintel.connectors.fetch import Fetcher
from marketintel.connectors.models import ParseError, RawPayload
from marketintel.connectors.parse import parse_payload, payload_from_file
from marketintel.connectors.registry import connector
from marketintel.connectors.sources.jepx import JepxSpot
from tests.connectors.localsource import local_source
from tests.connectors.prices import price_only as price

FIXTURES = Path(__file__).parent / "fixtures" / "jepx"
SHIFT_JIS = FIXTURES / "spot_summary_2024.csv"  # the download button's bytes (cp932)
UTF8 = FIXTURES / "spot_summary_2024_utf8.csv"  # the same rows as csv_read.php serves them
LOCATIONS = (
    "SYSTEM",
    "HOKKAIDO",
    "TOHOKU",
    "TOKYO",
    "CHUBU",
    "HOKURIKU",
    "KANSAI",
    "CHUGOKU",
    "SHIKOKU",
    "KYUSHU",
)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def parse_bytes(content: bytes, name: str = SHIFT_JIS.name) -> pa.Table:
    return parse_payload(connector("jepx-spot"), RawPayload(name, content, dt.datetime.now(dt.UTC)))


def test_shift_jis_file_gives_48_half_hours_per_day_and_location() -> None:
    table = parse_payload(connector("jepx-spot"), payload_from_file(SHIFT_JIS))
    # 3 days (2025-03-29..31) x 48 slots x (system + 9 areas)
    assert table.num_rows == 3 * 48 * 10
    grouped = table.group_by("location").aggregate([("lmp", "count")])
    assert dict(
        zip(grouped["location"].to_pylist(), grouped["lmp_count"].to_pylist(), strict=True)
    ) == dict.fromkeys(LOCATIONS, 144)
    assert set(table["interval_minutes"].to_pylist()) == {30}
    assert set(table["market"].to_pylist()) == {"JEPX"}
    assert set(table["run"].to_pylist()) == {"DA"}
    # "2025/03/29,1,...,10.41,..." system price 10.41 yen/kWh = 10410 yen/MWh; slot 1 starts 00:00 JST
    # = 2025-03-28T15:00Z
    assert price(table, "SYSTEM", utc(2025, 3, 28, 15)) == 10410.0
    # "2025/03/30,17,...": Tokyo (9th column) 8.67; slot 17 = 08:00 JST = 2025-03-29T23:00Z
    assert price(table, "TOKYO", utc(2025, 3, 29, 23)) == 8670.0
    # "2025/03/31,48,...": Kyushu 12.57, Shikoku 8.57; slot 48 = 23:30 JST = 2025-03-31T14:30Z
    assert price(table, "KYUSHU", utc(2025, 3, 31, 14, 30)) == 12570.0
    assert price(table, "SHIKOKU", utc(2025, 3, 31, 14, 30)) == 8570.0


def test_no_shift_across_the_european_dst_change() -> None:
    # Europe springs forward at 2025-03-30T01:00Z; Japan has no DST: every JST day is 48 slots starting at
    # 15:00Z the day before, and consecutive slots are 30 minutes apart throughout
    table = parse_payload(connector("jepx-spot"), payload_from_file(SHIFT_JIS))
    starts = sorted(pc.unique(table["interval_start"]).to_pylist())
    assert len(starts) == 144
    assert starts[0] == utc(2025, 3, 28, 15)
    assert starts[48] == utc(2025, 3, 29, 15)
    assert starts[96] == utc(2025, 3, 30, 15)
    assert starts[-1] == utc(2025, 3, 31, 14, 30)
    assert {b - a for a, b in itertools.pairwise(starts)} == {dt.timedelta(minutes=30)}
    # "2025/03/30,2,...": system 9.38 at 00:30 JST = 2025-03-29T15:30Z
    assert price(table, "SYSTEM", utc(2025, 3, 29, 15, 30)) == 9380.0


def test_the_same_file_in_utf8_is_detected_and_parsed_identically() -> None:
    # csv_read.php serves the file in UTF-8, the download button in Shift-JIS: same table either way
    assert UTF8.read_bytes().decode("utf-8").encode("cp932") == SHIFT_JIS.read_bytes()
    from_sjis = parse_payload(connector("jepx-spot"), payload_from_file(SHIFT_JIS))
    from_utf8 = parse_payload(connector("jepx-spot"), payload_from_file(UTF8))
    assert from_utf8.equals(from_sjis)
    with_bom = parse_bytes(b"\xef\xbb\xbf" + UTF8.read_bytes())
    assert with_bom.equals(from_sjis)
    crlf = parse_bytes(SHIFT_JIS.read_bytes().replace(b"\n", b"\r\n"))
    assert crlf.equals(from_sjis)


def test_areas_and_system_price_are_zones() -> None:
    conn = connector("jepx-spot")
    assert conn.location_type("TOKYO") == "zone"
    assert conn.location_type("SYSTEM") == "zone"
    instruments = conn.instruments(parse_payload(conn, payload_from_file(SHIFT_JIS)))
    assert set(instruments["timezone"].to_pylist()) == {"Asia/Tokyo"}
    assert set(instruments["unit"].to_pylist()) == {"JPY/MWh"}


# --- malformed files ---------------------------------------------------------------------------------


def test_garbled_shift_jis_bytes_give_the_line() -> None:
    content = SHIFT_JIS.read_bytes()
    lines = content.split(b"\n")
    lines[4] = lines[4].replace(b",", b"\x82\xff", 1)  # line 5 of the file
    with pytest.raises(ParseError, match=r"not valid Shift-JIS \(cp932\)") as caught:
        parse_bytes(b"\n".join(lines))
    assert caught.value.line == 5
    assert caught.value.file == SHIFT_JIS.name


def test_garbled_utf8_bytes_give_the_line() -> None:
    lines = UTF8.read_bytes().split(b"\n")
    lines[49] = lines[49] + b"\xff"  # line 50
    with pytest.raises(ParseError, match="not valid UTF-8") as caught:
        parse_bytes(b"\n".join(lines), UTF8.name)
    assert caught.value.line == 50


def test_a_file_in_neither_encoding_is_refused_at_the_header() -> None:
    euc = UTF8.read_bytes().decode("utf-8").encode("euc_jp")
    with pytest.raises(ParseError, match=r"UTF-8 or Shift-JIS \(cp932\): wrong encoding") as caught:
        parse_bytes(euc)
    assert caught.value.line == 1
    utf16 = UTF8.read_bytes().decode("utf-8").encode("utf-16")
    with pytest.raises(ParseError, match="wrong encoding"):
        parse_bytes(utf16)


def test_missing_column_is_named() -> None:
    content = SHIFT_JIS.read_bytes().replace(
        "エリアプライス東京(円/kWh)".encode("cp932"), "東京(円/kWh)".encode("cp932"), 1
    )
    with pytest.raises(ParseError, match="header lacks") as caught:
        parse_bytes(content)
    assert caught.value.line == 1
    assert caught.value.field == "エリアプライス東京(円/kWh)"


def test_non_numeric_price_gives_line_and_column() -> None:
    lines = SHIFT_JIS.read_bytes().split(b"\n")
    # line 7 is "2025/03/29,6,...": its system price (6th field) becomes text
    fields = lines[6].split(b",")
    assert fields[:2] == [b"2025/03/29", b"6"]
    fields[5] = b"abc"
    lines[6] = b",".join(fields)
    with pytest.raises(ParseError, match="'abc' is not a valid システムプライス") as caught:
        parse_bytes(b"\n".join(lines))
    assert caught.value.line == 7
    assert caught.value.field == "システムプライス(円/kWh)"


def test_truncated_file_gives_the_line() -> None:
    content = SHIFT_JIS.read_bytes()
    # header = line 1, 2025/03/29 = lines 2..49, 03/30 = 50..97, so 2025/03/31 slot 40 is line 137
    cut = content[: content.index(b"2025/03/31,40,") + 30]  # the download stops inside line 137
    with pytest.raises(ParseError, match="fields, the header has 19") as caught:
        parse_bytes(cut)
    assert caught.value.line == 137
    # cut on a line boundary: the last day is short of time codes
    whole_lines = content[: content.index(b"2025/03/31,40,")]
    with pytest.raises(ParseError, match="2025-03-31 has 39 of 48 time codes") as caught:
        parse_bytes(whole_lines)
    assert caught.value.line == 136  # the last row of the short day, slot 39


def test_bad_time_code_and_date_give_the_line() -> None:
    content = SHIFT_JIS.read_bytes()
    with pytest.raises(ParseError, match="'49' is not a valid 時刻コード") as caught:
        parse_bytes(content.replace(b"\n2025/03/29,3,", b"\n2025/03/29,49,", 1))
    assert caught.value.line == 4
    with pytest.raises(ParseError, match="'2025-03-29' is not a valid 受渡日") as caught:
        parse_bytes(content.replace(b"\n2025/03/29,3,", b"\n2025-03-29,3,", 1))
    assert caught.value.line == 4


def test_empty_answer_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="empty file"):
        parse_bytes(b"")


def test_a_whole_fiscal_year_parses_completely() -> None:
    # a real file holds 365 days x 48 slots; repeat the fixture's rows over a year of dates
    lines = UTF8.read_text().splitlines()
    header, rows = lines[0], lines[1:49]
    days = [dt.date(2024, 4, 1) + dt.timedelta(days=i) for i in range(365)]
    body = [f"{d:%Y/%m/%d}{r[10:]}" for d in days for r in rows]
    content = "\n".join([header, *body, ""]).encode("cp932")
    table = parse_bytes(content)
    assert table.num_rows == 365 * 48 * 10


# --- where the files are -----------------------------------------------------------------------------


def test_url_is_the_fiscal_year_file() -> None:
    conn = connector("jepx-spot")
    # 2025-03-31 is the last day of fiscal year 2024; 2025-04-01 starts fiscal year 2025
    assert conn.urls(dt.date(2025, 3, 31)) == [
        "https://www.jepx.jp/js/csv_read.php?dir=spot_summary&file=spot_summary_2024.csv"
    ]
    assert conn.urls(dt.date(2025, 4, 1)) == [
        "https://www.jepx.jp/js/csv_read.php?dir=spot_summary&file=spot_summary_2025.csv"
    ]
    assert conn.payload_name(conn.urls(dt.date(2025, 3, 31))[0]) == "spot_summary_2024.csv"


def test_fetch_from_the_csv_reader_path() -> None:
    with local_source() as source:
        conn = JepxSpot(base_url=source.base_url)
        target = "/js/csv_read.php?dir=spot_summary&file=spot_summary_2024.csv"
        source.serve(target, UTF8.read_bytes())
        day = dt.date(2025, 3, 30)
        payloads = list(
            conn.pull_or_subscribe(day, day + dt.timedelta(days=1), Fetcher(requests_per_second=1000))
        )
        assert source.requests == [target]
    assert [p.name for p in payloads] == ["spot_summary_2024.csv"]
    table = parse_payload(conn, payloads[0])
    assert table.num_rows == 1440
    assert price(table, "SYSTEM", utc(2025, 3, 28, 15)) == 10410.0
