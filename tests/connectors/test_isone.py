"""isone-lmp: ISO Express day-ahead and real-time final hourly LMP reports, from real-format CSV fixtures.

Eastern Prevailing Time: EDT is UTC-4, EST is UTC-5. On 2024-11-03 clocks fall back at 02:00 EDT to 01:00 EST
(hour ending "02", then "02X"); on 2024-03-10 they spring from 02:00 EST to 03:00 EDT (no hour ending "03").
Fixture lines: 4 "C", 2 "H", then "D" rows from line 7, 5 locations per hour (321, 4000, 4001, 4004, 4011).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import polars as pl
import pytest

from marketintel.connectors.clock import local_day_starts
from marketintel.connectors.fetch import Fetcher
from marketintel.connectors.models import ParseError, RawPayload
from marketintel.connectors.parse import parse_payload, payload_from_file
from marketintel.connectors.registry import connector
from marketintel.connectors.sources.isone import IsoneLmp
from tests.connectors.localsource import local_source

FIXTURES = Path(__file__).parent / "fixtures" / "isone"
DA_FALL = FIXTURES / "WW_DALMP_ISO_20241103.csv"
DA_SPRING = FIXTURES / "WW_DALMP_ISO_20240310.csv"
RT_FALL = FIXTURES / "lmp_rt_final_20241103.csv"
RT_SPRING = FIXTURES / "lmp_rt_final_20240310.csv"
LOCATIONS = {".H.INTERNAL_HUB", ".Z.MAINE", ".Z.CONNECTICUT", "UN.FRNKLNSQ13.810CC", ".I.ROSETON 345 1"}
AT = dt.datetime(2024, 11, 9, tzinfo=dt.UTC)


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def frame_of(payload: RawPayload, conn: IsoneLmp | None = None) -> pl.DataFrame:
    frame = pl.from_arrow(parse_payload(conn or IsoneLmp(), payload))
    assert isinstance(frame, pl.DataFrame)
    return frame


def parse(path: Path) -> pl.DataFrame:
    return frame_of(payload_from_file(path))


def row(frame: pl.DataFrame, location: str, start: str) -> tuple[float, float, float, float]:
    rows = frame.filter((pl.col("location") == location) & (pl.col("interval_start") == utc(start)))
    assert rows.height == 1, (location, start, rows)
    return rows.select("lmp", "energy", "congestion", "loss").row(0)


def edited(path: Path, line: int, old: str, new: str) -> RawPayload:
    """The fixture with `old` replaced by `new` on its 1-based `line`."""
    lines = path.read_text().split("\n")
    assert old in lines[line - 1], lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, new)
    return RawPayload(path.name, "\n".join(lines).encode(), AT)


def without_lines(path: Path, drop: set[int], trailer: int | None = None) -> RawPayload:
    """The fixture without the given 1-based lines, its T record recounted (or set to `trailer`)."""
    lines = path.read_text().split("\n")[:-1]
    kept = [text for number, text in enumerate(lines, 1) if number not in drop]
    count = sum(text.startswith('"D"') for text in kept) if trailer is None else trailer
    kept[-1] = f'"T","{count}"'
    return RawPayload(path.name, ("\n".join(kept) + "\n").encode(), AT)


def rejected(payload: RawPayload, match: str) -> ParseError:
    with pytest.raises(ParseError, match=match) as caught:
        parse_payload(IsoneLmp(), payload)
    return caught.value


# --- the DST days ---------------------------------------------------------------------------------------


def test_day_ahead_fall_back_day_has_25_hours_with_02x_as_the_repeated_hour() -> None:
    frame = parse(DA_FALL)
    assert frame.height == 5 * 25
    assert set(frame["location"]) == LOCATIONS
    assert frame.group_by("location").len()["len"].to_list() == [25] * 5
    assert set(frame["run"]) == {"DA"}
    assert set(frame["interval_minutes"]) == {60}
    # line 9, HE "01" .Z.MAINE 18.31 = 21.47 - 1.4 - 1.76: 00:00 EDT = 04:00Z
    assert row(frame, ".Z.MAINE", "2024-11-03T04:00:00Z") == (18.31, 21.47, -1.4, -1.76)
    # line 14, HE "02": 01:00 EDT = 05:00Z, the first pass
    assert row(frame, ".Z.MAINE", "2024-11-03T05:00:00Z") == (17.1, 20.37, -1.47, -1.8)
    # line 19, HE "02X": 01:00 EST = 06:00Z, the repeated hour
    assert row(frame, ".Z.MAINE", "2024-11-03T06:00:00Z") == (16.61, 20.0, -1.54, -1.85)
    # line 24, HE "03": 02:00 EST = 07:00Z
    assert row(frame, ".Z.MAINE", "2024-11-03T07:00:00Z") == (16.87, 20.37, -1.61, -1.89)
    # line 129, HE "24": 23:00 EST = 04:00Z on 11/04
    assert row(frame, ".Z.MAINE", "2024-11-04T04:00:00Z") == (16.5, 21.47, -3.08, -1.89)
    expected = local_day_starts(dt.date(2024, 11, 3), "America/New_York", 60).to_pylist()
    for location in LOCATIONS:
        assert frame.filter(pl.col("location") == location)["interval_start"].to_list() == expected


def test_day_ahead_spring_forward_day_has_23_hours_and_no_hour_ending_03() -> None:
    frame = parse(DA_SPRING)
    assert frame.height == 5 * 23
    assert frame.group_by("location").len()["len"].to_list() == [23] * 5
    # line 8, HE "01" hub 17.55: 00:00 EST = 05:00Z
    assert row(frame, ".H.INTERNAL_HUB", "2024-03-10T05:00:00Z") == (17.55, 17.47, 0.0, 0.08)
    # line 14, HE "02" .Z.MAINE: 01:00 EST = 06:00Z
    assert row(frame, ".Z.MAINE", "2024-03-10T06:00:00Z") == (13.1, 16.37, -1.47, -1.8)
    # line 19, HE "04": 03:00 EDT = 07:00Z, the hour right after HE "02"
    assert row(frame, ".Z.MAINE", "2024-03-10T07:00:00Z") == (12.61, 16.0, -1.54, -1.85)
    # line 119, HE "24": 23:00 EDT = 03:00Z on 03/11
    assert row(frame, ".Z.MAINE", "2024-03-11T03:00:00Z") == (16.76, 21.5, -2.94, -1.8)
    expected = local_day_starts(dt.date(2024, 3, 10), "America/New_York", 60).to_pylist()
    assert frame.filter(pl.col("location") == ".Z.MAINE")["interval_start"].to_list() == expected


def test_real_time_final_reports_on_the_dst_days() -> None:
    fall = parse(RT_FALL)
    assert set(fall["run"]) == {"RT"}
    assert fall.group_by("location").len()["len"].to_list() == [25] * 5
    # line 16, HE "02" .I.ROSETON 345 1: 01:00 EDT = 05:00Z; line 21, "02X": 01:00 EST = 06:00Z
    assert row(fall, ".I.ROSETON 345 1", "2024-11-03T05:00:00Z") == (24.26, 22.87, 0.32, 1.07)
    assert row(fall, ".I.ROSETON 345 1", "2024-11-03T06:00:00Z") == (23.92, 22.5, 0.33, 1.09)
    assert row(fall, ".Z.MAINE", "2024-11-03T06:00:00Z") == (19.11, 22.5, -1.54, -1.85)
    spring = parse(RT_SPRING)
    assert spring.group_by("location").len()["len"].to_list() == [23] * 5
    # lines 10, 15, 20: HE "01" 00:00 EST = 05:00Z, "02" 01:00 EST = 06:00Z, "04" 03:00 EDT = 07:00Z
    assert row(spring, ".Z.CONNECTICUT", "2024-03-10T05:00:00Z") == (21.43, 19.97, 0.9, 0.56)
    assert row(spring, ".Z.CONNECTICUT", "2024-03-10T06:00:00Z") == (20.38, 18.87, 0.94, 0.57)
    assert row(spring, ".Z.CONNECTICUT", "2024-03-10T07:00:00Z") == (20.08, 18.5, 0.99, 0.59)
    # line 120, HE "24": 23:00 EDT = 03:00Z on 03/11
    assert row(spring, ".Z.CONNECTICUT", "2024-03-11T03:00:00Z") == (26.46, 24.0, 1.89, 0.57)


@pytest.mark.parametrize("path", [DA_FALL, DA_SPRING, RT_FALL, RT_SPRING], ids=lambda p: p.name)
def test_lmp_is_energy_plus_congestion_plus_loss(path: Path) -> None:
    frame = parse(path)
    gap = (frame["lmp"] - frame["energy"] - frame["congestion"] - frame["loss"]).abs()
    assert gap.max() < 0.005
    assert frame["energy"].null_count() == 0


def test_windows_line_ends_parse_the_same() -> None:
    crlf = RawPayload(DA_FALL.name, DA_FALL.read_bytes().replace(b"\n", b"\r\n"), AT)
    assert frame_of(crlf).equals(parse(DA_FALL))


def test_the_run_comes_from_the_title_when_the_file_was_renamed() -> None:
    renamed = RawPayload("archive-0001.csv", RT_FALL.read_bytes(), AT)
    assert set(frame_of(renamed)["run"]) == {"RT"}


# --- locations ------------------------------------------------------------------------------------------


def test_location_types_from_names_and_from_location_type() -> None:
    expected = {
        ".H.INTERNAL_HUB": "hub",  # HUB
        ".Z.MAINE": "zone",  # LOAD ZONE
        ".Z.CONNECTICUT": "zone",
        "UN.FRNKLNSQ13.810CC": "node",  # NETWORK NODE
        ".I.ROSETON 345 1": "interface",  # EXT. NODE
    }
    fresh = IsoneLmp()
    assert {name: fresh.location_type(name) for name in LOCATIONS} == expected
    conn = IsoneLmp()
    mapped = parse_payload(conn, payload_from_file(DA_FALL))
    assert conn.location_types[".I.ROSETON 345 1"] == "EXT. NODE"
    assert {name: conn.location_type(name) for name in LOCATIONS} == expected
    instruments = conn.instruments(mapped)
    assert set(instruments.column("timezone").to_pylist()) == {"America/New_York"}
    assert set(instruments.column("currency").to_pylist()) == {"USD"}


# --- malformed reports ----------------------------------------------------------------------------------


def test_a_report_cut_short_has_no_trailer() -> None:
    text = DA_FALL.read_text()
    # HE "05" starts on line 32 (HE 01: 7-11, 02: 12-16, 02X: 17-21, 03: 22-26, 04: 27-31)
    cut = text.index('"D","11/03/2024","05"') + 30
    error = rejected(RawPayload(DA_FALL.name, text[:cut].encode(), AT), "truncated: the report does not end")
    assert error.line == 32
    assert error.file == DA_FALL.name


def test_a_trailer_that_disagrees_with_the_rows_is_truncation() -> None:
    error = rejected(
        without_lines(DA_FALL, {131}, trailer=125), "T record counts 125 D records, the report has 124"
    )
    assert error.line == 131  # the T record, now the last line


def test_a_missing_hour_is_incomplete() -> None:
    # drop the five rows of HE "24" (lines 127-131) and recount the trailer
    error = rejected(
        without_lines(DA_FALL, {127, 128, 129, 130, 131}), "has 24 hours on 11/03/2024, which has 25"
    )
    assert error.line == 122  # the last row of location 321, HE "23"


def test_a_wrong_or_missing_column_is_refused_on_the_header_line() -> None:
    error = rejected(
        edited(DA_FALL, 5, '"Congestion Component"', '"Congestion"'), "not the hourly LMP report"
    )
    assert (error.line, error.field) == (5, "Congestion Component")
    error = rejected(edited(DA_FALL, 5, ',"Marginal Loss Component"', ""), "not the hourly LMP report")
    assert (error.line, error.field) == (5, "Marginal Loss Component")


def test_a_non_numeric_price_names_its_line_and_field() -> None:
    # line 14: HE "02" .Z.MAINE 17.1
    error = rejected(edited(DA_FALL, 14, ",17.1,", ",n/a,"), "not a number: 'n/a'")
    assert (error.line, error.field) == (14, "Locational Marginal Price")


def test_wrong_encoding_names_its_line() -> None:
    data = DA_FALL.read_bytes().replace(b'"02X","4001",".Z.MAINE"', b'"02X","4001",".Z.MA\xcfNE"')
    error = rejected(RawPayload(DA_FALL.name, data, AT), "not UTF-8")
    assert error.line == 19


def test_hour_labels_that_do_not_fit_the_day_are_refused() -> None:
    # "02X" on a day that does not fall back
    error = rejected(edited(DA_SPRING, 14, '"02"', '"02X"'), "not repeated")
    assert (error.line, error.field) == (14, "Hour Ending")
    # "03" on the spring-forward day: 02:00 EST does not exist
    error = rejected(edited(DA_SPRING, 14, '"02"', '"03"'), "does not exist")
    assert (error.line, error.field) == (14, "Hour Ending")
    # an hour that is no hour ending at all
    error = rejected(edited(DA_FALL, 14, '"02"', '"2a"'), "not an hour ending")
    assert (error.line, error.field) == (14, "Hour Ending")


def test_a_repeated_row_is_refused() -> None:
    lines = DA_FALL.read_text().split("\n")[:-1]
    doubled = [*lines[:-1], lines[13], '"T","126"']  # line 14 again after the last D (131), as line 132
    error = rejected(RawPayload(DA_FALL.name, ("\n".join(doubled) + "\n").encode(), AT), "appears twice")
    assert error.line == 132


def test_unknown_records_and_location_types_are_refused() -> None:
    error = rejected(edited(DA_FALL, 14, '"D",', '"X",'), "must start with C, H, D or T")
    assert error.line == 14
    error = rejected(edited(DA_FALL, 14, '"LOAD ZONE"', '"LOAD AREA"'), "not one of HUB")
    assert (error.line, error.field) == (14, "Location Type")
    error = rejected(edited(DA_FALL, 14, ",-1.8", ",-1.8,9"), "expected 10 fields, found 11")
    assert error.line == 14
    error = rejected(edited(DA_FALL, 14, ",-1.8", ""), "expected 10 fields, found 9")
    assert error.line == 14


# --- where the files are --------------------------------------------------------------------------------


def test_urls_are_the_iso_express_reports() -> None:
    assert connector("isone-lmp").urls(dt.date(2024, 11, 3)) == [
        "https://www.iso-ne.com/static-transform/csv/histRpts/da-lmp/WW_DALMP_ISO_20241103.csv",
        "https://www.iso-ne.com/static-transform/csv/histRpts/rt-lmp/lmp_rt_final_20241103.csv",
    ]


def test_pull_fetches_both_reports_of_each_day() -> None:
    with local_source() as source:
        conn = connector("isone-lmp", base_url=source.base_url)
        for path, folder in ((DA_FALL, "da-lmp"), (RT_FALL, "rt-lmp")):
            source.serve(f"/static-transform/csv/histRpts/{folder}/{path.name}", path.read_bytes())
        payloads = list(
            conn.pull_or_subscribe(
                dt.date(2024, 11, 3), dt.date(2024, 11, 4), Fetcher(requests_per_second=1000)
            )
        )
        assert source.requests == [
            "/static-transform/csv/histRpts/da-lmp/WW_DALMP_ISO_20241103.csv",
            "/static-transform/csv/histRpts/rt-lmp/lmp_rt_final_20241103.csv",
        ]
    assert [p.name for p in payloads] == [DA_FALL.name, RT_FALL.name]
    day_ahead, real_time = (frame_of(p, conn) for p in payloads)
    assert set(day_ahead["run"]) == {"DA"}
    assert set(real_time["run"]) == {"RT"}
    assert row(real_time, ".Z.MAINE", "2024-11-03T06:00:00Z") == (19.11, 22.5, -1.54, -1.85)


@contextmanager
def header_recorder() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A local server that answers every GET with a one-line body and records the request headers."""
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(dict(self.headers))
            body = DA_FALL.read_bytes()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_each_report_is_requested_with_its_iso_express_page_as_referer() -> None:
    with header_recorder() as (base, seen):
        conn = connector("isone-lmp", base_url=base)
        list(
            conn.pull_or_subscribe(
                dt.date(2024, 11, 3), dt.date(2024, 11, 4), Fetcher(requests_per_second=1000)
            )
        )
    assert [h.get("Referer") for h in seen] == [
        "https://www.iso-ne.com/isoexpress/web/reports/pricing/-/tree/lmps-da-hourly",
        "https://www.iso-ne.com/isoexpress/web/reports/pricing/-/tree/lmps-rt-hourly-final",
    ]


# --- size -----------------------------------------------------------------------------------------------


def test_a_real_size_report_parses_completely() -> None:
    """~1,250 locations x 24 hours, the size of a real day-ahead report (30,000 D records)."""
    head = DA_FALL.read_text().split("\n")[:6]
    rows = [
        f'"D","07/15/2024","{hour:02d}","{n}","UN.NODE{n}","NETWORK NODE",30.5,30.0,0.25,0.25'
        for hour in range(1, 25)
        for n in range(1250)
    ]
    payload = RawPayload(
        "WW_DALMP_ISO_20240715.csv", "\n".join([*head, *rows, '"T","30000"', ""]).encode(), AT
    )
    conn = IsoneLmp()
    parse_payload(conn, payload_from_file(DA_SPRING))  # warm up (imports, first-use caches)
    table = parse_payload(conn, payload)
    assert table.num_rows == 30_000
