"""MISO market reports (DA ex-post, RT final): Eastern Standard Time all year, LMP/MCC/MLC rows per node."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from marketintel.connectors.fetch import Fetcher
from marketintel.connectors.models import ParseError, RawPayload
from marketintel.connectors.parse import parse_payload, payload_from_file
from marketintel.connectors.registry import connector
from tests.connectors.localsource import local_source

FIXTURES = Path(__file__).parent / "fixtures" / "miso"
UTC = dt.UTC


def parse(name: str, file: str) -> pa.Table:
    return parse_payload(connector(name), payload_from_file(FIXTURES / file))


def at(table: pa.Table, location: str, start: dt.datetime) -> dict[str, object]:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    rows = frame.filter((pl.col("location") == location) & (pl.col("interval_start") == start)).to_dicts()
    assert len(rows) == 1, rows
    return rows[0]


def starts_of(table: pa.Table, location: str) -> list[dt.datetime]:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame.filter(pl.col("location") == location).get_column("interval_start").to_list()


def hours_from(first: dt.datetime, count: int = 24) -> list[dt.datetime]:
    return [first + dt.timedelta(hours=h) for h in range(count)]


def broken(name: str, content: bytes) -> RawPayload:
    return RawPayload(name=name, content=content, fetched_at=dt.datetime(2024, 11, 4, tzinfo=UTC))


def fixture_text(file: str) -> str:
    return (FIXTURES / file).read_text()


# --- the fixtures, against hand-computed rows ---------------------------------------------------------


def test_day_ahead_on_the_fall_back_day_has_24_est_hours_and_no_repeat() -> None:
    table = parse("miso-da", "20241103_da_expost_lmp.csv")
    assert table.num_rows == 5 * 24
    assert set(table.column("run").to_pylist()) == {"DA"}
    assert set(table.column("interval_minutes").to_pylist()) == {60}
    # EST is UTC-5 all day: HE1 starts 00:00 EST = 05:00Z, and HE2 (01:00 EST, which New York calls the
    # second 01:00, EST) = 06:00Z: one hour after HE1, not a repeat; the hours run on to HE24 = 04:00Z next day
    for location in ("AECI", "ALTW.STORYBUCK", "AMIL.BGS6", "INDIANA.HUB", "MINN.HUB"):
        assert starts_of(table, location) == hours_from(dt.datetime(2024, 11, 3, 5, tzinfo=UTC))
    # INDIANA.HUB HE 2 (line 9/14/19): LMP 45.78, MCC 6.11, MLC 1.36 -> energy 45.78 - 6.11 - 1.36 = 38.31
    row = at(table, "INDIANA.HUB", dt.datetime(2024, 11, 3, 6, tzinfo=UTC))
    assert row["lmp"] == 45.78
    assert row["congestion"] == 6.11
    assert row["loss"] == 1.36
    assert row["energy"] == pytest.approx(38.31)
    # AECI HE 1: LMP 14.2, MCC -6.91, MLC .61 -> energy 14.2 + 6.91 - 0.61 = 20.5; starts 00:00 EST = 05:00Z
    row = at(table, "AECI", dt.datetime(2024, 11, 3, 5, tzinfo=UTC))
    assert (row["lmp"], row["congestion"], row["loss"]) == (14.2, -6.91, 0.61)
    assert row["energy"] == pytest.approx(20.5)
    # MINN.HUB HE 24: LMP 43.11, MCC 2.22, MLC 1.68 -> energy 39.21; 23:00 EST = 2024-11-04T04:00Z
    row = at(table, "MINN.HUB", dt.datetime(2024, 11, 4, 4, tzinfo=UTC))
    assert (row["lmp"], row["congestion"], row["loss"]) == (43.11, 2.22, 1.68)
    assert row["energy"] == pytest.approx(39.21)


def test_day_ahead_on_the_spring_forward_day_keeps_the_hour_new_york_skips() -> None:
    table = parse("miso-da", "20240310_da_expost_lmp.csv")
    assert table.num_rows == 5 * 24
    for location in ("AECI", "ALTW.STORYBUCK", "AMIL.BGS6", "INDIANA.HUB", "MINN.HUB"):
        assert starts_of(table, location) == hours_from(dt.datetime(2024, 3, 10, 5, tzinfo=UTC))
    # INDIANA.HUB HE 3 = 02:00-03:00 EST (a wall-clock hour New York skips) = 07:00Z:
    # LMP 20.02, MCC 2.2, MLC 1.17 -> energy 16.65
    row = at(table, "INDIANA.HUB", dt.datetime(2024, 3, 10, 7, tzinfo=UTC))
    assert (row["lmp"], row["congestion"], row["loss"]) == (20.02, 2.2, 1.17)
    assert row["energy"] == pytest.approx(16.65)
    # INDIANA.HUB HE 24 = 23:00 EST = 2024-03-11T04:00Z: LMP 19.4, MCC -7.59, MLC -.71 -> energy 27.7
    row = at(table, "INDIANA.HUB", dt.datetime(2024, 3, 11, 4, tzinfo=UTC))
    assert (row["lmp"], row["congestion"], row["loss"]) == (19.4, -7.59, -0.71)
    assert row["energy"] == pytest.approx(27.7)
    # AMIL.BGS6 HE 1 = 05:00Z: LMP 28.46, MCC -4.46, MLC 2.15 -> energy 30.77
    row = at(table, "AMIL.BGS6", dt.datetime(2024, 3, 10, 5, tzinfo=UTC))
    assert (row["lmp"], row["congestion"], row["loss"]) == (28.46, -4.46, 2.15)
    assert row["energy"] == pytest.approx(30.77)


def test_real_time_final_on_both_dst_days() -> None:
    spring = parse("miso-rt", "20240310_rt_lmp_final.csv")
    fall = parse("miso-rt", "20241103_rt_lmp_final.csv")
    for table, first in (
        (spring, dt.datetime(2024, 3, 10, 5, tzinfo=UTC)),
        (fall, dt.datetime(2024, 11, 3, 5, tzinfo=UTC)),
    ):
        assert table.num_rows == 5 * 24
        assert set(table.column("run").to_pylist()) == {"RT"}
        assert set(table.column("interval_minutes").to_pylist()) == {60}
        assert starts_of(table, "MINN.HUB") == hours_from(first)
    # 2024-03-10 INDIANA.HUB HE 2 = 01:00 EST = 06:00Z: LMP 12.7, MCC -5.6, MLC -.45 -> energy 18.75
    row = at(spring, "INDIANA.HUB", dt.datetime(2024, 3, 10, 6, tzinfo=UTC))
    assert (row["lmp"], row["congestion"], row["loss"]) == (12.7, -5.6, -0.45)
    assert row["energy"] == pytest.approx(18.75)
    # 2024-11-03 AMIL.BGS6 HE 3 = 02:00 EST = 07:00Z: LMP 36.95, MCC -2.84, MLC 2.5 -> energy 37.29
    row = at(fall, "AMIL.BGS6", dt.datetime(2024, 11, 3, 7, tzinfo=UTC))
    assert (row["lmp"], row["congestion"], row["loss"]) == (36.95, -2.84, 2.5)
    assert row["energy"] == pytest.approx(37.29)


@pytest.mark.parametrize(
    ("name", "file"),
    [
        ("miso-da", "20240310_da_expost_lmp.csv"),
        ("miso-da", "20241103_da_expost_lmp.csv"),
        ("miso-rt", "20240310_rt_lmp_final.csv"),
        ("miso-rt", "20241103_rt_lmp_final.csv"),
    ],
)
def test_components_add_up_to_the_lmp(name: str, file: str) -> None:
    frame = pl.from_arrow(parse(name, file))
    assert isinstance(frame, pl.DataFrame)
    assert frame.select(pl.col("energy", "congestion", "loss").null_count()).sum_horizontal().item() == 0
    gap = frame.select((pl.col("lmp") - pl.col("energy") - pl.col("congestion") - pl.col("loss")).abs().max())
    assert gap.item() < 1e-9
    assert frame.get_column("location").n_unique() == 5


def test_location_types_follow_the_type_column() -> None:
    conn = connector("miso-da")
    table = parse_payload(conn, payload_from_file(FIXTURES / "20241103_da_expost_lmp.csv"))
    types = dict(
        zip(
            conn.instruments(table).column("location").to_pylist(),
            conn.instruments(table).column("location_type").to_pylist(),
            strict=True,
        )
    )
    assert types == {
        "AECI": "interface",  # Type Interface
        "ALTW.STORYBUCK": "node",  # Type Gennode
        "AMIL.BGS6": "zone",  # Type Loadzone
        "INDIANA.HUB": "hub",  # Type Hub
        "MINN.HUB": "hub",
    }
    assert set(conn.instruments(table).column("timezone").to_pylist()) == {"Etc/GMT+5"}
    # before any file is read, names decide: ".HUB" is a hub, a bare name an interface, AREA.NAME a node
    fresh = connector("miso-rt")
    assert [fresh.location_type(n) for n in ("ILLINOIS.HUB", "PJM", "AMIL.BGS6")] == [
        "hub",
        "interface",
        "node",
    ]


# --- URLs and the fetch path ----------------------------------------------------------------------------


def test_urls_are_the_daily_market_reports() -> None:
    assert connector("miso-da").urls(dt.date(2024, 3, 10)) == [
        "https://docs.misoenergy.org/marketreports/20240310_da_expost_lmp.csv"
    ]
    assert connector("miso-rt").urls(dt.date(2024, 11, 3)) == [
        "https://docs.misoenergy.org/marketreports/20241103_rt_lmp_final.csv"
    ]


@pytest.mark.parametrize(
    ("name", "file"), [("miso-da", "20241103_da_expost_lmp.csv"), ("miso-rt", "20241103_rt_lmp_final.csv")]
)
def test_fetch_then_parse_from_a_local_server(name: str, file: str) -> None:
    content = (FIXTURES / file).read_bytes()
    with local_source() as source:
        source.serve(f"/{file}", content)
        conn = connector(name, base_url=source.base_url)
        day = dt.date(2024, 11, 3)
        payloads = list(
            conn.pull_or_subscribe(day, day + dt.timedelta(days=1), Fetcher(requests_per_second=1000))
        )
        assert source.requests == [f"/{file}"]
    assert [p.name for p in payloads] == [file]
    assert payloads[0].content == content
    table = parse_payload(conn, payloads[0])
    assert table.num_rows == 120
    assert at(table, "MINN.HUB", dt.datetime(2024, 11, 3, 5, tzinfo=UTC))["interval_minutes"] == 60


# --- malformed files --------------------------------------------------------------------------------------


def expect_error(name: str, file: str, content: bytes) -> ParseError:
    with pytest.raises(ParseError) as caught:
        parse_payload(connector(name), broken(file, content))
    assert caught.value.file == file
    assert caught.value.source == name
    return caught.value


DA = "20241103_da_expost_lmp.csv"


def test_a_file_cut_mid_line_is_truncated() -> None:
    content = (FIXTURES / DA).read_bytes()
    cut = content[: content.index(b"AMIL.BGS6,Loadzone,MLC") + 30]
    error = expect_error("miso-da", DA, cut)
    assert error.line == 18
    assert "truncated" in error.reason


def test_a_file_cut_at_a_line_end_lacks_rows() -> None:
    lines = (FIXTURES / DA).read_bytes().splitlines(keepends=True)
    error = expect_error("miso-da", DA, b"".join(lines[:-2]))  # without the INDIANA.HUB and MINN.HUB MLC rows
    assert "node 'INDIANA.HUB' has no MLC row" in error.reason


def test_a_file_cut_inside_the_preamble() -> None:
    error = expect_error("miso-da", DA, b"Day Ahead Market ExPost LMPs\n11/03/2024\n")
    assert error.line == 3
    assert "truncated" in error.reason


def test_a_wrong_header_names_the_field() -> None:
    text = fixture_text(DA).replace(",HE 24\n", ",HE 25\n", 1)
    error = expect_error("miso-da", DA, text.encode())
    assert (error.line, error.field) == (5, "HE 24")


def test_a_missing_column_names_the_field() -> None:
    text = fixture_text(DA).replace("Node,Type,Value,", "Node,Value,", 1)
    error = expect_error("miso-da", DA, text.encode())
    assert (error.line, error.field) == (5, "Type")


def test_a_non_numeric_price_names_line_and_field() -> None:
    # line 9 is INDIANA.HUB's LMP row; its HE 2 is 45.78
    text = fixture_text(DA).replace("INDIANA.HUB,Hub,LMP,26.67,45.78,", "INDIANA.HUB,Hub,LMP,26.67,n/a,", 1)
    error = expect_error("miso-da", DA, text.encode())
    assert (error.line, error.field) == (9, "HE 2")
    assert "'n/a'" in error.reason
    assert str(error).startswith(f"miso-da: {DA}:9 field 'HE 2'")
    # a zero before the bad cell is a price, not the culprit
    text = fixture_text(DA).replace("INDIANA.HUB,Hub,LMP,26.67,45.78,", "INDIANA.HUB,Hub,LMP,0,inf,", 1)
    assert expect_error("miso-da", DA, text.encode()).field == "HE 2"


def test_an_empty_price_names_line_and_field() -> None:
    text = fixture_text(DA).replace("INDIANA.HUB,Hub,LMP,26.67,45.78,", "INDIANA.HUB,Hub,LMP,,45.78,", 1)
    error = expect_error("miso-da", DA, text.encode())
    assert (error.line, error.field) == (9, "HE 1")


def test_a_short_row_names_its_line() -> None:
    lines = fixture_text(DA).split("\n")
    lines[11] = lines[11].rsplit(",", 1)[0]  # line 12, the first MCC row, loses HE 24
    error = expect_error("miso-da", DA, "\n".join(lines).encode())
    assert error.line == 12
    assert "26 fields, expected 27" in error.reason


def test_a_long_row_names_its_line() -> None:
    lines = fixture_text(DA).split("\n")
    lines[6] += ",1.5"
    error = expect_error("miso-da", DA, "\n".join(lines).encode())
    assert error.line == 7
    assert "28 fields" in error.reason


def test_a_blank_line_among_the_data() -> None:
    lines = fixture_text(DA).split("\n")
    lines.insert(10, "")
    error = expect_error("miso-da", DA, "\n".join(lines).encode())
    assert error.line == 11


def test_an_unknown_value_row() -> None:
    text = fixture_text(DA).replace("MINN.HUB,Hub,MLC,", "MINN.HUB,Hub,MEC,", 1)
    error = expect_error("miso-da", DA, text.encode())
    assert (error.line, error.field) == (20, "Value")


def test_a_duplicated_row() -> None:
    lines = fixture_text(DA).split("\n")
    lines.insert(8, lines[7])  # AMIL.BGS6 LMP twice: the copy is line 9
    error = expect_error("miso-da", DA, "\n".join(lines).encode())
    assert error.line == 9
    assert "second LMP row for node 'AMIL.BGS6'" in error.reason


def test_wrong_encoding_is_refused() -> None:
    error = expect_error("miso-da", DA, fixture_text(DA).encode("utf-16"))
    assert error.line == 1
    assert "not UTF-8" in error.reason
    latin1 = fixture_text(DA).replace("AMIL.BGS6,Loadzone,LMP", "AMIL.BGSé,Loadzone,LMP", 1).encode("latin-1")
    assert expect_error("miso-da", DA, latin1).line == 8


def test_a_file_not_on_eastern_standard_time_is_refused() -> None:
    text = fixture_text(DA).replace("Eastern Standard Time (EST)", "Eastern Prevailing Time (EPT)", 1)
    assert expect_error("miso-da", DA, text.encode()).line == 4


def test_a_bad_market_date_line() -> None:
    text = fixture_text(DA).replace("11/03/2024\n", "2024-11-03\n", 1)
    assert expect_error("miso-da", DA, text.encode()).line == 2


def test_the_file_name_must_agree_with_the_file() -> None:
    content = (FIXTURES / DA).read_bytes()
    assert "11/03/2024" in expect_error("miso-da", "20241104_da_expost_lmp.csv", content).reason
    assert "da_expost_lmp report, not rt_lmp_final" in expect_error("miso-rt", DA, content).reason
