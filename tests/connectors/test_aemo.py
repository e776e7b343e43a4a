"""aemo-dispatchprice: NEMWEB DispatchIS reports parsed to canonical rows, NEM time on a DST day, errors,
URLs and fetch."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import zipfile
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from marketintel.connectors.fetch import Fetcher
from marketintel.connectors.models import ParseError, RawPayload
from marketintel.connectors.parse import parse_payload, payload_from_file
from marketintel.connectors.registry import connector
from tests.connectors.localsource import local_source

FIXTURES = Path(__file__).parent / "fixtures" / "aemo"
DAY_FILE = FIXTURES / "PUBLIC_DISPATCHIS_20241006.zip"
NAME = "aemo-dispatchprice"
REGIONS = ["NSW1", "QLD1", "SA1", "TAS1", "VIC1"]


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def parse(path: Path = DAY_FILE) -> pa.Table:
    return parse_payload(connector(NAME), payload_from_file(path))


def rrp(table: pa.Table, region: str, start: str) -> float:
    mask = pc.and_(
        pc.equal(table["location"], region), pc.equal(table["interval_start"], pa.scalar(utc(start)))
    )
    (value,) = table.filter(mask)["lmp"].to_pylist()
    return value


def inner_reports() -> list[tuple[str, bytes]]:
    """The day's 5-minute zips, (name, bytes), in archive order."""
    with zipfile.ZipFile(DAY_FILE) as archive:
        return [(name, archive.read(name)) for name in archive.namelist()]


def report_text(stamp: str) -> tuple[str, str, str]:
    """(inner zip name, CSV name, CSV text) of the 5-minute report for interval end `stamp` (YYYYMMDDHHMM)."""
    for name, content in inner_reports():
        if name.startswith(f"PUBLIC_DISPATCHIS_{stamp}_"):
            with zipfile.ZipFile(io.BytesIO(content)) as inner:
                (csv_name,) = inner.namelist()
                return name, csv_name, inner.read(csv_name).decode()
    raise AssertionError(stamp)


