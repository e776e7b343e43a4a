"""caiso-oasis: OASIS SingleZip answers parsed to canonical rows, DST market days, errors, URLs and fetch."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import zipfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from marketintel.connectors.fetch import Fetcher, NotPublished
from marketintel.connectors.models import ParseError, RawPayload
from marketintel.connectors.parse import parse_payload, payload_from_file
from marketintel.connectors.registry import connector
from marketintel.connectors.sources import caiso
from tests.connectors.localsource import local_source

FIXTURES = Path(__file__).parent / "fixtures" / "caiso"
DA_FALL = FIXTURES / "PRC_LMP_DAM_20241103.zip"
DA_SPRING = FIXTURES / "PRC_LMP_DAM_20240310.zip"
RT_FALL = FIXTURES / "rt5_20241103"
RT_SPRING = FIXTURES / "rt5_20240310"
NAME = "caiso-oasis"


def parse(path: Path) -> pa.Table:
    return parse_payload(connector(NAME), payload_from_file(path))


def parse_dir(folder: Path) -> pa.Table:
    return pa.concat_tables(parse(p) for p in sorted(folder.glob("*.zip")))


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def row(table: pa.Table, location: str, start: str) -> dict[str, object]:
    mask = pc.and_(
        pc.equal(table["location"], location), pc.equal(table["interval_start"], pa.scalar(utc(start)))
    )
    rows = table.filter(mask).to_pylist()
    assert len(rows) == 1, rows
    return rows[0]


def per_location(table: pa.Table) -> dict[str, int]:
    return dict(
        zip(*table.group_by("location").aggregate([("lmp", "count")]).to_pydict().values(), strict=True)
    )


def member(path: Path) -> tuple[str, str]:
    with zipfile.ZipFile(path) as archive:
        (name,) = archive.namelist()
        return name, archive.read(name).decode()


def rezip(name: str, member_name: str, content: bytes) -> RawPayload:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member_name, content)
    return RawPayload(name=name, content=buffer.getvalue(), fetched_at=dt.datetime.now(dt.UTC))


def edited(path: Path, edit: Callable[[list[str]], list[str]]) -> RawPayload:
    """The fixture with its CSV changed by `edit(lines) -> lines` (LF line endings, as OASIS writes)."""
    name, text = member(path)
    lines = edit(text.split("\n"))
    return rezip(path.name, name, "\n".join(lines).encode())


def set_field(line: str, index: int, value: str) -> str:
    fields = line.split(",")
    fields[index] = value
    return ",".join(fields)


# --- day-ahead ----------------------------------------------------------------------------------------


def test_day_ahead_fall_back_day_has_25_hours_and_both_1am_hours() -> None:
    table = parse(DA_FALL)
    assert per_location(table) == {"TH_SP15_GEN-APND": 25, "DLAP_SCE-APND": 25, "DVLCYN_1_UNITS-APND": 25}
    assert set(table["run"].to_pylist()) == {"DA"}
    assert set(table["interval_minutes"].to_pylist()) == {60}
    assert set(table["market"].to_pylist()) == {"CAISO"}
    # OPR_HR 2 (file lines 14-17): 01:00 PDT (UTC-7) = 08:00Z; MCE 50.12436, MCC 0, MCL -0.82388
    assert row(table, "TH_SP15_GEN-APND", "2024-11-03T08:00:00Z") == {
        "market": "CAISO",
        "location": "TH_SP15_GEN-APND",
        "run": "DA",
        "interval_start": utc("2024-11-03T08:00:00Z"),
        "interval_minutes": 60,
        "lmp": 49.30048,
        "energy": 50.12436,
        "congestion": 0.0,
        "loss": -0.82388,
    }
    # OPR_HR 3 (lines 26-29): the repeated 01:00, now PST (UTC-8) = 09:00Z
    second = row(table, "TH_SP15_GEN-APND", "2024-11-03T09:00:00Z")
    assert (second["lmp"], second["energy"], second["congestion"], second["loss"]) == (
        47.03832,
        47.89949,
        0.0,
        -0.86117,
    )
    # OPR_HR 25 (lines 298-301): 23:00 PST = 2024-11-04T07:00Z, the last hour of the market day
    last = row(table, "DVLCYN_1_UNITS-APND", "2024-11-04T07:00:00Z")
    assert (last["lmp"], last["energy"], last["congestion"], last["loss"]) == (
        47.58658,
        51.52296,
        -2.44287,
        -1.49351,
    )
    starts = sorted(set(table["interval_start"].to_pylist()))
    assert starts[0] == utc("2024-11-03T07:00:00Z")  # midnight PDT
    assert starts[-1] == utc("2024-11-04T07:00:00Z")


def test_day_ahead_spring_forward_day_has_23_hours_and_skips_2am() -> None:
    table = parse(DA_SPRING)
    assert per_location(table) == {"TH_SP15_GEN-APND": 23, "DLAP_SCE-APND": 23, "DVLCYN_1_UNITS-APND": 23}
    # OPR_HR 2 (lines 18-21): 01:00 PST (UTC-8) = 09:00Z; 50.33633 = 47.89949 + 1.85011 + 0.58673
    two = row(table, "DLAP_SCE-APND", "2024-03-10T09:00:00Z")
    assert (two["lmp"], two["energy"], two["congestion"], two["loss"]) == (
        50.33633,
        47.89949,
        1.85011,
        0.58673,
    )
    # OPR_HR 3 (lines 30-33): 02:00 never happened; the hour is 03:00 PDT (UTC-7) = 10:00Z, one hour later
    three = row(table, "DLAP_SCE-APND", "2024-03-10T10:00:00Z")
    assert (three["lmp"], three["energy"], three["congestion"], three["loss"]) == (
        47.49262,
        45.0,
        1.8296,
        0.66302,
    )
    starts = sorted(set(table["interval_start"].to_pylist()))
    assert (starts[0], starts[-1]) == (utc("2024-03-10T08:00:00Z"), utc("2024-03-11T06:00:00Z"))
    assert all(b - a == dt.timedelta(hours=1) for a, b in itertools.pairwise(starts))


@pytest.mark.parametrize("path", [DA_FALL, DA_SPRING])
def test_components_add_up_to_the_lmp(path: Path) -> None:
    table = parse(path)
    total = pc.add(pc.add(table["energy"], table["congestion"]), table["loss"])
    assert pc.max(pc.abs(pc.subtract(table["lmp"], total))).as_py() < 1e-6


# --- real-time 5-minute -------------------------------------------------------------------------------


def test_real_time_fall_back_day_is_300_intervals_per_node() -> None:
    table = parse_dir(RT_FALL)
    assert len(list(RT_FALL.glob("*.zip"))) == 25  # one OASIS answer per hour of the 25-hour day
    assert per_location(table) == dict.fromkeys(
        ["TH_SP15_GEN-APND", "DLAP_SCE-APND", "DVLCYN_1_UNITS-APND", "ELAP_PACW-APND"], 300
    )
    assert set(table["run"].to_pylist()) == {"RT5"}
    assert set(table["interval_minutes"].to_pylist()) == {5}
    hub = table.filter(pc.equal(table["location"], "TH_SP15_GEN-APND"))
    starts = hub["interval_start"].to_pylist()
    assert (starts[0], starts[-1]) == (utc("2024-11-03T07:00:00Z"), utc("2024-11-04T07:55:00Z"))
    assert all(b - a == dt.timedelta(minutes=5) for a, b in itertools.pairwise(starts))


def test_real_time_spring_forward_day_is_276_intervals_per_node() -> None:
    table = parse_dir(RT_SPRING)
    assert set(per_location(table).values()) == {276}
    starts = sorted(set(table["interval_start"].to_pylist()))
    assert (starts[0], starts[-1]) == (utc("2024-03-10T08:00:00Z"), utc("2024-03-11T06:55:00Z"))


def test_greenhouse_gas_component_is_folded_into_energy() -> None:
    table = parse(RT_FALL / "PRC_INTVL_LMP_RTM_20241103T0900Z.zip")
    assert table.num_rows == 4 * 12
    # lines 37-41: 09:05Z ELAP_PACW MCC 0, MCE 48.75366, MCL 1.07075, MGHG 2.05759, LMP 51.88200
    # energy = 48.75366 + 2.05759 = 50.81125, and 50.81125 + 0 + 1.07075 = 51.88200
    pacw = row(table, "ELAP_PACW-APND", "2024-11-03T09:05:00Z")
    assert (pacw["lmp"], pacw["energy"], pacw["congestion"], pacw["loss"]) == (51.882, 50.81125, 0.0, 1.07075)
    total = pc.add(pc.add(table["energy"], table["congestion"]), table["loss"])
    assert pc.max(pc.abs(pc.subtract(table["lmp"], total))).as_py() < 1e-6


def test_location_types_follow_caiso_naming() -> None:
    conn = connector(NAME)
    assert conn.location_type("TH_SP15_GEN-APND") == "hub"
    assert conn.location_type("DLAP_SCE-APND") == "zone"
    assert conn.location_type("DVLCYN_1_UNITS-APND") == "node"
    instruments = conn.instruments(parse(DA_FALL)).to_pydict()
    assert dict(zip(instruments["location"], instruments["location_type"], strict=True)) == {
        "DLAP_SCE-APND": "zone",
        "DVLCYN_1_UNITS-APND": "node",
        "TH_SP15_GEN-APND": "hub",
    }
    assert set(instruments["timezone"]) == {"America/Los_Angeles"}


# --- malformed answers --------------------------------------------------------------------------------


def test_oasis_no_data_answer_means_not_published() -> None:
    with pytest.raises(
        NotPublished, match=r"OASIS error 1000: No data returned for the specified selection"
    ) as caught:
        parse(FIXTURES / "PRC_LMP_DAM_20241103_not_published.zip")
    assert caught.value.url == "PRC_LMP_DAM_20241103_not_published.zip"


def test_other_oasis_errors_are_parse_errors() -> None:
    with zipfile.ZipFile(FIXTURES / "PRC_LMP_DAM_20241103_not_published.zip") as archive:
        member = archive.namelist()[0]
        xml = archive.read(member).replace(b"<m:ERR_CODE>1000<", b"<m:ERR_CODE>1002<")
    assert b"1002" in xml
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(member, xml)
    payload = RawPayload(
        name="bad_request.zip", content=buffer.getvalue(), fetched_at=dt.datetime.now(dt.UTC)
    )
    with pytest.raises(ParseError, match="OASIS error 1002") as caught:
        parse_payload(connector(NAME), payload)
    assert caught.value.file == "bad_request.zip"


def test_corrupt_zip_raises() -> None:
    content = DA_FALL.read_bytes()
    payload = RawPayload(
        name=DA_FALL.name, content=content[: len(content) // 2], fetched_at=dt.datetime.now(dt.UTC)
    )
    with pytest.raises(ParseError, match="not a readable zip archive") as caught:
        parse_payload(connector(NAME), payload)
    assert caught.value.file == DA_FALL.name


def test_csv_cut_mid_line_raises_with_the_line() -> None:
    name, text = member(DA_FALL)
    cut = text[: text.index("\n", 4000) + 30]  # 30 characters into the next line
    with pytest.raises(ParseError, match="truncated") as caught:
        parse_payload(connector(NAME), rezip(DA_FALL.name, name, cut.encode()))
    assert caught.value.line == cut.count("\n") + 1


def test_csv_cut_at_a_line_end_raises_for_the_missing_components() -> None:
    # the last two lines (300, 301: MCE and MCL of DVLCYN at HE 25) lost; the LMP row (line 298) remains
    payload = edited(DA_FALL, lambda lines: [*lines[:299], ""])
    with pytest.raises(
        ParseError, match=r"DVLCYN_1_UNITS-APND at 2024-11-04T07:00Z has no MCE row"
    ) as caught:
        parse_payload(connector(NAME), payload)
    assert caught.value.line == 298


def test_missing_column_raises_naming_it() -> None:
    payload = edited(DA_FALL, lambda lines: [lines[0].replace("LMP_TYPE", "LMP_KIND"), *lines[1:]])
    with pytest.raises(ParseError, match="missing column 'LMP_TYPE'") as caught:
        parse_payload(connector(NAME), payload)
    assert (caught.value.line, caught.value.field) == (1, "LMP_TYPE")


def test_no_price_column_raises() -> None:
    payload = edited(DA_FALL, lambda lines: [lines[0].replace(",MW,", ",PRC,"), *lines[1:]])
    with pytest.raises(ParseError, match="no price column") as caught:
        parse_payload(connector(NAME), payload)
    assert caught.value.line == 1


def test_non_numeric_price_raises_with_line_and_field() -> None:
    # line 16 is TH_SP15 MCE at OPR_HR 2; MW is field 14
    payload = edited(DA_FALL, lambda lines: [*lines[:15], set_field(lines[15], 14, "n/a"), *lines[16:]])
    with pytest.raises(ParseError, match="not a price: 'n/a'") as caught:
        parse_payload(connector(NAME), payload)
    assert (caught.value.file, caught.value.line, caught.value.field) == (DA_FALL.name, 16, "MW")
    assert "PRC_LMP_DAM_20241103.zip:16 field 'MW'" in str(caught.value)


def test_wrong_encoding_raises_with_the_line() -> None:
    name, text = member(DA_FALL)
    content = text.encode().replace(b"DVLCYN_1_UNITS-APND,DAM,MCC", b"DVLCYN_1_UNITS-APND\xe9,DAM,MCC", 1)
    with pytest.raises(ParseError, match="not UTF-8") as caught:
        parse_payload(connector(NAME), rezip(DA_FALL.name, name, content))
    assert caught.value.line == 11


def test_unknown_component_raises() -> None:
    payload = edited(DA_FALL, lambda lines: [*lines[:2], lines[2].replace(",MCC,", ",MCX,"), *lines[3:]])
    with pytest.raises(ParseError, match="unknown LMP_TYPE 'MCX'") as caught:
        parse_payload(connector(NAME), payload)
    assert (caught.value.line, caught.value.field) == (3, "LMP_TYPE")


def test_a_component_given_twice_raises_at_the_second_copy() -> None:
    payload = edited(
        DA_FALL, lambda lines: [*lines[:3], lines[2], *lines[3:]]
    )  # line 3 (MCC) again as line 4
    with pytest.raises(
        ParseError, match=r"MCC for TH_SP15_GEN-APND at 2024-11-03T07:00Z appears twice"
    ) as caught:
        parse_payload(connector(NAME), payload)
    assert caught.value.line == 4


def test_lmp_that_is_not_the_sum_of_its_components_raises() -> None:
    payload = edited(DA_FALL, lambda lines: [*lines[:13], set_field(lines[13], 14, "59.30048"), *lines[14:]])
    with pytest.raises(ParseError, match="not the sum of its components") as caught:
        parse_payload(connector(NAME), payload)
    assert caught.value.line == 14


@pytest.mark.parametrize(
    "path", [DA_FALL, RT_FALL / "PRC_INTVL_LMP_RTM_20241103T0900Z.zip"], ids=["DA", "RT"]
)
def test_a_line_with_a_field_too_many_raises_with_the_line(path: Path) -> None:
    # the CSV reader, asked only for some columns, would drop the extra field without a word
    payload = edited(path, lambda lines: [*lines[:5], lines[5] + ",9", *lines[6:]])
    with pytest.raises(ParseError, match="17 fields, expected 16") as caught:
        parse_payload(connector(NAME), payload)
    assert (caught.value.file, caught.value.line) == (path.name, 6)


def test_a_field_too_many_after_a_quoted_comma_is_still_found() -> None:
    # quotes honoured: the comma inside the quoted node is not a field separator
    def edit(lines: list[str]) -> list[str]:
        quoted = [line.replace(",TH_SP15_GEN-APND,DAM,", ',"TH_SP15,GEN",DAM,') for line in lines]
        return [*quoted[:8], quoted[8] + ",", *quoted[9:]]

    with pytest.raises(ParseError, match="17 fields, expected 16") as caught:
        parse_payload(connector(NAME), edited(DA_FALL, edit))
    assert caught.value.line == 9


@pytest.mark.parametrize("column", ["NODE", "OPR_DT", "MW"])
def test_a_column_twice_in_the_header_raises_naming_it_and_the_file(column: str) -> None:
    # GROUP, the last column, renamed: a column read (NODE, MW) or not (OPR_DT) now appears twice
    payload = edited(DA_FALL, lambda lines: [lines[0].rsplit(",", 1)[0] + f",{column}", *lines[1:]])
    with pytest.raises(ParseError) as caught:
        parse_payload(connector(NAME), payload)
    assert f"duplicate column {column} in header, file {DA_FALL.name}" in str(caught.value)
    assert (caught.value.file, caught.value.line, caught.value.field) == (DA_FALL.name, 1, column)


def test_an_xml_report_instead_of_csv_raises() -> None:
    xml = b'<m:OASISReport xmlns:m="http://www.caiso.com/soa/OASISReport_v1.xsd"><m:MessagePayload/></m:OASISReport>'
    payload = rezip("x.zip", "20241103_20241103_PRC_LMP_DAM_20241105_09_14_31_v12.xml", xml)
    with pytest.raises(ParseError, match="instead of a CSV"):
        parse_payload(connector(NAME), payload)


def test_real_size_hourly_answer_parses_completely() -> None:
    """An all-APNode RTM hour: 4,000 nodes x 12 intervals x 5 components = 240,000 rows."""
    name, text = member(RT_FALL / "PRC_INTVL_LMP_RTM_20241103T0700Z.zip")
    header, *body = text.rstrip("\n").split("\n")
    template = [line for line in body if ",TH_SP15_GEN-APND," in line]  # 12 intervals x 5 components
    lines = [header]
    for n in range(4000):
        node = f"NODE{n:04d}_7_N001"
        lines.extend(line.replace("TH_SP15_GEN-APND", node) for line in template)
    payload = rezip("big.zip", name, ("\n".join(lines) + "\n").encode())
    table = parse_payload(connector(NAME), payload)
    assert table.num_rows == 4000 * 12


# --- the fast path and the exact path ------------------------------------------------------------------

RT_HOUR = RT_FALL / "PRC_INTVL_LMP_RTM_20241103T0900Z.zip"  # nodes within intervals, MGHG for some nodes


def outcome(payload: RawPayload) -> pa.Table | str:
    try:
        return parse_payload(connector(NAME), payload)
    except ParseError as exc:
        return str(exc)


def exact_outcome(payload: RawPayload, monkeypatch: pytest.MonkeyPatch) -> pa.Table | str:
    with monkeypatch.context() as patch:
        patch.setattr(caiso, "_fast_prices", lambda *_: None)
        return outcome(payload)


def on_line(index: int, field: int, value: str) -> Callable[[list[str]], list[str]]:
    return lambda lines: [*lines[:index], set_field(lines[index], field, value), *lines[index + 1 :]]


def every_line(old: str, new: str) -> Callable[[list[str]], list[str]]:
    return lambda lines: [line.replace(old, new) for line in lines]


def node_of(line: str) -> str:
    return line.split(",")[6]


def left_out(line: str) -> bool:
    """One MGHG row of RT_HOUR: without it, that node's rows are one short (MGHG is optional)."""
    fields = line.split(",")
    return (fields[0], fields[6], fields[8]) == ("2024-11-03T09:05:00-00:00", "DLAP_SCE-APND", "MGHG")


