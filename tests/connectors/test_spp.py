"""SPP marketplace LMP files (DA by settlement location, RTBM daily roll-up): GMT interval ends, Central days."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from marketintel.connectors.clock import local_day_starts
from marketintel.connectors.fetch import Fetcher
from marketintel.connectors.models import ParseError, RawPayload
from marketintel.connectors.parse import parse_payload, payload_from_file
from marketintel.connectors.registry import connector
from tests.connectors.localsource import local_source

FIXTURES = Path(__file__).parent / "fixtures" / "spp"
UTC = dt.UTC
DA_FALL = "DA-LMP-SL-202411030100.csv"
DA_SPRING = "DA-LMP-SL-202403100100.csv"
RT_FALL = "RTBM-LMP-DAILY-SL-20241103.csv"
RT_SPRING = "RTBM-LMP-DAILY-SL-20240310.csv"


def parse(file: str) -> pl.DataFrame:
    frame = pl.from_arrow(parse_payload(connector("spp-lmp"), payload_from_file(FIXTURES / file)))
    assert isinstance(frame, pl.DataFrame)
    return frame


def at(frame: pl.DataFrame, location: str, start: dt.datetime) -> dict[str, object]:
    rows = frame.filter((pl.col("location") == location) & (pl.col("interval_start") == start)).to_dicts()
    assert len(rows) == 1, rows
    return rows[0]


def starts_of(frame: pl.DataFrame, location: str) -> list[dt.datetime]:
    return frame.filter(pl.col("location") == location).get_column("interval_start").to_list()


def steps(first: dt.datetime, count: int, minutes: int) -> list[dt.datetime]:
    return [first + dt.timedelta(minutes=minutes * i) for i in range(count)]


def components(row: dict[str, object]) -> tuple[object, ...]:
    return (row["lmp"], row["energy"], row["congestion"], row["loss"])


# --- the fixtures, against hand-computed rows ---------------------------------------------------------


def test_day_ahead_fall_back_day_has_25_hours() -> None:
    frame = parse(DA_FALL)
    assert set(frame.get_column("run")) == {"DA"}
    assert set(frame.get_column("interval_minutes")) == {60}
    # the Central day 2024-11-03 00:00 CDT (05:00Z) .. 2024-11-04 00:00 CST (06:00Z) is 25 hours
    for location in ("AEC", "CSWS_HUB", "SPPNORTH_HUB", "SPPSOUTH_HUB"):
        assert starts_of(frame, location) == steps(dt.datetime(2024, 11, 3, 5, tzinfo=UTC), 25, 60)
    # local label "11/03/2024 02:00:00" appears twice; GMTIntervalEnd tells them apart:
    # end 07:00Z -> start 06:00Z (01:00 CDT): LMP 17.0649, MEC 17.0153, MCC -0.3277, MLC 0.3773
    assert components(at(frame, "SPPNORTH_HUB", dt.datetime(2024, 11, 3, 6, tzinfo=UTC))) == (
        17.0649,
        17.0153,
        -0.3277,
        0.3773,
    )
    # end 08:00Z -> start 07:00Z (01:00 CST, the repeated hour): LMP 46.9522, MEC 41.7022, MCC 5.8151, MLC -0.5651
    assert components(at(frame, "SPPNORTH_HUB", dt.datetime(2024, 11, 3, 7, tzinfo=UTC))) == (
        46.9522,
        41.7022,
        5.8151,
        -0.5651,
    )
    # the last row, "11/04/2024 00:00:00" / GMT 11/04 06:00 -> start 2024-11-04T05:00Z (23:00 CST): LMP 36.9719
    assert at(frame, "SPPSOUTH_HUB", dt.datetime(2024, 11, 4, 5, tzinfo=UTC))["lmp"] == 36.9719


def test_day_ahead_spring_forward_day_has_23_hours() -> None:
    frame = parse(DA_SPRING)
    # 2024-03-10 00:00 CST (06:00Z) .. 2024-03-11 00:00 CDT (05:00Z) is 23 hours
    for location in ("AEC", "CSWS_HUB", "SPPNORTH_HUB", "SPPSOUTH_HUB"):
        assert starts_of(frame, location) == steps(dt.datetime(2024, 3, 10, 6, tzinfo=UTC), 23, 60)
    # local label jumps 01:00 -> 03:00; "03/10/2024 03:00:00" has GMT end 08:00 -> start 07:00Z (01:00 CST):
    # AEC LMP 32.9748, MEC 32.5441, MCC 0.6150, MLC -0.1843
    assert components(at(frame, "AEC", dt.datetime(2024, 3, 10, 7, tzinfo=UTC))) == (
        32.9748,
        32.5441,
        0.615,
        -0.1843,
    )


def test_rtbm_daily_file_covers_the_300_intervals_of_the_fall_back_day() -> None:
    frame = parse(RT_FALL)
    assert set(frame.get_column("run")) == {"RT5"}
    assert set(frame.get_column("interval_minutes")) == {5}
    # first interval ends 00:05 CDT = 05:05Z -> starts 05:00Z; the last ends 2024-11-04 00:00 CST = 06:00Z
    # -> starts 05:55Z; 25 hours x 12 = 300 intervals, exactly the local day's grid
    day = steps(dt.datetime(2024, 11, 3, 5, tzinfo=UTC), 300, 5)
    assert day[-1] == dt.datetime(2024, 11, 4, 5, 55, tzinfo=UTC)
    assert day == local_day_starts(dt.date(2024, 11, 3), "America/Chicago", 5).to_pylist()
    for location in ("AEC", "SPPNORTH_HUB", "SPPSOUTH_HUB"):
        assert starts_of(frame, location) == day
    # "11/03/2024 01:05:00" twice: GMT end 06:05 -> 06:00Z (01:00 CDT) and GMT end 07:05 -> 07:00Z (01:00 CST)
    assert components(at(frame, "SPPNORTH_HUB", dt.datetime(2024, 11, 3, 6, tzinfo=UTC))) == (
        25.1248,
        29.8741,
        -4.2359,
        -0.5134,
    )
    assert components(at(frame, "SPPNORTH_HUB", dt.datetime(2024, 11, 3, 7, tzinfo=UTC))) == (
        3.4953,
        6.4344,
        -2.8752,
        -0.0639,
    )
    # last row: GMT end 11/04 06:00 -> 05:55Z: LMP 18.8236, MEC 13.3588, MCC 5.5412, MLC -0.0764
    assert components(at(frame, "SPPNORTH_HUB", dt.datetime(2024, 11, 4, 5, 55, tzinfo=UTC))) == (
        18.8236,
        13.3588,
        5.5412,
        -0.0764,
    )


def test_rtbm_daily_file_covers_the_276_intervals_of_the_spring_forward_day() -> None:
    frame = parse(RT_SPRING)
    day = steps(dt.datetime(2024, 3, 10, 6, tzinfo=UTC), 276, 5)  # 00:00 CST .. 23:55 CDT = 04:55Z
    assert day[-1] == dt.datetime(2024, 3, 11, 4, 55, tzinfo=UTC)
    for location in ("AEC", "SPPNORTH_HUB", "SPPSOUTH_HUB"):
        assert starts_of(frame, location) == day
    # label 01:55 (GMT 07:55) is followed by 03:00 (GMT 08:00): that interval starts 07:55Z = 01:55 CST
    assert components(at(frame, "SPPSOUTH_HUB", dt.datetime(2024, 3, 10, 7, 55, tzinfo=UTC))) == (
        46.4637,
        45.8617,
        -0.14,
        0.742,
    )


@pytest.mark.parametrize("file", [DA_FALL, DA_SPRING, RT_FALL, RT_SPRING])
def test_components_add_up_to_the_lmp(file: str) -> None:
    frame = parse(file)
    assert frame.select(pl.col("energy", "congestion", "loss").null_count()).sum_horizontal().item() == 0
    gap = frame.select((pl.col("lmp") - pl.col("energy") - pl.col("congestion") - pl.col("loss")).abs().max())
    assert gap.item() < 1e-9


def test_location_types() -> None:
    conn = connector("spp-lmp")
    table = parse_payload(conn, payload_from_file(FIXTURES / DA_FALL))
    instruments = conn.instruments(table)
    types = dict(
        zip(instruments["location"].to_pylist(), instruments["location_type"].to_pylist(), strict=True)
    )
    assert types == {"AEC": "node", "CSWS_HUB": "hub", "SPPNORTH_HUB": "hub", "SPPSOUTH_HUB": "hub"}
    assert set(instruments["timezone"].to_pylist()) == {"America/Chicago"}
    assert conn.location_type("AECI") == "interface"  # an external interface settlement location
    assert conn.location_type("OKGE_OKGE") == "node"


def test_a_single_interval_file_with_the_baa_column() -> None:
    # the per-interval RTBM file (and files after the 2026 western expansion, which add BAA)
    content = (
        b"Interval,GMTIntervalEnd,Settlement Location,Pnode,LMP,MLC,MCC,MEC,BAA\n"
        b"06/01/2026 12:05:00,06/01/2026 17:05:00,SPPNORTH_HUB,SPPNORTH_H,33.6272,0.7150,0.0000,32.9122,SPP\n"
        b"06/01/2026 12:05:00,06/01/2026 17:05:00,SWPW_HUB,SWPW_HUB_H,30.1000,-0.2000,0.3000,30.0000,SWPW\n"
    )
    payload = RawPayload("RTBM-LMP-SL-202606011205.csv", content, dt.datetime(2026, 6, 1, 17, 10, tzinfo=UTC))
    frame = pl.from_arrow(parse_payload(connector("spp-lmp"), payload))
    assert isinstance(frame, pl.DataFrame)
    # GMT end 17:05 -> start 17:00Z
    row = at(frame, "SWPW_HUB", dt.datetime(2026, 6, 1, 17, tzinfo=UTC))
    assert (row["run"], row["interval_minutes"], *components(row)) == ("RT5", 5, 30.1, 30.0, 0.3, -0.2)


# --- URLs and the fetch path ----------------------------------------------------------------------------

DA_URL = "https://portal.spp.org/file-browser-api/download/da-lmp-by-settlement-location?path=/2024/11/By_Day/DA-LMP-SL-202411030100.csv"
RT_URL = "https://portal.spp.org/file-browser-api/download/rtbm-lmp-by-location?path=/2024/11/By_Day/RTBM-LMP-DAILY-SL-20241103.csv"


def test_urls_are_the_day_files_on_the_marketplace_portal() -> None:
    conn = connector("spp-lmp")
    assert conn.urls(dt.date(2024, 11, 3)) == [DA_URL, RT_URL]
    assert [conn.payload_name(u) for u in (DA_URL, RT_URL)] == [DA_FALL, RT_FALL]


def test_fetch_then_parse_from_a_local_server() -> None:
    targets = {
        "/da-lmp-by-settlement-location?path=/2024/11/By_Day/DA-LMP-SL-202411030100.csv": DA_FALL,
        "/rtbm-lmp-by-location?path=/2024/11/By_Day/RTBM-LMP-DAILY-SL-20241103.csv": RT_FALL,
    }
    with local_source() as source:
        for target, file in targets.items():
            source.serve(target, (FIXTURES / file).read_bytes())
        conn = connector("spp-lmp", base_url=source.base_url)
        day = dt.date(2024, 11, 3)
        payloads = list(
            conn.pull_or_subscribe(day, day + dt.timedelta(days=1), Fetcher(requests_per_second=1000))
        )
        assert source.requests == list(targets)
    assert [p.name for p in payloads] == [DA_FALL, RT_FALL]
    da, rt = (parse_payload(conn, p) for p in payloads)
    assert (da.num_rows, rt.num_rows) == (4 * 25, 3 * 300)
    assert set(rt.column("run").to_pylist()) == {"RT5"}


# --- malformed files --------------------------------------------------------------------------------------


def expect_error(file: str, content: bytes) -> ParseError:
    with pytest.raises(ParseError) as caught:
        parse_payload(connector("spp-lmp"), RawPayload(file, content, dt.datetime(2024, 11, 4, tzinfo=UTC)))
    assert caught.value.file == file
    assert caught.value.source == "spp-lmp"
    return caught.value


def text(file: str) -> str:
    return (FIXTURES / file).read_text()


def test_a_file_cut_mid_line_is_truncated() -> None:
    content = (FIXTURES / RT_FALL).read_bytes()
    error = expect_error(RT_FALL, content[: len(content) // 2])
    assert "truncated" in error.reason
    assert error.line == content[: len(content) // 2].count(b"\n") + 1


def test_a_file_cut_at_a_line_end_does_not_reach_the_end_of_the_day() -> None:
    lines = (FIXTURES / RT_FALL).read_bytes().splitlines(keepends=True)
    error = expect_error(RT_FALL, b"".join(lines[:-1]))  # without the last interval's SPPSOUTH_HUB row
    assert "truncated" in error.reason
    error = expect_error(DA_FALL, b"".join((FIXTURES / DA_FALL).read_bytes().splitlines(keepends=True)[:50]))
    assert "truncated" in error.reason


def test_a_header_only_file() -> None:
    error = expect_error(DA_FALL, text(DA_FALL).split("\n")[0].encode() + b"\n")
    assert (error.line, "no data rows" in error.reason) == (2, True)


def test_a_wrong_header_names_the_field() -> None:
    error = expect_error(DA_FALL, text(DA_FALL).replace("Settlement Location", "Location", 1).encode())
    assert (error.line, error.field, error.reason) == (1, "Location", "unexpected column")


def test_a_missing_column_names_the_field() -> None:
    error = expect_error(RT_FALL, text(RT_FALL).replace(", MEC\n", "\n", 1).encode())
    assert (error.line, error.field, error.reason) == (1, "MEC", "missing column")


def test_a_non_numeric_price_names_line_and_field() -> None:
    # line 4 of the DA file is SPPNORTH_HUB's first hour, LMP 9.8517
    bad = text(DA_FALL).replace("SPPNORTH_HUB,SPPNORTH_H,9.8517,", "SPPNORTH_HUB,SPPNORTH_H,9.85x7,", 1)
    error = expect_error(DA_FALL, bad.encode())
    assert (error.line, error.field) == (4, "LMP")
    assert str(error).startswith(f"spp-lmp: {DA_FALL}:4 field 'LMP'")


def test_a_bad_gmt_time_names_line_and_field() -> None:
    bad = text(RT_FALL).replace(
        "11/03/2024 00:10:00,11/03/2024 05:10:00", "11/03/2024 00:10:00,2024-11-03T05:10", 1
    )
    error = expect_error(RT_FALL, bad.encode())
    assert (error.line, error.field) == (5, "GMT Interval")


def test_an_empty_field_and_a_short_row() -> None:
    lines = text(DA_FALL).split("\n")
    lines[5] = lines[5].replace(",AEC,SOUC,", ",AEC,,", 1)  # line 6, AEC at GMT 07:00, loses its Pnode
    error = expect_error(DA_FALL, "\n".join(lines).encode())
    assert (error.line, error.field, error.reason) == (6, "Pnode", "empty field")
    lines = text(DA_FALL).split("\n")
    lines[6] = lines[6].rsplit(",", 1)[0]  # line 7 loses MEC
    error = expect_error(DA_FALL, "\n".join(lines).encode())
    assert (error.line, "7 fields, expected 8" in error.reason) == (7, True)


def test_rows_outside_the_market_day_are_refused() -> None:
    # the 2024-11-03 file under the 2024-11-04 name: its first row (line 2) starts before that day
    error = expect_error("DA-LMP-SL-202411040100.csv", (FIXTURES / DA_FALL).read_bytes())
    assert (error.line, error.field) == (2, "GMTIntervalEnd")


def test_a_duplicated_row() -> None:
    lines = text(DA_FALL).split("\n")
    lines.insert(3, lines[2])
    error = expect_error(DA_FALL, "\n".join(lines).encode())
    assert error.line == 4
    assert "second row for 'CSWS_HUB'" in error.reason


def test_wrong_encoding_is_refused() -> None:
    error = expect_error(DA_FALL, text(DA_FALL).encode("utf-16"))
    assert (error.line, "not UTF-8" in error.reason) == (1, True)


def test_an_unknown_file_name_is_refused() -> None:
    assert "file name" in expect_error("lmp.csv", (FIXTURES / DA_FALL).read_bytes()).reason
