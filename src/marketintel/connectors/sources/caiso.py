"""CAISO LMPs from OASIS: day-ahead hourly (PRC_LMP, DAM) and real-time 5-minute (PRC_INTVL_LMP, RTM).

OASIS is a query API: `https://oasis.caiso.com/oasisapi/SingleZip?resultformat=6&queryname=...&version=...
&market_run_id=...&startdatetime=YYYYMMDDTHH:MM-0000&enddatetime=...&grp_type=ALL_APNODES`. The window is
given in GMT. With resultformat=6 the answer is a ZIP holding one CSV (named like
`20241103_20241103_PRC_LMP_DAM_20241105_09_14_31_v12.csv`) in long format: one row per node, interval and
LMP_TYPE (LMP total, MCE energy, MCC congestion, MCL loss, MGHG greenhouse gas). The price sits in column
`MW` for PRC_LMP and `VALUE` for PRC_INTVL_LMP. A refused query still answers HTTP 200, with a ZIP holding
an XML file (`INVALID_REQUEST.xml`) that carries ERR_CODE and ERR_DESC.

Times are INTERVALSTARTTIME_GMT / INTERVALENDTIME_GMT, already UTC ("2024-11-03T07:00:00-00:00"), so no DST
logic applies to the rows. It applies to the window: a CAISO market day is a Pacific day, 23 or 25 hours
long on DST days (2024-11-03 is 07:00Z to 2024-11-04 08:00Z). OASIS answers an all-nodes (grp_type) query
for at most one trade date of an hourly report and one hour of an interval report, so a market day is one
DA request plus one RT5 request per hour of the Pacific day.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TypeAlias
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from marketintel.connectors.base import Connector
from marketintel.connectors.blocks import block_layout, row_layout
from marketintel.connectors.checks import Rule, first_failure, first_repeat
from marketintel.connectors.clock import local_day_starts
from marketintel.connectors.fetch import NotPublished
from marketintel.connectors.models import Fail, ParseError, RawPayload, mapped_prices
from marketintel.connectors.plaincsv import read_plain_csv
from marketintel.connectors.textfile import decode, ragged_row
from marketintel.connectors.zipfiles import ZIP_ERRORS, MemberStream, ZipPayload

PACIFIC = "America/Los_Angeles"
QUERY_TIME = "%Y%m%dT%H:%M-0000"  # OASIS startdatetime/enddatetime, in GMT
ROW_TIME = "%Y-%m-%dT%H:%M:%S%z"  # INTERVALSTARTTIME_GMT, e.g. 2024-11-03T07:00:00-00:00
TEXT_COLUMNS = ("INTERVALSTARTTIME_GMT", "INTERVALENDTIME_GMT", "NODE", "MARKET_RUN_ID", "LMP_TYPE")
COMPONENTS = ("LMP", "MCE", "MCC", "MCL", "MGHG")
REQUIRED_COMPONENTS = ("LMP", "MCE", "MCC", "MCL")  # MGHG is published for some nodes only
# OASIS rounds every component to 5 decimals; a total further than this from its parts is not a rounding
# difference but a misread file
IDENTITY_TOLERANCE = 0.005
NO_DATA = "1000"  # OASIS: "No data returned for the specified selection" (not out yet, or never)


@dataclass(frozen=True)
class Report:
    queryname: str
    version: int
    market_run_id: str
    run: str
    minutes: int
    value_column: str


DA = Report("PRC_LMP", 12, "DAM", "DA", 60, "MW")
RT5 = Report("PRC_INTVL_LMP", 3, "RTM", "RT5", 5, "VALUE")
REPORTS = {r.value_column: r for r in (DA, RT5)}


class CaisoOasis(Connector):
    name = "caiso-oasis"
    market = "CAISO"
    runs = ("DA", "RT5")
    description = (
        "CAISO OASIS all-APNode LMPs with energy/congestion/loss components: day-ahead hourly (PRC_LMP) "
        "and real-time 5-minute (PRC_INTVL_LMP)"
    )
    base_url = "https://oasis.caiso.com/oasisapi"
    # OASIS answers 429 to a request that follows the previous one within 5 seconds
    requests_per_second = 0.2

    # --- where the files are ----------------------------------------------------------------------

    def urls(self, day: dt.date) -> list[str]:
        """The DA query for the Pacific market day, then one RT5 query per hour of it (23, 24 or 25)."""
        hours = local_day_starts(day, PACIFIC, 60).to_pylist()
        one_hour = dt.timedelta(hours=1)
        return [
            self._query(DA, hours[0], hours[-1] + one_hour),
            *(self._query(RT5, hour, hour + one_hour) for hour in hours),
        ]

    def _query(self, report: Report, start: dt.datetime, end: dt.datetime) -> str:
        return (
            f"{self.url_root}/SingleZip?resultformat=6&queryname={report.queryname}&version={report.version}"
            f"&market_run_id={report.market_run_id}&startdatetime={start:{QUERY_TIME}}"
            f"&enddatetime={end:{QUERY_TIME}}&grp_type=ALL_APNODES"
        )

    def payload_name(self, url: str) -> str:
        """`PRC_LMP_DAM_20241103.zip` (the Pacific market day) or `PRC_INTVL_LMP_RTM_20241103T0700Z.zip`
        (the GMT hour): the query string, not the path, says what the file is."""
        query = parse_qs(urlsplit(url).query)
        try:
            queryname, run_id = query["queryname"][0], query["market_run_id"][0]
            start = dt.datetime.strptime(query["startdatetime"][0], QUERY_TIME).replace(tzinfo=dt.UTC)
        except (KeyError, ValueError):
            return super().payload_name(url)
        if queryname == DA.queryname:
            return f"{queryname}_{run_id}_{start.astimezone(ZoneInfo(PACIFIC)):%Y%m%d}.zip"
        return f"{queryname}_{run_id}_{start:%Y%m%dT%H%M}Z.zip"

    def location_type(self, location: str) -> str:
        if location.startswith("TH_"):
            return "hub"
        if location.startswith("DLAP_"):
            return "zone"
        return "node"

    # --- what is in them --------------------------------------------------------------------------

    def map_to_schema(self, payload: RawPayload) -> pa.Table:
        """A valid file takes the fast path (`_fast_prices`); any other, the exact path below, which finds
        the first thing wrong and names its line."""
        fail: Fail = partial(ParseError, self.name, payload.name)
        archive, member = _csv_member(payload, fail)
        fast = _fast_prices(archive, member, fail)
        if fast is not None:
            return fast
        content = archive.read(member)
        decode(content, fail, bom=False)  # checked only: polars reads the bytes
        if content and not content.endswith(b"\n"):
            raise fail("truncated: the last line is not complete", line=content.count(b"\n") + 1)
        header = content[: content.find(b"\n")].decode().rstrip("\r").split(",")
        repeated = next((name for i, name in enumerate(header) if name in header[:i]), None)
        if repeated is not None:
            raise fail(f"duplicate column {repeated} in header, file {payload.name}", line=1, field=repeated)
        report = _report(header, fail)
        try:
            # every column, though only some are used: a projected read would drop a line's extra fields
            # without a word, and a line with a field too many is a damaged line
            frame = pl.read_csv(io.BytesIO(content), infer_schema=False)
        except (pl.exceptions.PolarsError, ValueError) as exc:
            ragged = ragged_row(content.decode())
            if ragged is None:
                raise fail(f"not CSV: {exc}") from None
            line, found, expected = ragged
            raise fail(f"{found} fields, expected {expected} as in the header", line=line) from None
        # OPR_DT, OPR_HR, NODE_ID... repeat what the times and NODE say
        frame = frame.select(*TEXT_COLUMNS, report.value_column, "GROUP")
        rows = _rows(frame.with_row_index("line", offset=2), report, fail)
        return _pivot(rows, report, fail)


def _csv_member(payload: RawPayload, fail: Fail) -> tuple[ZipPayload, str]:
    """The archive and name of the CSV inside an OASIS answer. OASIS error 1000 ("no data returned") is how it says a report is
    not out yet: NotPublished, so ingestion stops there and retries later; any other error is a ParseError."""
    archive = ZipPayload(payload.content, fail)
    errors = [n for n in archive.names if n.lower().endswith(".xml")]
    if errors:
        code, message = _oasis_error(errors[0], archive.read(errors[0]))
        if code == NO_DATA:
            raise NotPublished(payload.url or payload.name, message)
        raise fail(message)
    csvs = [n for n in archive.names if n.lower().endswith(".csv")]
    if len(csvs) != 1:
        raise fail(f"expected one CSV in the OASIS zip, found {archive.names}")
    return archive, csvs[0]


def _fast_prices(archive: ZipPayload, member: str, fail: Fail) -> pa.Table | None:
    """The prices of a plain, valid file, read in parallel blocks as it inflates (plaincsv) and pivoted on
    a dense node × interval grid; None for any other file, or once anything in it is wrong."""
    header = _plain_header(archive, member)
    stream = archive.stream(member)
    if header is None or stream is None or len(set(header)) != len(header):
        return None
    try:
        report = _report(header, fail)
    except ParseError:
        return None
    # texts as read, then coded by the file's layout (connectors/blocks.py): coding them as they are read
    # would hash every row. Each distinct text is then checked once. GROUP is only checked for being there
    table = read_plain_csv(stream, [*TEXT_COLUMNS, "GROUP"], [report.value_column], MemberStream.PIECE)
    if table is None or not stream.complete or not table.num_rows:
        return None
    dense = _dense_wide(table, report)
    if dense is None:
        return None
    wide, location = dense
    wide = _with_energy(wide)
    return None if _first_problem(wide) is not None else _prices(wide, report, location)


def _plain_header(archive: ZipPayload, member: str) -> list[str] | None:
    """The column names, if the first line is ASCII (its own stream: only the first 64 KiB is inflated)."""
    try:
        stream = archive.stream(member)
        first = stream.read(1 << 16) if stream is not None else b""
    except (ParseError, *ZIP_ERRORS):
        return None
    end = first.find(b"\n")
    if end < 0 or not first[:end].isascii():
        return None
    return first[:end].decode().rstrip("\r").split(",")


def _dense_wide(table: pa.Table, report: Report) -> tuple[pl.DataFrame, pa.DictionaryArray] | None:
    """The rows of `_rows`, checked the same way, pivoted as `_pivot` does (but for the node column) and
    their locations, coded; None if any row breaks a rule of `_rows` or repeats a node, interval and
    component (the exact path then names the line).

    Texts become codes by the file's layout (connectors/blocks.py), so each distinct text is checked once
    and each row is only codes: its value is scattered into a dense component × node × interval grid,
    nodes by name and intervals by time."""
    texts = {c: table.column(c) for c in TEXT_COLUMNS}
    layout = block_layout(texts) or row_layout(texts)
    node, start, end, kind = (
        layout.columns[c] for c in ("NODE", "INTERVALSTARTTIME_GMT", "INTERVALENDTIME_GMT", "LMP_TYPE")
    )
    # rules checked on the distinct texts, not on every row
    kind_component = pc.index_in(kind.dictionary, value_set=pa.array(COMPONENTS))  # null: unknown
    run_ids = layout.columns["MARKET_RUN_ID"].dictionary
    if kind_component.null_count or not pc.all(pc.equal(run_ids, report.market_run_id)).as_py():
        return None
    values = table.column(report.value_column).to_numpy()
    if not np.isfinite(values).all():
        return None
    start_us, end_us = _utc_micros(start.dictionary), _utc_micros(end.dictionary)
    if start_us is None or end_us is None:
        return None
    # texts that differ may be the same instant (another offset): the grid is keyed by the instant
    times, time_of_start = np.unique(start_us, return_inverse=True)
    time_of_start = time_of_start.astype(np.int32)
    # the interval each end text closes, as an index into times (-1: none); a row must close its own
    opens = end_us - report.minutes * 60_000_000
    closes = np.searchsorted(times, opens).clip(max=len(times) - 1)
    closes = np.where(times[closes] == opens, closes, -1).astype(np.int32)
    if start.per_block == end.per_block:  # both per block, or both per position: compared as they are
        closing = np.array_equal(closes[end.codes], time_of_start[start.codes])
    else:
        closing = np.array_equal(closes[layout.rows(end)], time_of_start[layout.rows(start)])
    if not closing:
        return None
    cells = len(nodes := node.dictionary) * len(times)
    if cells > len(values) or cells * len(COMPONENTS) >= 2**31:
        return None  # mostly empty: not a file of whole node-intervals
    by_name = pc.sort_indices(nodes)
    node_rank = np.empty(len(nodes), np.int32)
    node_rank[by_name.to_numpy()] = np.arange(len(nodes), dtype=np.int32)
    component = kind_component.to_numpy().astype(np.int32)
    # a row's place in the grid, component × node × interval: the sum of a part that depends on its block
    # and a part that depends on its position in the block (each column gives one or the other)
    parts = {True: np.zeros(layout.blocks, np.int32), False: np.zeros(layout.block, np.int32)}
    parts[kind.per_block] += component[kind.codes] * cells
    parts[node.per_block] += node_rank[node.codes] * len(times)
    parts[start.per_block] += time_of_start[start.codes]
    slot = (parts[True][:, None] + parts[False][None, :]).ravel()
    filled = np.zeros(len(COMPONENTS) * cells, bool)
    filled[slot] = True
    if np.count_nonzero(filled) != len(slot):
        return None  # a node, interval and component given twice
    grid = np.full(len(COMPONENTS) * cells, np.nan)
    grid[slot] = values
    grid, filled = grid.reshape(len(COMPONENTS), cells), filled.reshape(len(COMPONENTS), cells)
    cell = np.flatnonzero(filled.any(axis=0))
    if len(cell) < cells:
        grid = grid[:, cell]
    wide = pl.DataFrame(
        {
            "start": pl.Series(times[cell % len(times)]).cast(pl.Datetime("us", "UTC")),
            **{c: pl.Series(grid[i], nan_to_null=True) for i, c in enumerate(COMPONENTS)},
        }
    )
    # the grid's nodes are in name order, so these codes ascend: the rows are in location order
    location = pa.DictionaryArray.from_arrays(
        pa.array((cell // len(times)).astype(np.int32)), nodes.take(by_name)
    )
    return wide, location


def _utc_micros(texts: pa.Array) -> np.ndarray | None:
    """Distinct time texts as UTC microseconds, parsed as `_rows` parses them; None if one does not parse."""
    times = pl.Series(texts).str.to_datetime(ROW_TIME, strict=False)
    return None if times.has_nulls() else times.dt.convert_time_zone("UTC").to_physical().to_numpy()


def _oasis_error(member: str, xml: bytes) -> tuple[str | None, str]:
    """The OASIS error code (if any) and a message for an XML answer."""
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as exc:
        return None, f"OASIS answered with {member}, which is not readable XML: {exc}"
    fields = {el.tag.rsplit("}", 1)[-1]: (el.text or "").strip() for el in root.iter()}
    if "ERR_DESC" not in fields:
        return None, f"OASIS answered with {member} (an XML report) instead of a CSV; resultformat=6 expected"
    code = fields.get("ERR_CODE")
    return code, f"OASIS error {code or '?'}: {fields['ERR_DESC']} ({member})"


def _report(columns: list[str], fail: Fail) -> Report:
    found = [REPORTS[c] for c in REPORTS if c in columns]
    if len(found) != 1:
        raise fail("no price column: expected MW (PRC_LMP) or VALUE (PRC_INTVL_LMP)", line=1, field="MW")
    report = found[0]
    for column in (*TEXT_COLUMNS, "GROUP"):
        if column not in columns:
            raise fail(f"missing column {column!r} in the {report.queryname} header", line=1, field=column)
    return report


def _check(frame: pl.DataFrame, rules: list[Rule], fail: Fail) -> None:
    failure = first_failure(frame, rules)
    if failure is not None:
        row, field, message = failure
        raise fail(message, line=row["line"], field=field)


def _rows(frame: pl.DataFrame, report: Report, fail: Fail) -> pl.DataFrame:
    """Typed rows (line, node, start, type, value), every field checked; errors name the line."""
    value = report.value_column
    # GROUP is the last column: a line cut short leaves it empty
    _check(
        frame,
        [
            (pl.col(c).is_null(), c, lambda r: "empty field (truncated line?)")
            for c in (*TEXT_COLUMNS, value, "GROUP")
        ],
        fail,
    )
    typed = frame.select(
        "line",
        pl.col("NODE").cast(pl.Categorical).alias("node"),
        pl.col("MARKET_RUN_ID").alias("run_id"),
        pl.col("LMP_TYPE").alias("type"),
        pl.col(value).alias("text"),
        pl.col(value).cast(pl.Float64, strict=False).alias("value"),
        pl.col("INTERVALSTARTTIME_GMT").alias("start_text"),
        pl.col("INTERVALSTARTTIME_GMT").str.to_datetime(ROW_TIME, strict=False).alias("start"),
        pl.col("INTERVALENDTIME_GMT").alias("end_text"),
        pl.col("INTERVALENDTIME_GMT").str.to_datetime(ROW_TIME, strict=False).alias("end"),
    )
    checks: list[Rule] = [
        (
            pl.col("value").is_null() | ~pl.col("value").is_finite(),
            value,
            lambda r: f"not a price: {r['text']!r}",
        ),
        (
            pl.col("start").is_null(),
            "INTERVALSTARTTIME_GMT",
            lambda r: f"not a GMT time: {r['start_text']!r}",
        ),
        (pl.col("end").is_null(), "INTERVALENDTIME_GMT", lambda r: f"not a GMT time: {r['end_text']!r}"),
        (
            pl.col("run_id") != report.market_run_id,
            "MARKET_RUN_ID",
            lambda r: f"{r['run_id']!r} in a {report.queryname} file (expected {report.market_run_id})",
        ),
        (~pl.col("type").is_in(COMPONENTS), "LMP_TYPE", lambda r: f"unknown LMP_TYPE {r['type']!r}"),
        (
            pl.col("end") - pl.col("start") != pl.duration(minutes=report.minutes),
            "INTERVALENDTIME_GMT",
            lambda r: f"interval {r['start_text']} - {r['end_text']} is not {report.minutes} minutes",
        ),
    ]
    _check(typed, checks, fail)
    return typed.select("line", "node", "start", "type", "value")


def _pivot(rows: pl.DataFrame, report: Report, fail: Fail) -> pa.Table:
    """One row per node and interval (see `_prices`); ParseError at the first line of a node-interval
    that has a component twice, lacks one, or whose LMP is not the sum of its components."""
    try:
        wide = rows.pivot(on="type", index=["node", "start"], values="value")
    except pl.exceptions.ComputeError:  # a node, interval and component given twice
        in_file_order = rows.sort("line")
        repeat = first_repeat(in_file_order, "node", "start", "type")
        if repeat is None:
            raise
        hit = in_file_order.row(repeat, named=True)
        raise fail(
            f"{hit['type']} for {hit['node']} at {hit['start']:%Y-%m-%dT%H:%M}Z appears twice",
            line=hit["line"],
            field="LMP_TYPE",
        ) from None
    wide = _with_energy(wide)
    problem = _first_problem(wide)
    if problem is not None:
        bad, message, field = problem
        # the first line of the first offending node-interval, in file order
        lines = rows.group_by("node", "start").agg(pl.col("line").min())
        hit = wide.filter(bad).join(lines, on=["node", "start"]).sort("line").row(0, named=True)
        raise fail(message(hit), line=hit["line"], field=field)
    return _prices(wide, report, wide["node"].cast(pl.String))


def _with_energy(wide: pl.DataFrame) -> pl.DataFrame:
    """Every component a column (null where a node-interval has none), and energy = MCE + MGHG.

    CAISO's LMP is the sum of all its components, GHG included (LMP = MCE + MCC + MCL + MGHG), so the GHG
    component, a marginal cost of supplying energy, is folded into energy; that keeps
    lmp == energy + congestion + loss. Where a node has no MGHG row its GHG component is zero.
    """
    wide = wide.with_columns(pl.lit(None, pl.Float64).alias(c) for c in COMPONENTS if c not in wide.columns)
    # rounded back to the 5 decimals OASIS publishes, so the sum carries no float noise
    return wide.with_columns((pl.col("MCE") + pl.col("MGHG").fill_null(0.0)).round(5).alias("energy"))


Problem: TypeAlias = tuple[pl.Expr, Callable[[dict[str, object]], str], str | None]


def _first_problem(wide: pl.DataFrame) -> Problem | None:
    """The first of: a required component missing, an LMP that is not the sum of its components — as the
    rows having it, the message for one such row and the field to blame; None if no row has either."""
    mismatch = (pl.col("LMP") - (pl.col("energy") + pl.col("MCC") + pl.col("MCL"))).abs() > IDENTITY_TOLERANCE
    problems: list[Problem] = [
        *((pl.col(c).is_null(), partial(_missing, c), "LMP_TYPE") for c in REQUIRED_COMPONENTS),
        (mismatch, _not_the_sum, None),
    ]
    failed = wide.select(*(bad.any().alias(str(i)) for i, (bad, _, _) in enumerate(problems))).row(0)
    return next((p for flag, p in zip(failed, problems, strict=True) if flag), None)


def _prices(wide: pl.DataFrame, report: Report, location: pa.Array | pl.Series) -> pa.Table:
    """The mapped prices of checked wide rows at their locations: lmp = LMP, energy = MCE + MGHG,
    congestion = MCC, loss = MCL."""
    return mapped_prices(
        {
            "market": "CAISO",
            "location": location,
            "run": report.run,
            "interval_start": wide["start"],
            "interval_minutes": report.minutes,
            "lmp": wide["LMP"],
            "energy": wide["energy"],
            "congestion": wide["MCC"],
            "loss": wide["MCL"],
        }
    )


def _missing(component: str, hit: dict[str, object]) -> str:
    return f"{hit['node']} at {hit['start']:%Y-%m-%dT%H:%M}Z has no {component} row"


def _not_the_sum(hit: dict[str, object]) -> str:
    return (
        f"LMP {hit['LMP']} of {hit['node']} at {hit['start']:%Y-%m-%dT%H:%M}Z is not the sum of its "
        f"components (MCE {hit['MCE']}, MCC {hit['MCC']}, MCL {hit['MCL']}, MGHG {hit['MGHG']})"
    )