def zipped(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def day_with(
    stamp: str, edit: Callable[[list[str]], list[str]] | None = None, raw: bytes | None = None
) -> RawPayload:
    """The fixture day with one 5-minute report changed: its CSV lines edited (CRLF kept), or replaced."""
    target, csv_name, text = report_text(stamp)
    if raw is None:
        assert edit is not None
        raw = "\r\n".join(edit(text.split("\r\n"))).encode()
    members = [(n, zipped([(csv_name, raw)]) if n == target else c) for n, c in inner_reports()]
    return RawPayload(name=DAY_FILE.name, content=zipped(members), fetched_at=dt.datetime.now(dt.UTC))


def set_field(line: str, index: int, value: str) -> str:
    fields = line.split(",")
    fields[index] = value
    return ",".join(fields)


# --- the day ------------------------------------------------------------------------------------------


def test_nem_day_across_the_australian_dst_change_has_288_intervals_unshifted() -> None:
    table = parse()
    assert table.num_rows == 5 * 288
    counts = table.group_by("location").aggregate([("lmp", "count")]).to_pydict()
    assert dict(zip(counts["location"], counts["lmp_count"], strict=True)) == dict.fromkeys(REGIONS, 288)
    assert set(table["market"].to_pylist()) == {"AEMO"}
    assert set(table["run"].to_pylist()) == {"RT5"}
    assert set(table["interval_minutes"].to_pylist()) == {5}
    for region in REGIONS:
        starts = table.filter(pc.equal(table["location"], region))["interval_start"].to_pylist()
        # the interval ending "2024/10/06 00:05:00" NEM (UTC+10) is 00:00-00:05 NEM = 2024-10-05T14:00Z
        assert starts[0] == utc("2024-10-05T14:00:00Z")
        # the last, ending "2024/10/07 00:00:00" NEM, starts 23:55 NEM = 2024-10-06T13:55Z
        assert starts[-1] == utc("2024-10-06T13:55:00Z")
        # NSW/VIC/TAS/SA clocks jumped 02:00 -> 03:00 at 16:00Z; NEM time did not: no gap, no overlap
        assert all(b - a == dt.timedelta(minutes=5) for a, b in itertools.pairwise(starts))


def test_prices_land_on_the_interval_they_end() -> None:
    table = parse()
    # PUBLIC_DISPATCHIS_202410060005: NSW1 RRP 93.81531 for "2024/10/06 00:05:00" -> starts 2024-10-05T14:00Z
    assert rrp(table, "NSW1", "2024-10-05T14:00:00Z") == 93.81531
    # 202410060205: SA1 91.75841 ending 02:05 NEM, the moment Sydney skipped -> starts 02:00 NEM = 16:00Z
    assert rrp(table, "SA1", "2024-10-05T16:00:00Z") == 91.75841
    # 202410060305: VIC1 74.42391 ending 03:05 NEM -> starts 03:00 NEM = 17:00Z, one hour after, not zero
    assert rrp(table, "VIC1", "2024-10-05T17:00:00Z") == 74.42391
    # 202410061200: negative midday prices pass through: SA1 -36.85468 ending 12:00 -> 11:55 NEM = 01:55Z
    assert rrp(table, "SA1", "2024-10-06T01:55:00Z") == -36.85468
    # 202410070000: NSW1 "91" ending midnight -> 23:55 NEM = 13:55Z
    assert rrp(table, "NSW1", "2024-10-06T13:55:00Z") == 91.0


def test_the_pricing_run_is_kept_during_an_intervention() -> None:
    table = parse()
    # 202410061710 lines 10/11: SA1 INTERVENTION=0 RRP 51.52288, INTERVENTION=1 RRP 264.27288; ends 17:10
    # NEM, starts 17:05 NEM = 07:05Z; the pricing run (0) is the settlement price
    assert rrp(table, "SA1", "2024-10-06T07:05:00Z") == 51.52288
    assert 264.27288 not in table["lmp"].to_pylist()


def test_components_are_not_published() -> None:
    table = parse()
    for column in ("energy", "congestion", "loss"):
        assert table[column].null_count == table.num_rows


def test_every_region_is_a_zone() -> None:
    conn = connector(NAME)
    assert {conn.location_type(r) for r in REGIONS} == {"zone"}
    instruments = conn.instruments(parse()).to_pydict()
    assert instruments["location"] == REGIONS
    assert set(instruments["location_type"]) == {"zone"}
    assert set(instruments["currency"]) == {"AUD"}


def test_a_single_five_minute_report_parses_too() -> None:
    name, content = next(
        (n, c) for n, c in inner_reports() if n.startswith("PUBLIC_DISPATCHIS_202410061710_")
    )
    payload = RawPayload(name=name, content=content, fetched_at=dt.datetime.now(dt.UTC))
    table = parse_payload(connector(NAME), payload)
    assert table["location"].to_pylist() == REGIONS
    assert set(table["interval_start"].to_pylist()) == {utc("2024-10-06T07:05:00Z")}
    assert rrp(table, "SA1", "2024-10-06T07:05:00Z") == 51.52288


# --- malformed files ----------------------------------------------------------------------------------


def test_corrupt_zip_raises() -> None:
    content = DAY_FILE.read_bytes()
    payload = RawPayload(
        name=DAY_FILE.name, content=content[: len(content) // 3], fetched_at=dt.datetime.now(dt.UTC)
    )
    with pytest.raises(ParseError, match="not a readable zip archive") as caught:
        parse_payload(connector(NAME), payload)
    assert caught.value.file == DAY_FILE.name


def test_corrupt_inner_zip_raises_naming_it() -> None:
    target, _, _ = report_text("202410061200")
    members = [(n, c[:40] if n == target else c) for n, c in inner_reports()]
    payload = RawPayload(name=DAY_FILE.name, content=zipped(members), fetched_at=dt.datetime.now(dt.UTC))
    with pytest.raises(ParseError, match="not a readable zip archive") as caught:
        parse_payload(connector(NAME), payload)
    assert caught.value.file == f"{DAY_FILE.name}/{target}"


def test_truncated_report_raises() -> None:
    # the report cut after its 9th line: no END OF REPORT row
    payload = day_with("202410061200", lambda lines: lines[:9])
    with pytest.raises(ParseError, match="truncated: no END OF REPORT row") as caught:
        parse_payload(connector(NAME), payload)
    assert caught.value.file.endswith("PUBLIC_DISPATCHIS_202410061200_0000000421412342.CSV")
    assert caught.value.line == 9


def test_report_missing_lines_raises_against_its_footer_count() -> None:
    # line 7 (SA1's price) dropped: the footer still says 16 lines
    payload = day_with("202410061200", lambda lines: [*lines[:6], *lines[7:]])
    with pytest.raises(ParseError, match="END OF REPORT says 16 lines, the file has 15") as caught:
        parse_payload(connector(NAME), payload)
    assert caught.value.line == 15


def test_wrong_price_header_raises_naming_the_column() -> None:
    payload = day_with(
        "202410061200", lambda lines: [*lines[:3], lines[3].replace(",RRP,", ",RRPX,"), *lines[4:]]
    )
    with pytest.raises(ParseError, match="missing column") as caught:
        parse_payload(connector(NAME), payload)
    assert (caught.value.line, caught.value.field) == (4, "RRP")


def test_no_price_table_raises() -> None:
    def without_prices(lines: list[str]) -> list[str]:
        kept = [
            line for line in lines[:-2] if not line.startswith(("I,DISPATCH,PRICE,", "D,DISPATCH,PRICE,"))
        ]
        return [*kept, f'C,"END OF REPORT",{len(kept) + 1}', ""]

    payload = day_with("202410061200", without_prices)
    with pytest.raises(ParseError, match="no DISPATCH,PRICE table") as caught:
        parse_payload(connector(NAME), payload)
    assert caught.value.file.endswith("PUBLIC_DISPATCHIS_202410061200_0000000421412342.CSV")


def test_non_numeric_price_raises_with_file_line_and_field() -> None:
    # line 7 of the 12:00 report is SA1's price row; RRP is field 9 (after D,DISPATCH,PRICE,5)
    payload = day_with(
        "202410061200", lambda lines: [*lines[:6], set_field(lines[6], 9, "-3O.5"), *lines[7:]]
    )
    with pytest.raises(ParseError, match=r"not a price: '-3O\.5'") as caught:
        parse_payload(connector(NAME), payload)
    err = caught.value
    # the file is named by its path through the archive: day zip / 5-minute zip / CSV
    report = "PUBLIC_DISPATCHIS_202410061200_0000000421412342"
    assert err.file == f"{DAY_FILE.name}/{report}.zip/{report}.CSV"
    assert (err.line, err.field) == (7, "RRP")


def test_short_price_row_raises_with_the_line() -> None:
    payload = day_with("202410061200", lambda lines: [*lines[:7], lines[7].rsplit(",", 3)[0], *lines[8:]])
    with pytest.raises(ParseError, match="fields where the DISPATCH,PRICE header has 70") as caught:
        parse_payload(connector(NAME), payload)
    assert caught.value.line == 8


def test_bad_settlement_date_raises() -> None:
    payload = day_with(
        "202410061200",
        lambda lines: [
            *lines[:4],
            lines[4].replace('"2024/10/06 12:00:00"', '"06/10/2024 12:00"'),
            *lines[5:],
        ],
    )
    with pytest.raises(ParseError, match="not a NEM time") as caught:
        parse_payload(connector(NAME), payload)
    assert (caught.value.line, caught.value.field) == (5, "SETTLEMENTDATE")


def test_wrong_encoding_raises_with_the_line() -> None:
    _, _, text = report_text("202410061200")
    raw = text.encode().replace(b",TAS1,", b",TAS\xa31,", 1)  # a Latin-1 byte in line 8's region id
    payload = day_with("202410061200", raw=raw)
    with pytest.raises(ParseError, match="not UTF-8") as caught:
        parse_payload(connector(NAME), payload)
    assert caught.value.line == 8


def test_the_same_interval_twice_raises() -> None:
    name, content = next(
        (n, c) for n, c in inner_reports() if n.startswith("PUBLIC_DISPATCHIS_202410061200_")
    )
    members = [*inner_reports(), (name.replace(".zip", "_COPY.zip"), content)]
    payload = RawPayload(name=DAY_FILE.name, content=zipped(members), fetched_at=dt.datetime.now(dt.UTC))
    with pytest.raises(
        ParseError, match="a second pricing-run RRP for NSW1 at 2024/10/06 12:00:00"
    ) as caught:
        parse_payload(connector(NAME), payload)
    assert caught.value.line == 5


def test_real_size_day_parses_completely() -> None:
    """A real DispatchIS report has ~1,100 lines (CONSTRAINT and other tables); a day is 288 of them."""
    filler = [f'D,DISPATCH,CONSTRAINT,5,"x",1,C_{n:04d},0,0,0,0,"x",0,0' for n in range(1100)]

    def padded(lines: list[str]) -> list[str]:
        body = [*lines[:-2], "I,DISPATCH,CONSTRAINT,5,A,B,C,D,E,F,G,H,I,J", *filler]
        return [*body, f'C,"END OF REPORT",{len(body) + 1}', ""]

    members = []
    for name, content in inner_reports():
        with zipfile.ZipFile(io.BytesIO(content)) as inner:
            (csv_name,) = inner.namelist()
            lines = inner.read(csv_name).decode().split("\r\n")
        members.append((name, zipped([(csv_name, "\r\n".join(padded(lines)).encode())])))
    payload = RawPayload(name=DAY_FILE.name, content=zipped(members), fetched_at=dt.datetime.now(dt.UTC))
    table = parse_payload(connector(NAME), payload)
    assert table.num_rows == 5 * 288


# --- where the files are ------------------------------------------------------------------------------


def test_urls_name_the_daily_dispatchis_archive() -> None:
    assert connector(NAME).urls(dt.date(2024, 10, 6)) == [
        "https://nemweb.com.au/Reports/Archive/DispatchIS_Reports/PUBLIC_DISPATCHIS_20241006.zip"
    ]
    assert connector(NAME).payload_name(connector(NAME).urls(dt.date(2024, 10, 6))[0]) == DAY_FILE.name


def test_a_day_is_fetched_from_nemweb_and_parsed() -> None:
    day = dt.date(2024, 10, 6)
    with local_source() as source:
        source.serve(
            "/Reports/Archive/DispatchIS_Reports/PUBLIC_DISPATCHIS_20241006.zip", DAY_FILE.read_bytes()
        )
        conn = connector(NAME, base_url=source.base_url)
        payloads = list(
            conn.pull_or_subscribe(day, day + dt.timedelta(days=1), Fetcher(requests_per_second=1000))
        )
        assert source.requests == ["/Reports/Archive/DispatchIS_Reports/PUBLIC_DISPATCHIS_20241006.zip"]
    assert [p.name for p in payloads] == ["PUBLIC_DISPATCHIS_20241006.zip"]
    table = parse_payload(conn, payloads[0])
    assert table.num_rows == 5 * 288
    assert rrp(table, "NSW1", "2024-10-05T14:00:00Z") == 93.81531