# edits to RT_HOUR (line 2 = lines[1]: TH_SP15 MCC 0.00000 at 09:00Z; fields: 0 start, 1 end, 6 NODE,
# 7 MARKET_RUN_ID, 8 LMP_TYPE, 13 VALUE, 15 GROUP) on which the two readers could differ
EDITS: dict[str, Callable[[list[str]], list[str]]] = {
    "as published": lambda lines: lines,
    "space before a price": on_line(1, 13, " 0.00000"),
    "space after a price": on_line(1, 13, "0.00000 "),
    "tab after a price": on_line(1, 13, "0.00000\t"),
    "quoted price": on_line(1, 13, '"0.00000"'),
    "quoted node": every_line(",TH_SP15_GEN-APND,RTM,", ',"TH_SP15_GEN-APND",RTM,'),
    "quote in a column not read": on_line(1, 9, '"LMP_CONG_PRC'),
    "price with a sign and exponent": on_line(1, 13, "+0e0"),
    "price nan": on_line(1, 13, "nan"),
    "price inf": on_line(1, 13, "inf"),
    "price with a decimal comma": on_line(1, 13, "0,0"),
    "price with more decimals": on_line(2, 13, "49.573871"),
    "same instant, other offset": lambda lines: on_line(1, 1, "2024-11-03T01:05:00-08:00")(
        on_line(1, 0, "2024-11-03T01:00:00-08:00")(lines)
    ),
    "time in Z": on_line(1, 0, "2024-11-03T09:00:00Z"),
    "not a time": on_line(1, 0, "2024-11-03 09:00"),
    "ten-minute interval": on_line(1, 1, "2024-11-03T09:10:00-00:00"),
    "UTF-8 node name": every_line("TH_SP15_GEN", "TH_SP15_GÉN"),
    "CRLF line ends": lambda lines: [*(line + "\r" for line in lines[:-1]), lines[-1]],
    "blank line": lambda lines: [*lines[:3], "", *lines[3:]],
    "extra field": lambda lines: [*lines[:3], lines[3] + ",9", *lines[4:]],
    "missing last field": lambda lines: [*lines[:3], lines[3].rsplit(",", 1)[0], *lines[4:]],
    "empty GROUP": on_line(3, 15, ""),
    "empty node": on_line(3, 6, ""),
    "empty field not read": on_line(3, 2, ""),
    "line twice": lambda lines: [*lines[:4], lines[3], *lines[4:]],
    "other market run": on_line(3, 7, "DAM"),
    "unknown component": on_line(3, 8, "MCX"),
    "component missing": lambda lines: [*lines[:3], *lines[4:]],
    "not the sum": on_line(5, 13, "48.81270"),
    "column twice in the header": lambda lines: [lines[0].replace("OPR_DT", "NODE"), *lines[1:]],
    "no price column": lambda lines: [lines[0].replace("VALUE", "PRICE"), *lines[1:]],
    "header only": lambda lines: [lines[0], ""],
    "no final newline": lambda lines: lines[:-1],
    # row orders: each the same rows, so each must read the same (connectors/blocks.py codes by layout)
    "node by node": lambda lines: [lines[0], *sorted(lines[1:-1], key=node_of), lines[-1]],
    "rows reversed": lambda lines: [lines[0], *lines[-2:0:-1], lines[-1]],
    "node by node, one MGHG left out": lambda lines: [
        lines[0],
        *sorted((line for line in lines[1:-1] if not left_out(line)), key=node_of),
        lines[-1],
    ],
}


