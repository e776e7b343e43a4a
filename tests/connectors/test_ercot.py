"""ercot-spp: NP4-190-CD day-ahead and NP6-905-CD 15-minute settlement point prices, from real-format MIS zips.

Central Prevailing Time: CDT is UTC-5, CST is UTC-6. On 2024-11-03 clocks fall back at 02:00 CDT to 01:00
CST (hour ending 02 twice: DSTFlag N, then Y); on 2024-03-10 they spring from 02:00 CST to 03:00 CDT (no hour
ending 03).
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from marketintel.connectors.clock import local_day_starts
from marketintel.connectors.fetch import Fetcher, NotPublished
from marketintel.connectors.models import ParseError, RawPayload
from marketintel.connectors.parse import parse_payload, payload_from_file
from marketintel.connectors.registry import connector
from marketintel.connectors.sources.ercot import ErcotSpp
from tests.connectors.localsource import local_source

FIXTURES = Path(__file__).parent / "fixtures" / "ercot"
DAM_FALL = FIXTURES / "cdr.00012331.0000000000000000.20241102.123003512.DAMSPNP4190_csv.zip"
DAM_SPRING = FIXTURES / "cdr.00012331.0000000000000000.20240309.122951318.DAMSPNP4190_csv.zip"
RT_FALL_DAY = FIXTURES / "bundle_SPPHLZNP6905_20241103.zip"
RT_SPRING_DAY = FIXTURES / "bundle_SPPHLZNP6905_20240310.zip"
RT = "cdr.00012301.0000000000000000.{}_csv.zip"
RT_FALL = {
    "0115": FIXTURES / RT.format("20241103.011702119.SPPHLZNP6905_20241103_0115"),
    "0100_xhr": FIXTURES / RT.format("20241103.010202147.SPPHLZNP6905_20241103_0100_xhr"),
    "0115_xhr": FIXTURES / RT.format("20241103.011702147.SPPHLZNP6905_20241103_0115_xhr"),
    "0200": FIXTURES / RT.format("20241103.020202119.SPPHLZNP6905_20241103_0200"),
    "0215": FIXTURES / RT.format("20241103.021702119.SPPHLZNP6905_20241103_0215"),
}
RT_SPRING = {
    "0300": FIXTURES / RT.format("20240310.030202119.SPPHLZNP6905_20240310_0300"),
    "0315": FIXTURES / RT.format("20240310.031702119.SPPHLZNP6905_20240310_0315"),
}
POINTS = {
    "7RNCHSLR_ALL",
    "AMOCOOIL_CC1",
    "DC_L",
    "HB_BUSAVG",
    "HB_HOUSTON",
    "HB_HUBAVG",
    "HB_NORTH",
    "LZ_HOUSTON",
    "LZ_NORTH",
}
RT_POINTS = POINTS | {"DC_L_EW", "LZ_HOUSTON_EW", "LZ_NORTH_EW"}


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def parse(path: Path) -> pl.DataFrame:
    frame = pl.from_arrow(parse_payload(connector("ercot-spp"), payload_from_file(path)))
    assert isinstance(frame, pl.DataFrame)
    return frame


def price(frame: pl.DataFrame, location: str, start: str) -> dict:
    rows = frame.filter((pl.col("location") == location) & (pl.col("interval_start") == utc(start)))
    assert rows.height == 1, (location, start, rows)
    return rows.row(0, named=True)


def member_text(path: Path) -> tuple[str, str]:
    with zipfile.ZipFile(path) as archive:
        (member,) = archive.namelist()
        return member, archive.read(member).decode()


def zipped(member: str, data: bytes, name: str = "test_csv.zip") -> RawPayload:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, data)
    return RawPayload(name, buffer.getvalue(), dt.datetime(2024, 11, 4, tzinfo=dt.UTC))


def edited(path: Path, line: int, old: str, new: str) -> RawPayload:
    """The fixture with `old` replaced by `new` on 1-based `line` of its CSV."""
    member, text = member_text(path)
    lines = text.split("\n")
    assert old in lines[line - 1], lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, new)
    return zipped(member, "\n".join(lines).encode())


# --- day-ahead (NP4-190-CD) ---------------------------------------------------------------------------


def test_day_ahead_fall_back_day_has_25_hours_and_the_repeated_hour_ending_02() -> None:
    frame = parse(DAM_FALL)
    assert frame.height == 9 * 25
    assert set(frame["location"]) == POINTS
    assert frame.group_by("location").len()["len"].to_list() == [25] * 9
    assert set(frame["run"]) == {"DA"}
    assert set(frame["interval_minutes"]) == {60}
    assert set(frame["market"]) == {"ERCOT"}
    # SPPs are not decomposed: no components
    assert (
        frame["energy"].null_count() == frame["congestion"].null_count() == frame["loss"].null_count() == 225
    )
    # HE 01 "11/03/2024,01:00,HB_HOUSTON, 17.47,N": 00:00 CDT = 05:00Z
    assert price(frame, "HB_HOUSTON", "2024-11-03T05:00:00Z")["lmp"] == 17.47
    # HE 02 DSTFlag N (line 15, " 17.05"): 01:00 CDT = 06:00Z, the first pass
    assert price(frame, "HB_HOUSTON", "2024-11-03T06:00:00Z")["lmp"] == 17.05
    # HE 02 DSTFlag Y (line 24, " 17.53"): 01:00 CST = 07:00Z, the repeated hour
    assert price(frame, "HB_HOUSTON", "2024-11-03T07:00:00Z")["lmp"] == 17.53
    # HE 03 " 17.7": 02:00 CST = 08:00Z
    assert price(frame, "HB_HOUSTON", "2024-11-03T08:00:00Z")["lmp"] == 17.7
    # HE 04 "7RNCHSLR_ALL,-1.5" (a negative price has no leading blank): 03:00 CST = 09:00Z
    assert price(frame, "7RNCHSLR_ALL", "2024-11-03T09:00:00Z")["lmp"] == -1.5
    # HE 20 "HB_NORTH, 29": 19:00 CST = 01:00Z the next UTC day
    assert price(frame, "HB_NORTH", "2024-11-04T01:00:00Z")["lmp"] == 29.0
    # HE 24 " 30.42": 23:00 CST = 05:00Z on 11/04
    assert price(frame, "HB_HOUSTON", "2024-11-04T05:00:00Z")["lmp"] == 30.42
    hub = frame.filter(pl.col("location") == "HB_HUBAVG")["interval_start"]
    assert hub.to_list() == local_day_starts(dt.date(2024, 11, 3), "America/Chicago", 60).to_pylist()


def test_day_ahead_spring_forward_day_has_23_hours_and_no_hour_ending_03() -> None:
    frame = parse(DAM_SPRING)
    assert frame.height == 9 * 23
    assert frame.group_by("location").len()["len"].to_list() == [23] * 9
    # HE 01 " 17.52": 00:00 CST = 06:00Z
    assert price(frame, "LZ_HOUSTON", "2024-03-10T06:00:00Z")["lmp"] == 17.52
    # HE 02 " 16.99": 01:00 CST = 07:00Z
    assert price(frame, "LZ_HOUSTON", "2024-03-10T07:00:00Z")["lmp"] == 16.99
    # HE 04 " 17.36": 03:00 CDT = 08:00Z, right after HE 02
    assert price(frame, "LZ_HOUSTON", "2024-03-10T08:00:00Z")["lmp"] == 17.36
    # HE 24 " 27.09": 23:00 CDT = 04:00Z on 03/11
    assert price(frame, "LZ_HOUSTON", "2024-03-11T04:00:00Z")["lmp"] == 27.09
    starts = frame.filter(pl.col("location") == "LZ_HOUSTON")["interval_start"]
    assert starts.diff().drop_nulls().unique().to_list() == [dt.timedelta(hours=1)]


# --- real-time (NP6-905-CD) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file", "start", "hub", "zone", "zone_ew"),
    [
        # "11/03/2024,2,1,...,N": HE 02 interval 1, first pass: 01:00 CDT = 06:00Z
        ("0115", "2024-11-03T06:00:00Z", 17.42, 17.47, 17.54),
        # "11/03/2024,2,4,...,N": 01:45 CDT = 06:45Z (the file ending as clocks fall back)
        ("0100_xhr", "2024-11-03T06:45:00Z", 16.35, 16.4, 16.68),
        # "11/03/2024,2,1,...,Y": the repeated hour's interval 1: 01:00 CST = 07:00Z
        ("0115_xhr", "2024-11-03T07:00:00Z", 17.79, 17.84, 17.91),
        # "11/03/2024,2,4,...,Y": 01:45 CST = 07:45Z
        ("0200", "2024-11-03T07:45:00Z", 16.72, 16.77, 17.05),
        # "11/03/2024,3,1,...,N": 02:00 CST = 08:00Z
        ("0215", "2024-11-03T08:00:00Z", 17.86, 17.91, 17.98),
    ],
)
def test_real_time_files_around_the_fall_back(
    file: str, start: str, hub: float, zone: float, zone_ew: float
) -> None:
    frame = parse(RT_FALL[file])
    assert frame.height == 12
    assert set(frame["location"]) == RT_POINTS
    assert set(frame["interval_start"]) == {utc(start)}
    assert set(frame["run"]) == {"RT15"}
    assert set(frame["interval_minutes"]) == {15}
    assert price(frame, "HB_HOUSTON", start)["lmp"] == hub
    # the load zone's two series (types LZ and LZEW) under one name: the energy-weighted one gets _EW
    assert price(frame, "LZ_HOUSTON", start)["lmp"] == zone
    assert price(frame, "LZ_HOUSTON_EW", start)["lmp"] == zone_ew


def test_real_time_files_around_the_spring_forward() -> None:
    # "03/10/2024,2,4,HB_HOUSTON,HU,16.35,N": 01:45 CST = 07:45Z
    before = parse(RT_SPRING["0300"])
    assert price(before, "HB_HOUSTON", "2024-03-10T07:45:00Z")["lmp"] == 16.35
    # "03/10/2024,4,1,HB_HOUSTON,HU,17.79,N": 03:00 CDT = 08:00Z, the very next quarter hour
    after = parse(RT_SPRING["0315"])
    assert price(after, "HB_HOUSTON", "2024-03-10T08:00:00Z")["lmp"] == 17.79
    assert price(after, "DC_L", "2024-03-10T08:00:00Z")["lmp"] == 18.58
    assert price(after, "DC_L_EW", "2024-03-10T08:00:00Z")["lmp"] == 18.65


def test_a_fall_back_day_of_real_time_files_has_100_intervals_per_series() -> None:
    frame = parse(RT_FALL_DAY)
    expected = local_day_starts(dt.date(2024, 11, 3), "America/Chicago", 15).to_pylist()
    assert len(expected) == 100
    assert set(frame["location"]) == RT_POINTS
    for location in RT_POINTS:
        assert frame.filter(pl.col("location") == location)["interval_start"].to_list() == expected
    # the day's bundle holds the same rows as the single 15-minute files
    for path in RT_FALL.values():
        single = parse(path)
        same = frame.join(single, on=["location", "interval_start"], how="inner", suffix="_single")
        assert same.height == 12
        assert (same["lmp"] == same["lmp_single"]).all()


def test_a_spring_forward_day_of_real_time_files_has_92_intervals_per_series() -> None:
    frame = parse(RT_SPRING_DAY)
    expected = local_day_starts(dt.date(2024, 3, 10), "America/Chicago", 15).to_pylist()
    assert len(expected) == 92
    for location in RT_POINTS:
        assert frame.filter(pl.col("location") == location)["interval_start"].to_list() == expected
    # 01:45 CST (07:45Z) is followed by 03:00 CDT (08:00Z)
    assert price(frame, "HB_HOUSTON", "2024-03-10T07:45:00Z")["lmp"] == 16.35
    assert price(frame, "HB_HOUSTON", "2024-03-10T08:00:00Z")["lmp"] == 17.79


# --- locations ------------------------------------------------------------------------------------------


def test_location_types_from_names_and_from_settlement_point_types() -> None:
    fresh = ErcotSpp()
    by_name = {p: fresh.location_type(p) for p in RT_POINTS}
    assert by_name == {
        "HB_BUSAVG": "hub",  # type SH
        "HB_HOUSTON": "hub",  # HU
        "HB_HUBAVG": "hub",  # AH
        "HB_NORTH": "hub",
        "LZ_HOUSTON": "zone",  # LZ
        "LZ_HOUSTON_EW": "zone",  # LZEW
        "LZ_NORTH": "zone",
        "LZ_NORTH_EW": "zone",
        "DC_L": "interface",  # LZ_DC: the Laredo DC tie
        "DC_L_EW": "interface",
        "7RNCHSLR_ALL": "node",  # RN
        "AMOCOOIL_CC1": "node",  # LCCRN
    }
    # after a real-time file, the file's SettlementPointType decides, and agrees with the names
    parsed = ErcotSpp()
    mapped = parse_payload(parsed, payload_from_file(RT_FALL["0215"]))
    assert {p: parsed.location_type(p) for p in RT_POINTS} == by_name
    assert parsed.point_types["HB_BUSAVG"] == "SH"
    assert parsed.point_types["LZ_HOUSTON_EW"] == "LZEW"
    instruments = parsed.instruments(mapped)
    assert set(instruments.column("timezone").to_pylist()) == {"America/Chicago"}
    kinds = dict(
        zip(
            instruments.column("location").to_pylist(),
            instruments.column("location_type").to_pylist(),
            strict=True,
        )
    )
    assert (kinds["HB_HUBAVG"], kinds["LZ_NORTH_EW"], kinds["7RNCHSLR_ALL"]) == ("hub", "zone", "node")


# --- malformed files ------------------------------------------------------------------------------------


def test_a_non_numeric_price_names_its_line() -> None:
    # line 15 is "11/03/2024,02:00,HB_HOUSTON, 17.05,N"
    payload = edited(DAM_FALL, 15, " 17.05", "n/a")
    with pytest.raises(ParseError, match="not a number") as caught:
        parse_payload(ErcotSpp(), payload)
    assert caught.value.line == 15
    assert caught.value.field == "SettlementPointPrice"
    assert caught.value.file == "test_csv.zip/cdr.00012331.0000000000000000.20241102.123003.DAMSPNP4190.csv"


def test_a_file_cut_mid_line_is_truncated() -> None:
    member, text = member_text(DAM_FALL)
    # HE 05 HB_HOUSTON is line 51 (header, then 9 points per hour: HE 01, 02, 02 again, 03, 04, 05)
    cut = text.index("11/03/2024,05:00,HB_HOUSTON") + 20
    with pytest.raises(ParseError, match="truncated") as caught:
        parse_payload(ErcotSpp(), zipped(member, text[:cut].encode()))
    assert caught.value.line == 51


def test_a_day_ahead_file_missing_its_last_hour_is_incomplete() -> None:
    member, text = member_text(DAM_FALL)
    lines = text.split("\n")[:-1]
    kept = "\n".join(lines[:-9]) + "\n"  # no hour ending 24
    with pytest.raises(ParseError, match="7RNCHSLR_ALL has 24 hours on 11/03/2024, which has 25") as caught:
        parse_payload(ErcotSpp(), zipped(member, kept.encode()))
    assert caught.value.line == 209  # its last row, HE 23 (the 24th hour of the day: lines 209-217)


def test_a_wrong_header_or_missing_column_is_refused_on_line_1() -> None:
    with pytest.raises(ParseError, match="neither NP6-905-CD") as caught:
        parse_payload(ErcotSpp(), edited(DAM_FALL, 1, "SettlementPointPrice", "SettlementPointPrce"))
    assert caught.value.line == 1
    with pytest.raises(ParseError, match="header") as caught:
        parse_payload(ErcotSpp(), edited(RT_FALL["0115"], 1, ",DSTFlag", ""))
    assert caught.value.line == 1


def test_a_row_with_a_missing_field_names_its_line() -> None:
    with pytest.raises(ParseError, match="expected 5 fields, found 4") as caught:
        parse_payload(ErcotSpp(), edited(DAM_FALL, 15, ",N", ""))
    assert caught.value.line == 15


def test_wrong_encoding_names_its_line() -> None:
    member, text = member_text(DAM_FALL)
    data = text.encode().replace(b"01:00,HB_HOUSTON", b"01:00,HB_HOUST\xd3N")  # a Latin-1 byte on line 6
    with pytest.raises(ParseError, match="not UTF-8") as caught:
        parse_payload(ErcotSpp(), zipped(member, data))
    assert caught.value.line == 6


def test_a_corrupt_or_missing_zip_is_refused() -> None:
    content = DAM_FALL.read_bytes()
    half = RawPayload(DAM_FALL.name, content[: len(content) // 2], dt.datetime(2024, 11, 4, tzinfo=dt.UTC))
    with pytest.raises(ParseError, match="corrupt ZIP") as caught:
        parse_payload(ErcotSpp(), half)
    assert caught.value.file == DAM_FALL.name
    # damage the compressed bytes of the CSV (they start after the 30-byte header and the member name)
    damaged = bytearray(content)
    start = 30 + len("cdr.00012331.0000000000000000.20241102.123003.DAMSPNP4190.csv")
    damaged[start + 40 : start + 60] = b"\x00" * 20
    with pytest.raises(ParseError, match="corrupt ZIP"):
        parse_payload(
            ErcotSpp(), RawPayload(DAM_FALL.name, bytes(damaged), dt.datetime(2024, 11, 4, tzinfo=dt.UTC))
        )
    _, text = member_text(DAM_FALL)
    with pytest.raises(ParseError, match="not a ZIP archive"):
        parse_payload(ErcotSpp(), RawPayload("x.csv", text.encode(), dt.datetime(2024, 11, 4, tzinfo=dt.UTC)))


def test_dst_flag_y_on_an_hour_that_does_not_repeat_is_refused() -> None:
    # line 6 is HE 01 (00:00 CDT), which happens once
    with pytest.raises(ParseError, match="not repeated") as caught:
        parse_payload(ErcotSpp(), edited(DAM_FALL, 6, ",N", ",Y"))
    assert (caught.value.line, caught.value.field) == (6, "HourEnding")


def test_hour_ending_03_on_the_spring_forward_day_does_not_exist() -> None:
    # line 11 is the first HE 02 row; as "03:00" it would start at 02:00 CST, which clocks skip
    with pytest.raises(ParseError, match="does not exist") as caught:
        parse_payload(ErcotSpp(), edited(DAM_SPRING, 11, "02:00", "03:00"))
    assert (caught.value.line, caught.value.field) == (11, "HourEnding")


def test_a_repeated_row_and_a_bad_interval_are_refused() -> None:
    member, text = member_text(RT_FALL["0115"])
    first_row = text.split("\n")[1]
    with pytest.raises(
        ParseError, match=r"7RNCHSLR_ALL RT15 at 2024-11-03 06:00:00.*appears twice"
    ) as caught:
        parse_payload(ErcotSpp(), zipped(member, (text + first_row + "\n").encode()))
    assert caught.value.line == 14
    with pytest.raises(ParseError, match=r"not an interval 1\.\.4") as caught:
        parse_payload(ErcotSpp(), edited(RT_FALL["0115"], 3, "2,1,", "2,5,"))
    assert (caught.value.line, caught.value.field) == (3, "DeliveryInterval")


def test_a_listing_is_not_a_price_file() -> None:
    listing = FIXTURES / "IceDocListJsonWS_12301.json"
    with pytest.raises(ParseError, match="listing, not a price document"):
        parse_payload(ErcotSpp(), payload_from_file(listing))


# --- where the files are --------------------------------------------------------------------------------


def test_urls_are_the_mis_listings_and_documents_are_downloads_by_id() -> None:
    conn = connector("ercot-spp")
    assert conn.urls(dt.date(2024, 11, 3)) == [
        "https://www.ercot.com/misapp/servlets/IceDocListJsonWS?reportTypeId=12331",
        "https://www.ercot.com/misapp/servlets/IceDocListJsonWS?reportTypeId=12301",
    ]
    assert isinstance(conn, ErcotSpp)
    assert (
        conn.document_url("1048150019")
        == "https://www.ercot.com/misdownload/servlets/mirDownload?doclookupId=1048150019"
    )
    assert conn.discover().runs == ("DA", "RT15")


def test_pull_reads_the_listings_then_fetches_the_days_documents() -> None:
    retry = RT.format("20241103.023105406.SPPHLZNP6905_retry_20241103_0215")
    with local_source() as source:
        conn = connector("ercot-spp", base_url=source.base_url)
        for report in (12331, 12301):
            listing = (FIXTURES / f"IceDocListJsonWS_{report}.json").read_bytes()
            source.serve(f"/misapp/servlets/IceDocListJsonWS?reportTypeId={report}", listing)
        documents = {
            "1048150019": DAM_FALL,
            "1048150001": RT_FALL["0115"],
            "1048150003": RT_FALL["0100_xhr"],
            "1048150005": RT_FALL["0115_xhr"],
            "1048150007": RT_FALL["0200"],
            "1048150009": RT_FALL["0215"],  # the first posting of 02:15, replaced by the retry
            "1048150017": RT_FALL["0215"],  # the retry (same bytes here)
        }
        for doc_id, path in documents.items():
            source.serve(f"/misdownload/servlets/mirDownload?doclookupId={doc_id}", path.read_bytes())
        payloads = list(
            conn.pull_or_subscribe(
                dt.date(2024, 11, 3), dt.date(2024, 11, 4), Fetcher(requests_per_second=1000)
            )
        )
        assert (
            source.requests
            == [
                # both listings first: a day is published only when every report lists it
                "/misapp/servlets/IceDocListJsonWS?reportTypeId=12331",
                "/misapp/servlets/IceDocListJsonWS?reportTypeId=12301",
                "/misdownload/servlets/mirDownload?doclookupId=1048150019",  # posted 11/02 for 11/03; not the XML twin
                # 11/03's intervals in posting order; not 11/02 23:45, not 11/04 00:15, not the first 02:15
                "/misdownload/servlets/mirDownload?doclookupId=1048150001",
                "/misdownload/servlets/mirDownload?doclookupId=1048150003",
                "/misdownload/servlets/mirDownload?doclookupId=1048150005",
                "/misdownload/servlets/mirDownload?doclookupId=1048150007",
                "/misdownload/servlets/mirDownload?doclookupId=1048150017",
            ]
        )
    assert [p.name for p in payloads] == [DAM_FALL.name, *(p.name for p in list(RT_FALL.values())[:4]), retry]
    day_ahead = pl.from_arrow(parse_payload(conn, payloads[0]))
    assert isinstance(day_ahead, pl.DataFrame)
    assert day_ahead.height == 225
    real_time = pl.concat([pl.from_arrow(parse_payload(conn, p)) for p in payloads[1:]])
    # 06:00Z and 06:45Z (first pass), 07:00Z and 07:45Z (repeated hour), 08:00Z
    assert sorted(set(real_time["interval_start"])) == [
        utc(t)
        for t in (
            "2024-11-03T06:00:00Z",
            "2024-11-03T06:45:00Z",
            "2024-11-03T07:00:00Z",
            "2024-11-03T07:45:00Z",
            "2024-11-03T08:00:00Z",
        )
    ]


def test_a_day_the_listing_no_longer_holds_is_not_published() -> None:
    with local_source() as source:
        conn = connector("ercot-spp", base_url=source.base_url)
        source.serve(
            "/misapp/servlets/IceDocListJsonWS?reportTypeId=12331",
            (FIXTURES / "IceDocListJsonWS_12331.json").read_bytes(),
        )
        with pytest.raises(NotPublished, match="no report 12331 document for 2024-10-01"):
            list(
                conn.pull_or_subscribe(
                    dt.date(2024, 10, 1), dt.date(2024, 10, 2), Fetcher(requests_per_second=1000)
                )
            )


# --- size -----------------------------------------------------------------------------------------------


def test_a_full_day_of_real_size_files_parses_completely() -> None:
    """96 files of 1136 settlement points (ERCOT's real count): 109,056 rows."""
    header = ",".join(
        [
            "DeliveryDate",
            "DeliveryHour",
            "DeliveryInterval",
            "SettlementPointName",
            "SettlementPointType",
            "SettlementPointPrice",
            "DSTFlag",
        ]
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for hour in range(1, 25):
            for k in range(1, 5):
                rows = [f"07/15/2024,{hour},{k},NODE_{n:04d},RN,{20 + n % 17 + k / 4},N" for n in range(1136)]
                archive.writestr(f"m_{hour}_{k}.csv", "\n".join([header, *rows]) + "\n")
    payload = RawPayload("day.zip", buffer.getvalue(), dt.datetime(2024, 7, 16, tzinfo=dt.UTC))
    conn = ErcotSpp()
    parse_payload(conn, payload_from_file(RT_FALL["0115"]))  # warm up (imports, first-use caches)
    table = parse_payload(conn, payload)
    assert table.num_rows == 96 * 1136
    assert isinstance(table, pa.Table)
