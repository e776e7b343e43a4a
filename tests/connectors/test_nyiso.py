"""nyiso-lbmp: NYISO MIS damlbmp/realtime zone and gen CSVs and a monthly zip, on both Eastern DST days."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from marketintel.connectors.fetch import Fetcher
from marketintel.connectors.models import ParseError, RawPayload
from marketintel.connectors.parse import parse_payload, payload_from_file
from marketintel.connectors.registry import connector
from tests.connectors.localsource import local_source

FIXTURES = Path(__file__).parent / "fixtures" / "nyiso"
FALL_BACK, SPRING_FORWARD = dt.date(2024, 11, 3), dt.date(2024, 3, 10)


def parse(name: str) -> pa.Table:
    return parse_payload(connector("nyiso-lbmp"), payload_from_file(FIXTURES / name))


def parse_bytes(name: str, content: bytes) -> pa.Table:
    payload = RawPayload(name=name, content=content, fetched_at=dt.datetime.now(dt.UTC))
    return parse_payload(connector("nyiso-lbmp"), payload)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def row(table: pa.Table, location: str, start: dt.datetime) -> tuple[float, float, float, float]:
    mask = pc.and_(pc.equal(table["location"], location), pc.equal(table["interval_start"], start))
    rows = table.filter(mask).to_pylist()
    assert len(rows) == 1, rows
    return rows[0]["lmp"], rows[0]["energy"], rows[0]["congestion"], rows[0]["loss"]


def counts(table: pa.Table) -> dict[str, int]:
    grouped = table.group_by("location").aggregate([("interval_start", "count")])
    return dict(
        zip(grouped["location"].to_pylist(), grouped["interval_start_count"].to_pylist(), strict=True)
    )


def lines(name: str) -> list[bytes]:
    return (FIXTURES / name).read_bytes().split(b"\r\n")


ZONES = ["CAPITL", "H Q", "LONGIL", "N.Y.C.", "WEST"]


# --- day-ahead ------------------------------------------------------------------------------------------


def test_day_ahead_zones_on_the_fall_back_day_take_the_repeated_hour_in_file_order() -> None:
    table = parse("20241103damlbmp_zone.csv")
    assert counts(table) == dict.fromkeys(ZONES, 25)
    assert set(table["run"].to_pylist()) == {"DA"}
    assert set(table["interval_minutes"].to_pylist()) == {60}
    # line 10: "11/03/2024 01:00","N.Y.C.",61761,33.39,-1.02,-6.20 — the first 01:00, EDT (UTC-4): 05:00Z.
    # NYISO's congestion -6.20 raises the price, so canonical congestion is +6.20 and
    # energy = 33.39 - (-1.02) - 6.20 = 28.21
    assert row(table, "N.Y.C.", utc(2024, 11, 3, 5)) == (33.39, 28.21, 6.20, -1.02)
    # line 15: "11/03/2024 01:00","N.Y.C.",61761,29.43,0.27,-0.90 — the second 01:00, EST (UTC-5): 06:00Z;
    # energy = 29.43 - 0.27 - 0.90 = 28.26
    assert row(table, "N.Y.C.", utc(2024, 11, 3, 6)) == (29.43, 28.26, 0.90, 0.27)
    starts = pc.unique(table["interval_start"]).to_pylist()
    assert starts[0] == utc(2024, 11, 3, 4)  # 00:00 EDT
    assert starts[-1] == utc(2024, 11, 4, 4)  # 23:00 EST


def test_day_ahead_zones_on_the_spring_forward_day_have_23_hours() -> None:
    table = parse("20240310damlbmp_zone.csv")
    assert counts(table) == dict.fromkeys(ZONES, 23)
    # line 11: "03/10/2024 01:00","WEST",61752,30.44,1.83,0.00 — 01:00 EST = 06:00Z; energy 30.44 - 1.83 = 28.61
    assert row(table, "WEST", utc(2024, 3, 10, 6)) == (30.44, 28.61, 0.0, 1.83)
    # line 16: the next hour is "03/10/2024 03:00" EDT = 07:00Z (02:00 does not exist)
    assert row(table, "WEST", utc(2024, 3, 10, 7)) == (32.89, 33.62, 0.0, -0.73)


def test_day_ahead_generators_are_nodes_and_the_reference_bus_is_pure_energy() -> None:
    table = parse("20241103damlbmp_gen.csv")
    assert counts(table) == {"59TH STREET_GT_1": 25, "NYISO_LBMP_REFERENCE": 25}
    # lines 4 and 6: "11/03/2024 01:00","59TH STREET_GT_1",24138,28.19,0.18,-0.35 then 24.12,0.41,-0.35
    assert row(table, "59TH STREET_GT_1", utc(2024, 11, 3, 5)) == (28.19, 27.66, 0.35, 0.18)
    assert row(table, "59TH STREET_GT_1", utc(2024, 11, 3, 6)) == (24.12, 23.36, 0.35, 0.41)
    # line 7: the reference bus at the second 01:00 (06:00Z): LBMP 23.36, no losses, no congestion
    assert row(table, "NYISO_LBMP_REFERENCE", utc(2024, 11, 3, 6)) == (23.36, 23.36, 0.0, 0.0)


# --- real-time ------------------------------------------------------------------------------------------


def test_real_time_stamps_are_interval_ends_and_the_fall_back_day_has_300() -> None:
    table = parse("20241103realtime_zone.csv")
    assert counts(table) == dict.fromkeys(ZONES, 300)
    assert set(table["run"].to_pylist()) == {"RT5"}
    assert set(table["interval_minutes"].to_pylist()) == {5}
    # line 4: "11/03/2024 00:05:00","LONGIL",61762,38.09,0.11,-7.74 ends 00:05 EDT = 04:05Z, starts 04:00Z
    assert row(table, "LONGIL", utc(2024, 11, 3, 4, 0)) == (38.09, 30.24, 7.74, 0.11)
    # line 59: the first "01:00:00" ends 01:00 EDT = 05:00Z -> starts 04:55Z
    assert row(table, "LONGIL", utc(2024, 11, 3, 4, 55)) == (35.71, 31.49, 4.06, 0.16)
    # line 64: the first "01:05:00" (EDT) ends 05:05Z -> starts 05:00Z
    assert row(table, "LONGIL", utc(2024, 11, 3, 5, 0))[0] == 28.37
    # line 119: the second "01:00:00" ends 01:00 EST = 06:00Z -> starts 05:55Z
    assert row(table, "LONGIL", utc(2024, 11, 3, 5, 55)) == (34.23, 29.83, 5.36, -0.96)
    # line 124: the second "01:05:00" (EST) ends 06:05Z -> starts 06:00Z
    assert row(table, "LONGIL", utc(2024, 11, 3, 6, 0))[0] == 32.35
    # line 1499: "11/04/2024 00:00:00" ends midnight EST = 05:00Z on the 4th -> the day's last start, 04:55Z
    assert row(table, "LONGIL", utc(2024, 11, 4, 4, 55))[0] == 28.55
    starts = pc.unique(table["interval_start"])
    assert len(starts) == 300


def test_real_time_on_the_spring_forward_day_has_276() -> None:
    table = parse("20240310realtime_zone.csv")
    assert counts(table) == dict.fromkeys(ZONES, 276)
    # line 112: "03/10/2024 01:55:00" EST ends 06:55Z -> starts 06:50Z
    assert row(table, "CAPITL", utc(2024, 3, 10, 6, 50)) == (30.76, 28.79, 0.0, 1.97)
    # line 117: the next stamp is "03/10/2024 03:00:00" EDT, ending 07:00Z -> starts 06:55Z
    assert row(table, "CAPITL", utc(2024, 3, 10, 6, 55)) == (24.47, 23.13, 0.0, 1.34)


def test_real_time_generators() -> None:
    assert counts(parse("20241103realtime_gen.csv")) == {"59TH STREET_GT_1": 300, "NYISO_LBMP_REFERENCE": 300}
    assert counts(parse("20240310realtime_gen.csv")) == {"59TH STREET_GT_1": 276, "NYISO_LBMP_REFERENCE": 276}


def test_real_time_intervals_off_the_five_minute_grid_are_dropped() -> None:
    content = lines("20241103realtime_zone.csv")
    # an extra corrective-action interval ending 00:07:30, between the 00:05 and 00:10 rows
    content.insert(6, b'"11/03/2024 00:07:30","CAPITL",61757,45.00,1.00,0.00')
    table = parse_bytes("20241103realtime_zone.csv", b"\r\n".join(content))
    assert counts(table) == dict.fromkeys(ZONES, 300)
    assert 45.0 not in table["lmp"].to_pylist()


# --- monthly zip ----------------------------------------------------------------------------------------


def test_a_monthly_zip_gives_every_day_in_it() -> None:
    table = parse("20241101damlbmp_zone_csv.zip")
    # Nov 1 and 2 have 24 hours, Nov 3 has 25
    assert counts(table) == dict.fromkeys(ZONES, 24 + 24 + 25)
    starts = pc.unique(table["interval_start"]).to_pylist()
    assert starts[0] == utc(2024, 11, 1, 4)  # 00:00 EDT on the 1st
    assert starts[-1] == utc(2024, 11, 4, 4)  # 23:00 EST on the 3rd
    # 20241102damlbmp_zone.csv line 2: "11/02/2024 00:00","CAPITL",61757,25.38,1.59,0.00 -> 04:00Z on the 2nd
    assert row(table, "CAPITL", utc(2024, 11, 2, 4)) == (25.38, 23.79, 0.0, 1.59)
    # the 3rd inside the zip is the same as the daily file
    day = table.filter(pc.greater_equal(table["interval_start"], utc(2024, 11, 3, 4)))
    assert day.equals(parse("20241103damlbmp_zone.csv"))


# --- every fixture ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.iterdir() if p.suffix in (".csv", ".zip")))
def test_components_add_up_to_the_lbmp(name: str) -> None:
    table = parse(name)
    total = pc.add(pc.add(table["energy"], table["congestion"]), table["loss"])
    assert pc.max(pc.abs(pc.subtract(total, table["lmp"]))).as_py() < 1e-9


def test_location_types() -> None:
    nyiso = connector("nyiso-lbmp")
    zones = parse_payload(nyiso, payload_from_file(FIXTURES / "20241103damlbmp_zone.csv"))
    gens = parse_payload(nyiso, payload_from_file(FIXTURES / "20241103damlbmp_gen.csv"))
    assert set(nyiso.instruments(zones)["location_type"].to_pylist()) == {"zone"}
    assert set(nyiso.instruments(gens)["location_type"].to_pylist()) == {"node"}
    fresh = connector("nyiso-lbmp")  # before any file: the zonal files' names are zones, the rest nodes
    assert [fresh.location_type(n) for n in ("N.Y.C.", "H Q", "PJM", "59TH STREET_GT_1")] == [
        "zone",
        "zone",
        "zone",
        "node",
    ]


# --- URLs and the fetch path ----------------------------------------------------------------------------


def test_urls_are_the_live_mis_files() -> None:
    nyiso = connector("nyiso-lbmp")
    assert nyiso.urls(FALL_BACK) == [
        "http://mis.nyiso.com/public/csv/damlbmp/20241103damlbmp_zone.csv",
        "http://mis.nyiso.com/public/csv/damlbmp/20241103damlbmp_gen.csv",
        "http://mis.nyiso.com/public/csv/realtime/20241103realtime_zone.csv",
        "http://mis.nyiso.com/public/csv/realtime/20241103realtime_gen.csv",
    ]
    assert (
        nyiso.monthly_urls(FALL_BACK)[0]
        == "http://mis.nyiso.com/public/csv/damlbmp/20241101damlbmp_zone_csv.zip"
    )
    assert (
        nyiso.monthly_urls(FALL_BACK)[3]
        == "http://mis.nyiso.com/public/csv/realtime/20241101realtime_gen_csv.zip"
    )


def test_fetch_a_day_from_a_local_server() -> None:
    with local_source() as source:
        nyiso = connector("nyiso-lbmp", base_url=source.base_url)
        for url in nyiso.urls(SPRING_FORWARD):
            name = url.rsplit("/", 1)[-1]
            source.serve(url.removeprefix(source.base_url), (FIXTURES / name).read_bytes())
        day_after = SPRING_FORWARD + dt.timedelta(days=1)
        payloads = list(nyiso.pull_or_subscribe(SPRING_FORWARD, day_after, Fetcher(requests_per_second=1000)))
        assert source.requests == [
            "/csv/damlbmp/20240310damlbmp_zone.csv",
            "/csv/damlbmp/20240310damlbmp_gen.csv",
            "/csv/realtime/20240310realtime_zone.csv",
            "/csv/realtime/20240310realtime_gen.csv",
        ]
    tables = [parse_payload(nyiso, p) for p in payloads]
    assert [t.num_rows for t in tables] == [5 * 23, 2 * 23, 5 * 276, 2 * 276]
    assert tables[2].equals(parse("20240310realtime_zone.csv"))


# --- malformed input ------------------------------------------------------------------------------------


def test_a_file_cut_inside_a_line_names_that_line() -> None:
    content = (FIXTURES / "20241103damlbmp_zone.csv").read_bytes()
    cut = content[: content.index(b'"11/03/2024 02:00","CAPITL"') + 30]  # line 17, cut after the PTID
    with pytest.raises(
        ParseError, match=r"20241103damlbmp_zone\.csv:17 field 'LBMP \(\$/MWHr\)': missing value"
    ):
        parse_bytes("20241103damlbmp_zone.csv", cut)


def test_a_file_cut_at_a_line_break_is_refused_as_incomplete() -> None:
    content = b"\r\n".join(lines("20241103realtime_zone.csv")[:1000]) + b"\r\n"
    with pytest.raises(ParseError, match=r"only 200 of the 300 intervals of 2024-11-03 .*truncated"):
        parse_bytes("20241103realtime_zone.csv", content)


def test_a_wrong_header_is_refused() -> None:
    content = (FIXTURES / "20241103damlbmp_zone.csv").read_bytes().replace(b'"LBMP ($/MWHr)"', b'"Price"')
    with pytest.raises(ParseError, match=r":1: missing column\(s\) \['LBMP \(\$/MWHr\)'\]"):
        parse_bytes("20241103damlbmp_zone.csv", content)


def test_the_old_truncated_congestion_header_is_accepted() -> None:
    content = (
        (FIXTURES / "20241103damlbmp_zone.csv").read_bytes().replace(b'($/MWHr)"\r\n', b'($/MWH"\r\n', 1)
    )
    assert parse_bytes("20241103damlbmp_zone.csv", content).equals(parse("20241103damlbmp_zone.csv"))


def test_a_non_numeric_price_names_line_and_field() -> None:
    content = lines("20241103damlbmp_zone.csv")
    # line 21: "11/03/2024 02:00","WEST",61752,21.48,-1.09,0.40 with a letter O for the zero in the losses
    content[20] = content[20].replace(b"-1.09", b"-1.O9")
    with pytest.raises(
        ParseError,
        match=r"20241103damlbmp_zone\.csv:21 field 'Marginal Cost Losses \(\$/MWHr\)': not a number: '-1\.O9'",
    ):
        parse_bytes("20241103damlbmp_zone.csv", b"\r\n".join(content))


def test_a_non_ascii_byte_names_its_line() -> None:
    content = lines("20241103damlbmp_gen.csv")
    content[9] = content[9].replace(b"STREET", b"STRA\xdfE")  # a Latin-1 byte on line 10
    with pytest.raises(ParseError, match=r"20241103damlbmp_gen\.csv:10: not ASCII text"):
        parse_bytes("20241103damlbmp_gen.csv", b"\r\n".join(content))


def test_a_time_in_the_spring_forward_gap_is_refused() -> None:
    content = lines("20240310damlbmp_zone.csv")
    content[15] = content[15].replace(
        b"03/10/2024 03:00", b"03/10/2024 02:00"
    )  # line 16: 2 AM did not happen
    with pytest.raises(ParseError, match=r":16 field 'Time Stamp': no such Eastern time"):
        parse_bytes("20240310damlbmp_zone.csv", b"\r\n".join(content))


def test_a_row_given_twice_is_refused() -> None:
    content = lines("20240310damlbmp_zone.csv")
    content.insert(3, content[2])  # line 3 (H Q at 00:00) again as line 4
    with pytest.raises(ParseError, match=r":4 field 'Time Stamp': repeats an interval"):
        parse_bytes("20240310damlbmp_zone.csv", b"\r\n".join(content))


def test_a_row_of_another_day_is_refused() -> None:
    content = lines("20240310damlbmp_zone.csv")
    content[2] = content[2].replace(b"03/10/2024 00:00", b"03/11/2024 00:00")
    with pytest.raises(ParseError, match=r":3 field 'Time Stamp': .* is not on 2024-03-10"):
        parse_bytes("20240310damlbmp_zone.csv", b"\r\n".join(content))


def test_a_corrupt_zip_is_refused() -> None:
    content = (FIXTURES / "20241101damlbmp_zone_csv.zip").read_bytes()
    with pytest.raises(ParseError, match=r"20241101damlbmp_zone_csv\.zip: corrupt zip"):
        parse_bytes("20241101damlbmp_zone_csv.zip", content[: len(content) // 2])
    damaged = bytearray(content)
    damaged[200] ^= 0xFF  # inside the first member's compressed data: its CRC no longer matches
    with pytest.raises(ParseError, match="corrupt zip"):
        parse_bytes("20241101damlbmp_zone_csv.zip", bytes(damaged))


def test_a_zip_member_error_names_the_member_and_line() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        good = (FIXTURES / "20241103damlbmp_zone.csv").read_bytes()
        archive.writestr("20241103damlbmp_zone.csv", good.replace(b"33.39", b"3e.39", 1))
    with pytest.raises(ParseError, match=r"20241101damlbmp_zone_csv\.zip/20241103damlbmp_zone\.csv:10 field"):
        parse_bytes("20241101damlbmp_zone_csv.zip", buffer.getvalue())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("20241103realtime_zone.csv", good)
    with pytest.raises(ParseError, match=r"unexpected member '20241103realtime_zone\.csv'"):
        parse_bytes("20241101damlbmp_zone_csv.zip", buffer.getvalue())


def test_a_file_name_that_says_nothing_is_refused() -> None:
    with pytest.raises(ParseError, match="cannot tell the report from the file name"):
        parse_bytes("prices.csv", (FIXTURES / "20241103damlbmp_zone.csv").read_bytes())
    with pytest.raises(ParseError, match="no such day '20241332'"):
        parse_bytes("20241332damlbmp_zone.csv", (FIXTURES / "20241103damlbmp_zone.csv").read_bytes())
