"""The connector lifecycle: discover → pull_or_subscribe → map_to_schema → emit → checkpoint.

A connector supplies what is particular to its source — the URL of a market day's file(s) and the
mapping of that file's format to canonical rows. Fetching (timeouts, retries, rate limits), archiving,
validation, quarantine, writing and checkpoints are the SDK's (`fetch.py`, `marketintel.ingest`).
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.compute as pc

from marketintel.catalog.markets import MARKETS
from marketintel.connectors.fetch import Fetcher
from marketintel.connectors.models import RawPayload
from marketintel.store.models import INSTRUMENTS_SCHEMA


@dataclass(frozen=True)
class Document:
    """One file a source publishes: where to get it and the name to archive it under."""

    url: str
    name: str


@dataclass(frozen=True)
class SourceInfo:
    name: str
    market: str
    runs: tuple[str, ...]
    description: str
    base_url: str


class Connector(ABC):
    name: ClassVar[str]  # the `marketintel parse` name, e.g. "miso-da"
    market: ClassVar[str]
    runs: ClassVar[tuple[str, ...]]
    description: ClassVar[str]
    base_url: ClassVar[str]  # the live endpoint; tests point it at a local server
    # how many requests per second the source tolerates from us
    requests_per_second: ClassVar[float] = 1.0
    # query parameters that carry credentials: masked wherever the URL is recorded
    secret_params: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, base_url: str | None = None) -> None:
        self.url_root = (base_url or self.base_url).rstrip("/")

    # --- what a connector writes ------------------------------------------------------------------

    @abstractmethod
    def urls(self, day: dt.date) -> list[str]:
        """The live URL(s) of the file(s) holding one market day."""

    @abstractmethod
    def map_to_schema(self, payload: RawPayload) -> pa.Table:
        """The payload's rows as canonical mapped prices (`models.MAPPED_PRICES`); `ParseError` if the
        payload is not in the source's published format."""

    def location_type(self, location: str) -> str:
        """hub, zone, node or interface, from the source's naming conventions."""
        return "node"

    def timezone(self, location: str) -> str:
        """The clock a location's market day runs on (the market's, unless a source knows better)."""
        return MARKETS[self.market].timezone

    def headers(self, url: str) -> dict[str, str]:
        """Extra request headers the source needs for `url` (a Referer, an API key from the environment)."""
        return {}

    # --- lifecycle, shared ------------------------------------------------------------------------

    def discover(self) -> SourceInfo:
        return SourceInfo(self.name, self.market, self.runs, self.description, self.url_root)

    def payload_name(self, url: str) -> str:
        """The archive name of the file behind `url` (its last path segment unless a connector knows better)."""
        return urlsplit(url).path.rsplit("/", 1)[-1]

    def documents(self, day: dt.date, fetcher: Fetcher) -> list[Document]:
        """The files holding one market day: by default the `urls(day)`. A source that publishes a listing
        (ERCOT's MIS) looks its documents up there, raising NotPublished when the day is not listed yet."""
        return [Document(url, self.payload_name(url)) for url in self.urls(day)]

    def fetch(self, document: Document | str, fetcher: Fetcher) -> RawPayload:
        """One file, with the source's headers, its credentials kept out of the recorded URL."""
        if isinstance(document, str):
            document = Document(document, self.payload_name(document))
        return fetcher.get(
            document.url,
            name=document.name,
            headers=self.headers(document.url),
            secret_params=self.secret_params,
        )

    def pull_or_subscribe(self, start: dt.date, end: dt.date, fetcher: Fetcher) -> Iterator[RawPayload]:
        """The raw payloads for market days in [start, end), in day order."""
        day = start
        while day < end:
            for document in self.documents(day, fetcher):
                yield self.fetch(document, fetcher)
            day += dt.timedelta(days=1)

    def instruments(self, mapped: pa.Table) -> pa.Table:
        """Instrument rows for the locations a mapped batch mentions, typed by the source's conventions."""
        market = MARKETS[self.market]
        locations = sorted(pc.unique(mapped.column("location")).to_pylist())
        return pa.table(
            {
                "market": [self.market] * len(locations),
                "location": locations,
                "location_type": [self.location_type(loc) for loc in locations],
                "timezone": [self.timezone(loc) for loc in locations],
                "currency": [market.currency] * len(locations),
                "unit": [f"{market.currency}/MWh"] * len(locations),
                "name": pa.nulls(len(locations), pa.string()),
            },
            schema=INSTRUMENTS_SCHEMA,
        )
