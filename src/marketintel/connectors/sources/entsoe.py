"""ENTSO-E Transparency Platform day-ahead prices (documentType A44), one bidding zone per request.

The API answers with an IEC 62325 `Publication_MarketDocument` (namespace `...:publicationdocument:7:3`
since the December 2023 release; 7:0 before, same element names): one `TimeSeries` per zone, delivery
day and auction, each with `Period`s whose `timeInterval` is in UTC ("2024-10-26T22:00Z") and whose
`Point`s are numbered from 1 at the period's `resolution` (PT60M, PT15M since SDAC went to 15-minute
MTUs for delivery 2025-10-01). With curveType A03 (variable-sized blocks) a position is left out when
its price repeats the previous one; A01 lists every position. A request without data returns an
`Acknowledgement_MarketDocument` with a `Reason` instead.

Times are already UTC, so no DST arithmetic happens in parsing: a 25-hour fall-back day is simply a
period with 25 hourly (100 quarter-hourly) positions.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import xml.parsers.expat
from dataclasses import dataclass, field
from typing import ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from marketintel.catalog.markets import MARKETS
from marketintel.connectors.base import Connector
from marketintel.connectors.checks import first_row
from marketintel.connectors.clock import UTC_US, local_day_starts
from marketintel.connectors.models import ParseError, RawPayload, mapped_prices

TOKEN_ENV = "MARKETINTEL_ENTSOE_TOKEN"
PUBLICATION_NS = "urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:"  # + "3" now, "0" before 2024
ACKNOWLEDGEMENT_NS = "urn:iec62325.351:tc57wg16:451-1:acknowledgementdocument:7:"
# SDAC's delivery day is the CET/CEST day for every coupled zone, Finland and Portugal included; the
# published periods follow it (a Finnish day starts at 23:00Z in winter, not 22:00Z).
MARKET_DAY_TIMEZONE = "Europe/Brussels"

# Bidding-zone EIC -> (readable code, the zone's own clock). An EIC not listed here is a ParseError: a
# location must keep one stable id, so a new zone is added here deliberately rather than stored raw.
ZONES: dict[str, tuple[str, str]] = {
    "10YAT-APG------L": ("AT", "Europe/Vienna"),
    "10YBE----------2": ("BE", "Europe/Brussels"),
    "10YCA-BULGARIA-R": ("BG", "Europe/Sofia"),
    "10YCH-SWISSGRIDZ": ("CH", "Europe/Zurich"),
    "10YCZ-CEPS-----N": ("CZ", "Europe/Prague"),
    "10Y1001A1001A82H": ("DE-LU", "Europe/Berlin"),
    "10YDK-1--------W": ("DK1", "Europe/Copenhagen"),
    "10YDK-2--------M": ("DK2", "Europe/Copenhagen"),
    "10Y1001A1001A39I": ("EE", "Europe/Tallinn"),
    "10YES-REE------0": ("ES", "Europe/Madrid"),
    "10YFI-1--------U": ("FI", "Europe/Helsinki"),
    "10YFR-RTE------C": ("FR", "Europe/Paris"),
    "10YGR-HTSO-----Y": ("GR", "Europe/Athens"),
    "10YHR-HEP------M": ("HR", "Europe/Zagreb"),
    "10YHU-MAVIR----U": ("HU", "Europe/Budapest"),
    "10Y1001C--00096J": ("IT-CALA", "Europe/Rome"),
    "10Y1001A1001A70O": ("IT-CNOR", "Europe/Rome"),
    "10Y1001A1001A71M": ("IT-CSUD", "Europe/Rome"),
    "10Y1001A1001A73I": ("IT-NORD", "Europe/Rome"),
    "10Y1001A1001A74G": ("IT-SARD", "Europe/Rome"),
    "10Y1001A1001A75E": ("IT-SICI", "Europe/Rome"),
    "10Y1001A1001A788": ("IT-SUD", "Europe/Rome"),
    "10YLT-1001A0008Q": ("LT", "Europe/Vilnius"),
    "10YLV-1001A00074": ("LV", "Europe/Riga"),
    "10YNL----------L": ("NL", "Europe/Amsterdam"),
    "10YNO-1--------2": ("NO1", "Europe/Oslo"),
    "10YNO-2--------T": ("NO2", "Europe/Oslo"),
    "10YNO-3--------J": ("NO3", "Europe/Oslo"),
    "10YNO-4--------9": ("NO4", "Europe/Oslo"),
    "10Y1001A1001A48H": ("NO5", "Europe/Oslo"),
    "10YPL-AREA-----S": ("PL", "Europe/Warsaw"),
    "10YPT-REN------W": ("PT", "Europe/Lisbon"),
    "10YRO-TEL------P": ("RO", "Europe/Bucharest"),
    "10Y1001A1001A44P": ("SE1", "Europe/Stockholm"),
    "10Y1001A1001A45N": ("SE2", "Europe/Stockholm"),
    "10Y1001A1001A46L": ("SE3", "Europe/Stockholm"),
    "10Y1001A1001A47J": ("SE4", "Europe/Stockholm"),
    "10YSI-ELES-----O": ("SI", "Europe/Ljubljana"),
    "10YSK-SEPS-----K": ("SK", "Europe/Bratislava"),
}
ZONE_TIMEZONES: dict[str, str] = dict(ZONES.values())

RESOLUTION = re.compile(r"PT(\d+)([MH])")
ALLOWED_MINUTES = frozenset({15, 30, 60})


@dataclass
class _Period:
    line: int
    fields: dict[str, str] = field(default_factory=dict)
    positions: list[str] = field(default_factory=list)
    prices: list[str] = field(default_factory=list)
    position_lines: list[int] = field(default_factory=list)
    price_lines: list[int] = field(default_factory=list)


@dataclass
class _Series:
    line: int
    fields: dict[str, str] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    periods: list[_Period] = field(default_factory=list)


@dataclass
class _Document:
    root: str = ""
    namespace: str = ""
    series: list[_Series] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


class _Reader:
    """Streams the XML once with expat, keeping the line of every value so errors can point at it."""

    def __init__(self, source: str, file: str) -> None:
        self.source = source
        self.file = file
        self.doc = _Document()
        self.stack: list[str] = []
        self.text: list[str] = []
        self.point: dict[str, str] = {}
        self.parser = xml.parsers.expat.ParserCreate(namespace_separator="}")
        self.parser.StartElementHandler = self._start
        self.parser.EndElementHandler = self._end
        self.parser.CharacterDataHandler = self.text.append

    def read(self, content: bytes) -> _Document:
        try:
            self.parser.Parse(content, True)
        except xml.parsers.expat.ExpatError as exc:
            message = xml.parsers.expat.ErrorString(exc.code)
            raise ParseError(
                self.source, self.file, f"not well-formed XML: {message}", line=exc.lineno
            ) from None
        return self.doc

    def _start(self, name: str, _attrs: dict[str, str]) -> None:
        namespace, _, local = name.rpartition("}")
        line = self.parser.CurrentLineNumber
        if not self.stack:
            self.doc.root, self.doc.namespace = local, namespace
        parent = self.stack[-1] if self.stack else ""
        if local == "TimeSeries" and len(self.stack) == 1:
            self.doc.series.append(_Series(line))
        elif local == "Period" and parent == "TimeSeries":
            self.doc.series[-1].periods.append(_Period(line))
        elif local == "Point" and parent == "Period":
            self.point = {}
        self.stack.append(local)
        self.text.clear()

    def _end(self, _name: str) -> None:
        local = self.stack.pop()
        parent = self.stack[-1] if self.stack else ""
        value = "".join(self.text).strip()
        self.text.clear()
        line = self.parser.CurrentLineNumber
        if parent == "TimeSeries" and local != "Period":
            self.doc.series[-1].fields[local] = value
            self.doc.series[-1].lines[local] = line
        elif self.stack[-2:] == ["Period", "timeInterval"] or (parent, local) == ("Period", "resolution"):
            self.doc.series[-1].periods[-1].fields[local] = value
        elif parent == "Point":
            self.point[local] = value
            self.point[f"{local}@line"] = str(line)
        elif local == "Point" and parent == "Period":
            period = self.doc.series[-1].periods[-1]
            if "position" not in self.point or "price.amount" not in self.point:
                missing = "position" if "position" not in self.point else "price.amount"
                raise ParseError(self.source, self.file, "Point without a value", line=line, field=missing)
            period.positions.append(self.point["position"])
            period.prices.append(self.point["price.amount"])
            period.position_lines.append(int(self.point["position@line"]))
            period.price_lines.append(int(self.point["price.amount@line"]))
        elif parent == "Reason" and local == "text":
            self.doc.reasons.append(value)


def _utc(text: str) -> dt.datetime | None:
    for layout in ("%Y-%m-%dT%H:%MZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return dt.datetime.strptime(text, layout)
        except ValueError:
            continue
    return None


class EntsoeDayAhead(Connector):
    name: ClassVar[str] = "entsoe-a44"
    market: ClassVar[str] = "ENTSOE"
    runs: ClassVar[tuple[str, ...]] = ("DA",)
    description: ClassVar[str] = "ENTSO-E Transparency Platform day-ahead prices (A44) per bidding zone"
    base_url: ClassVar[str] = "https://web-api.tp.entsoe.eu"
    secret_params: ClassVar[frozenset[str]] = frozenset({"securityToken"})
    # the platform allows 400 requests a minute per token
    requests_per_second: ClassVar[float] = 5.0

    def __init__(self, base_url: str | None = None, zones: tuple[str, ...] | None = None) -> None:
        super().__init__(base_url)
        self.zones = zones if zones is not None else tuple(ZONES)
        unknown = [eic for eic in self.zones if eic not in ZONES]
        if unknown:
            raise ValueError(f"unknown bidding-zone EIC(s) {unknown}; known: {', '.join(ZONES)}")

    # --- where the files are ----------------------------------------------------------------------

    def urls(self, day: dt.date) -> list[str]:
        """One request per zone for the SDAC delivery day: CET midnight to CET midnight, in UTC."""
        starts = local_day_starts(day, MARKET_DAY_TIMEZONE, 60)
        start = starts[0].as_py()
        end = starts[-1].as_py() + dt.timedelta(hours=1)
        token = os.environ.get(TOKEN_ENV, "")
        return [
            f"{self.url_root}/api?"
            + urlencode(
                {
                    "documentType": "A44",
                    "in_Domain": eic,
                    "out_Domain": eic,
                    "periodStart": start.strftime("%Y%m%d%H%M"),
                    "periodEnd": end.strftime("%Y%m%d%H%M"),
                    "securityToken": token,
                }
            )
            for eic in self.zones
        ]

    def payload_name(self, url: str) -> str:
        query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
        zone = ZONES.get(query.get("in_Domain", ""), (query.get("in_Domain", "unknown"), ""))[0]
        return f"entsoe_a44_{zone}_{query.get('periodStart', '')}_{query.get('periodEnd', '')}.xml"

    # --- what the files say -----------------------------------------------------------------------

    def location_type(self, location: str) -> str:
        return "zone"

    def timezone(self, location: str) -> str:
        """Each zone on its own country's clock (FI on Helsinki time, PT on Lisbon time...)."""
        return ZONE_TIMEZONES.get(location, MARKETS[self.market].timezone)

    def map_to_schema(self, payload: RawPayload) -> pa.Table:
        doc = _Reader(self.name, payload.name).read(payload.content)
        if doc.root == "Acknowledgement_MarketDocument":
            reason = "; ".join(doc.reasons) or "no reason given"
            raise ParseError(self.name, payload.name, f"acknowledgement instead of prices: {reason}")
        if doc.root != "Publication_MarketDocument":
            raise ParseError(
                self.name, payload.name, f"root element {doc.root!r}, not Publication_MarketDocument"
            )
        if not doc.namespace.startswith(PUBLICATION_NS):
            raise ParseError(self.name, payload.name, f"unknown namespace {doc.namespace!r}")

        periods = [
            (series, period, self._sequence(payload, series))
            for series in doc.series
            if self._is_day_ahead(series)
            for period in series.periods
        ]
        if not periods:
            raise ParseError(self.name, payload.name, "no day-ahead TimeSeries in the document")
        chosen = self._primary_auction(periods)
        parts = [self._period_rows(payload, series, period) for series, period, _ in chosen]
        locations = pa.concat_arrays([p[0] for p in parts])
        starts = pa.concat_arrays([p[1] for p in parts])
        minutes = pa.concat_arrays([p[2] for p in parts])
        prices = pa.concat_arrays([p[3] for p in parts])
        self._check_unique(payload, locations, starts)
        return mapped_prices(
            {
                "market": self.market,
                "location": locations,
                "run": "DA",
                "interval_start": starts,
                "interval_minutes": minutes,
                "lmp": prices,
                # A44 carries the zone's clearing price only, no components
                "energy": None,
                "congestion": None,
                "loss": None,
            }
        )

    # --- helpers ----------------------------------------------------------------------------------

    @staticmethod
    def _is_day_ahead(series: _Series) -> bool:
        # Since the 15-minute go-live the A44 answer for ES also carries the intraday auctions
        # (contract_MarketAgreement.type A07); day-ahead is A01. Older documents omit the element.
        return series.fields.get("contract_MarketAgreement.type", "A01") == "A01"

    def _sequence(self, payload: RawPayload, series: _Series) -> int:
        text = series.fields.get("classificationSequence_AttributeInstanceComponent.position", "1")
        if not text.isdigit():
            raise ParseError(
                self.name,
                payload.name,
                f"sequence {text!r} is not a number",
                line=series.lines.get("classificationSequence_AttributeInstanceComponent.position"),
                field="classificationSequence_AttributeInstanceComponent.position",
            )
        return int(text)

    @staticmethod
    def _primary_auction(
        periods: list[tuple[_Series, _Period, int]],
    ) -> list[tuple[_Series, _Period, int]]:
        """For DE-LU and AT the platform publishes the SDAC auction as sequence 1 and EXAA's separate
        10:15 auction as sequence 2, for the same zone and day. Keep, per zone and period, the lowest
        sequence present: SDAC when it is published, the only auction otherwise. Choosing per period
        (not per interval) never mixes the two auctions within a day."""
        best: dict[tuple[str, str], int] = {}
        for series, period, sequence in periods:
            key = (series.fields.get("in_Domain.mRID", ""), period.fields.get("start", ""))
            best[key] = min(best.get(key, sequence), sequence)
        return [
            (s, p, q)
            for s, p, q in periods
            if best[(s.fields.get("in_Domain.mRID", ""), p.fields.get("start", ""))] == q
        ]

    def _zone(self, payload: RawPayload, series: _Series) -> str:
        eic = series.fields.get("in_Domain.mRID")
        line = series.lines.get("in_Domain.mRID", series.line)
        if eic is None:
            raise ParseError(
                self.name, payload.name, "TimeSeries without a zone", line=series.line, field="in_Domain.mRID"
            )
        if eic not in ZONES:
            raise ParseError(
                self.name,
                payload.name,
                f"unknown bidding-zone EIC {eic!r}; add it to ZONES with a readable code",
                line=line,
                field="in_Domain.mRID",
            )
        for element, expected in (("currency_Unit.name", "EUR"), ("price_Measure_Unit.name", "MWH")):
            found = series.fields.get(element, expected)
            if found != expected:
                raise ParseError(
                    self.name,
                    payload.name,
                    f"prices in {found!r}, expected {expected!r}",
                    line=series.lines.get(element),
                    field=element,
                )
        return ZONES[eic][0]

    def _period_rows(
        self, payload: RawPayload, series: _Series, period: _Period
    ) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array]:
        """One Period's intervals, A03 gaps filled with the price of the position before them."""
        zone = self._zone(payload, series)

        def fail(message: str, field: str, line: int | None = None) -> ParseError:
            return ParseError(self.name, payload.name, message, line=line or period.line, field=field)

        start = _utc(period.fields.get("start", ""))
        end = _utc(period.fields.get("end", ""))
        if start is None or end is None or end <= start:
            raise fail(
                f"bad timeInterval {period.fields.get('start')!r}..{period.fields.get('end')!r}",
                "timeInterval",
            )
        match = RESOLUTION.fullmatch(period.fields.get("resolution", ""))
        minutes = int(match.group(1)) * (60 if match.group(2) == "H" else 1) if match else 0
        if minutes not in ALLOWED_MINUTES:
            raise fail(f"unsupported resolution {period.fields.get('resolution')!r}", "resolution")
        slots, remainder = divmod(int((end - start).total_seconds()) // 60, minutes)
        if remainder:
            raise fail(f"timeInterval is not a whole number of {minutes}-minute intervals", "timeInterval")

        positions = pl.Series(period.positions, dtype=pl.String).cast(pl.Int64, strict=False)
        prices = pl.Series(period.prices, dtype=pl.String).cast(pl.Float64, strict=False)
        row = first_row((prices.is_null() | ~prices.is_finite()).fill_null(True))
        if row is not None:
            raise fail(
                f"price {period.prices[row]!r} is not a number", "price.amount", period.price_lines[row]
            )
        row = first_row((positions.is_null() | (positions < 1) | (positions > slots)).fill_null(True))
        if row is not None:
            message = f"position {period.positions[row]!r} is not in 1..{slots}"
            raise fail(message, "position", period.position_lines[row])
        if positions.is_duplicated().any():
            row = int(positions.is_duplicated().arg_true()[-1])
            raise fail(
                f"position {period.positions[row]} is listed twice", "position", period.position_lines[row]
            )

        curve = series.fields.get("curveType", "A01")
        if curve == "A01" and len(positions) != slots:
            raise fail(f"curveType A01 lists {len(positions)} of {slots} positions", "position")
        if curve not in ("A01", "A03"):
            raise fail(f"unsupported curveType {curve!r}", "curveType", series.lines.get("curveType"))
        if positions.min() != 1:
            raise fail("the first position is missing, so nothing precedes the gap", "position")
        # every slot takes the price of the last listed position at or before it (A03 carry-forward)
        values = np.full(slots, np.nan)
        values[positions.to_numpy() - 1] = prices.to_numpy()
        listed = np.where(~np.isnan(values), np.arange(slots), 0)
        filled = values[np.maximum.accumulate(listed)]

        base = np.datetime64(start, "us")
        starts = base + np.arange(slots) * np.timedelta64(minutes, "m")
        return (
            pa.array([zone] * slots, pa.string()),
            pa.array(starts).cast(UTC_US),
            pa.array(np.full(slots, minutes, dtype=np.int16)),
            pa.array(filled, pa.float64()),
        )

    def _check_unique(self, payload: RawPayload, locations: pa.Array, starts: pa.Array) -> None:
        keys = pa.table({"location": locations, "start": starts})
        counts = keys.group_by(["location", "start"]).aggregate([("location", "count")])
        repeated = pc.greater(counts["location_count"], 1)
        if pc.any(repeated).as_py():
            row = int(pc.index(repeated, True).as_py())
            when = counts["start"][row].as_py().strftime("%Y-%m-%dT%H:%MZ")
            raise ParseError(
                self.name,
                payload.name,
                f"two day-ahead prices for {counts['location'][row].as_py()} at {when} "
                "(overlapping TimeSeries of different resolutions?)",
            )