@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_the_fast_path_reads_what_the_exact_path_reads(
    edit: Callable[[list[str]], list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = edited(RT_HOUR, edit)
    assert outcome(payload) == exact_outcome(payload, monkeypatch)


@pytest.mark.parametrize("path", sorted(FIXTURES.rglob("PRC_*[0-9].zip")), ids=lambda p: p.name)
def test_published_files_take_the_fast_path_with_the_exact_result(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = payload_from_file(path)
    fail = partial(ParseError, NAME, path.name)
    archive, member = caiso._csv_member(payload, fail)
    assert caiso._fast_prices(archive, member, fail) is not None
    assert outcome(payload) == exact_outcome(payload, monkeypatch)


@pytest.mark.parametrize("order", ["node by node", "rows reversed", "node by node, one MGHG left out"])
def test_rows_in_any_order_take_the_fast_path_with_the_exact_result(
    order: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # in blocks (by interval, as published, or by node), or in no blocks at all (a node one row short)
    payload = edited(RT_HOUR, EDITS[order])
    fail = partial(ParseError, NAME, payload.name)
    archive, member = caiso._csv_member(payload, fail)
    assert caiso._fast_prices(archive, member, fail) is not None
    assert outcome(payload) == exact_outcome(payload, monkeypatch)


def test_a_member_with_a_bad_crc_is_refused() -> None:
    name, text = member(RT_HOUR)
    content = bytearray(rezip(RT_HOUR.name, name, text.encode()).content)
    content[14:18] = bytes(4)  # the CRC-32 in the local header; the central directory's is read
    directory = content.rindex(b"PK\x01\x02")
    content[directory + 16 : directory + 20] = bytes(4)
    payload = RawPayload(name=RT_HOUR.name, content=bytes(content), fetched_at=dt.datetime.now(dt.UTC))
    with pytest.raises(ParseError, match="Bad CRC-32") as caught:
        parse_payload(connector(NAME), payload)
    assert caught.value.file == RT_HOUR.name


# --- where the files are ------------------------------------------------------------------------------


def test_urls_cover_the_pacific_market_day_in_gmt() -> None:
    conn = connector(NAME)
    fall = conn.urls(dt.date(2024, 11, 3))
    assert len(fall) == 1 + 25
    assert fall[0] == (
        "https://oasis.caiso.com/oasisapi/SingleZip?resultformat=6&queryname=PRC_LMP&version=12"
        "&market_run_id=DAM&startdatetime=20241103T07:00-0000&enddatetime=20241104T08:00-0000&grp_type=ALL_APNODES"
    )
    assert fall[1] == (
        "https://oasis.caiso.com/oasisapi/SingleZip?resultformat=6&queryname=PRC_INTVL_LMP&version=3"
        "&market_run_id=RTM&startdatetime=20241103T07:00-0000&enddatetime=20241103T08:00-0000&grp_type=ALL_APNODES"
    )
    assert fall[-1] == (
        "https://oasis.caiso.com/oasisapi/SingleZip?resultformat=6&queryname=PRC_INTVL_LMP&version=3"
        "&market_run_id=RTM&startdatetime=20241104T07:00-0000&enddatetime=20241104T08:00-0000&grp_type=ALL_APNODES"
    )
    spring = conn.urls(dt.date(2024, 3, 10))
    assert len(spring) == 1 + 23
    assert spring[0] == (
        "https://oasis.caiso.com/oasisapi/SingleZip?resultformat=6&queryname=PRC_LMP&version=12"
        "&market_run_id=DAM&startdatetime=20240310T08:00-0000&enddatetime=20240311T07:00-0000&grp_type=ALL_APNODES"
    )
    assert spring[-1].endswith(
        "startdatetime=20240311T06:00-0000&enddatetime=20240311T07:00-0000&grp_type=ALL_APNODES"
    )
    summer = conn.urls(dt.date(2024, 7, 15))
    assert len(summer) == 1 + 24
    assert "startdatetime=20240715T07:00-0000&enddatetime=20240716T07:00-0000" in summer[0]


def test_payload_names_say_report_and_day_or_hour() -> None:
    conn = connector(NAME)
    urls = conn.urls(dt.date(2024, 11, 3))
    assert conn.payload_name(urls[0]) == "PRC_LMP_DAM_20241103.zip"
    assert conn.payload_name(urls[1]) == "PRC_INTVL_LMP_RTM_20241103T0700Z.zip"
    assert conn.payload_name(urls[-1]) == "PRC_INTVL_LMP_RTM_20241104T0700Z.zip"
    assert conn.payload_name("https://example.org/files/report.zip") == "report.zip"


def test_a_market_day_is_fetched_from_the_oasis_queries_and_parsed() -> None:
    day = dt.date(2024, 11, 3)
    with local_source() as source:
        conn = connector(NAME, base_url=f"{source.base_url}/oasisapi")
        targets = []
        for url in conn.urls(day):
            parts = urlsplit(url)
            target = f"{parts.path}?{parts.query}"
            name = conn.payload_name(url)
            source.serve(
                target, (FIXTURES / name if name.startswith("PRC_LMP") else RT_FALL / name).read_bytes()
            )
            targets.append(target)
        payloads = list(
            conn.pull_or_subscribe(day, day + dt.timedelta(days=1), Fetcher(requests_per_second=1000))
        )
        assert source.requests == targets
    assert targets[0] == (
        "/oasisapi/SingleZip?resultformat=6&queryname=PRC_LMP&version=12&market_run_id=DAM"
        "&startdatetime=20241103T07:00-0000&enddatetime=20241104T08:00-0000&grp_type=ALL_APNODES"
    )
    assert [p.name for p in payloads[:2]] == [
        "PRC_LMP_DAM_20241103.zip",
        "PRC_INTVL_LMP_RTM_20241103T0700Z.zip",
    ]
    assert payloads[0].content == DA_FALL.read_bytes()
    table = pa.concat_tables(parse_payload(conn, p) for p in payloads)
    counts = table.group_by(["run", "location"]).aggregate([("lmp", "count")]).to_pylist()
    assert {(c["run"], c["location"]): c["lmp_count"] for c in counts} == {
        ("DA", "TH_SP15_GEN-APND"): 25,
        ("DA", "DLAP_SCE-APND"): 25,
        ("DA", "DVLCYN_1_UNITS-APND"): 25,
        ("RT5", "TH_SP15_GEN-APND"): 300,
        ("RT5", "DLAP_SCE-APND"): 300,
        ("RT5", "DVLCYN_1_UNITS-APND"): 300,
        ("RT5", "ELAP_PACW-APND"): 300,
    }
