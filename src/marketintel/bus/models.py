"""Bus events and their encoding, the subjects they travel on, and what every bus engine offers.

A price event carries the rows of one (market, run) that the store just wrote, on subject
`prices.<MARKET>.<RUN>`, as an Arrow IPC stream or as compact JSON (columns → arrays, timestamps ISO-8601
with a Z). The payload layout is versioned (`SCHEMA_VERSION`, carried in the event and in its headers).
Its message id is a digest of the source file(s), the subject and the rows themselves, so re-publishing
the same rows (an outbox drained twice, a publish whose ack was lost) is the same message, which JetStream
drops within its duplicate window.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import math
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from marketintel.store.models import PRICES

SCHEMA_VERSION = 1
ARROW = "application/vnd.apache.arrow.stream"
JSON = "application/json"
CONTENT_TYPES = {"arrow": ARROW, "json": JSON}
Format = Literal["arrow", "json"]

SCHEMA_HEADER = "Marketintel-Schema-Version"
CONTENT_TYPE_HEADER = "Content-Type"
MSG_ID_HEADER = "Nats-Msg-Id"  # JetStream de-duplicates on it within the stream's duplicate window
PRICES_SUBJECTS = "prices.>"
# NATS refuses payloads over the server's max_payload (1 MiB by default); stay well under it.
MAX_PAYLOAD = 900_000
DICTIONARY_COLUMNS = frozenset({"market", "location", "run", "source", "source_file_sha256"})

_NOT_IN_TOKEN = re.compile(r"[\s.*>]")


class BusError(Exception):
    """The bus could not take or deliver an event."""


class BusUnavailable(BusError):
    """The bus is down, unreachable or too slow to ack: worth retrying later, in order."""


class EventRejected(BusError):
    """The bus refused this very event (too large, no stream for its subject): retrying will not help."""


class SlowSubscriber(BusError):
    """A subscriber fell a full queue behind and was dropped: events after the ones it holds are lost to it."""


@dataclass(frozen=True)
class Event:
    subject: str
    payload: bytes
    content_type: str
    schema_version: int = SCHEMA_VERSION
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def message_id(self) -> str | None:
        return self.headers.get(MSG_ID_HEADER)


@dataclass(frozen=True)
class Ack:
    """The bus took the event: where (stream, sequence), and whether it was a duplicate it dropped."""

    stream: str
    sequence: int
    duplicate: bool = False


class Received:
    """An event delivered to a subscriber. `delivered` > 1 is a redelivery (an earlier one was not acked).
    On JetStream, ack() settles it and nak() asks for it again; on the memory bus both do nothing."""

    def __init__(
        self,
        event: Event,
        delivered: int = 1,
        settle: Callable[[str], concurrent.futures.Future[Any]] | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.event, self.delivered = event, delivered
        self._settle, self._timeout = settle, timeout

    def ack(self) -> None:
        if self._settle is not None:
            self._settle("ack").result(self._timeout)

    def nak(self) -> None:
        if self._settle is not None:
            self._settle("nak").result(self._timeout)

    async def ack_async(self) -> None:
        if self._settle is not None:
            await asyncio.wait_for(asyncio.wrap_future(self._settle("ack")), self._timeout)

    def __repr__(self) -> str:
        return f"Received({self.event.subject!r}, delivered={self.delivered})"


class Subscription(Protocol):
    """Events on a subject pattern, from sync code (`get`, iteration) or async code (`async for`)."""

    def get(self, timeout: float | None = None) -> Received | None:
        """The next event, or None if none came within `timeout` seconds (or the subscription is closed)."""
        ...

    def __iter__(self) -> Iterator[Received]: ...

    def __aiter__(self) -> AsyncIterator[Received]: ...

    def close(self) -> None: ...


class Bus(Protocol):
    url: str

    def publish(self, event: Event, timeout: float | None = None) -> Ack:
        """Hand the event to the bus; raises BusUnavailable or EventRejected if it did not take it."""
        ...

    def subscribe(self, subject: str = PRICES_SUBJECTS) -> Subscription: ...

    def close(self) -> None: ...


# --- subjects -----------------------------------------------------------------------------------------


def token(text: str) -> str:
    """`text` made a single subject token (no dots, wildcards or blanks)."""
    cleaned = _NOT_IN_TOKEN.sub("_", text.strip())
    return cleaned or "_"


def price_subject(market: str, run: str) -> str:
    return f"prices.{token(market.upper())}.{token(run.upper())}"


def check_pattern(pattern: str) -> list[str]:
    """The tokens of a subject or NATS-style pattern (`*` one token, `>` the rest), or ValueError."""
    tokens = pattern.split(".")
    for i, part in enumerate(tokens):
        if not part or " " in part:
            raise ValueError(f"invalid subject {pattern!r}: empty token or blank")
        if part == ">" and i != len(tokens) - 1:
            raise ValueError(f"invalid subject {pattern!r}: '>' must be the last token")
        if part not in ("*", ">") and ("*" in part or ">" in part):
            raise ValueError(f"invalid subject {pattern!r}: a wildcard must be a whole token")
    return tokens


def check_subject(subject: str) -> str:
    """`subject` if events can be published on it: a valid subject without wildcards, else ValueError."""
    if any(part in ("*", ">") for part in check_pattern(subject)):
        raise ValueError(f"invalid subject {subject!r}: events are published on subjects without wildcards")
    return subject


def subject_matches(pattern: str | list[str], subject: str) -> bool:
    wanted = check_pattern(pattern) if isinstance(pattern, str) else pattern
    tokens = subject.split(".")
    for i, part in enumerate(wanted):
        if part == ">":
            return len(tokens) > i
        if i >= len(tokens) or (part != "*" and part != tokens[i]):
            return False
    return len(tokens) == len(wanted)


# --- encoding -----------------------------------------------------------------------------------------


def _canonical(table: pa.Table) -> pa.Table:
    return table.select(PRICES.columns).cast(PRICES.schema)


def _json_columns(rows: pa.Table, iso_timestamps: bool) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = {}
    for name, column in zip(rows.column_names, rows.columns, strict=True):
        if pa.types.is_timestamp(column.type) and iso_timestamps:
            # formatted in Arrow (far faster than Python datetimes); whole seconds drop their ".000000"
            iso = pc.strftime(column, format="%Y-%m-%dT%H:%M:%SZ")
            columns[name] = pc.replace_substring_regex(iso, r"\.000000Z$", "Z").to_pylist()
        elif pa.types.is_timestamp(column.type):
            columns[name] = pc.cast(column, pa.int64()).to_pylist()  # exact, and cheaper than text
        else:
            columns[name] = column.to_pylist()
    return columns


def rows_digest(rows: pa.Table) -> str:
    """A digest of the rows' values, independent of their encoding and of Arrow's memory layout."""
    doc = _json_columns(_canonical(rows), iso_timestamps=False)
    return hashlib.sha256(orjson.dumps(doc)).hexdigest()


def message_id(subject: str, rows: pa.Table) -> str:
    files = sorted({f for f in rows.column("source_file_sha256").to_pylist() if f is not None})
    key = "\n".join([",".join(files), subject, rows_digest(rows)])
    return hashlib.sha256(key.encode()).hexdigest()


def _payload(rows: pa.Table, format: Format) -> bytes:
    if format == "json":
        doc = {
            "schema_version": SCHEMA_VERSION,
            "rows": rows.num_rows,
            "columns": _json_columns(rows, iso_timestamps=True),
        }
        return orjson.dumps(doc)
    # repetitive text (market, run, source, file hash, each node's hours) dictionary-encoded: half
    # the bytes, and any Arrow reader (JS included) decodes it, which body compression would not promise
    encoded = pa.table(
        [
            pc.dictionary_encode(c) if n in DICTIONARY_COLUMNS else c
            for n, c in zip(rows.column_names, rows.columns, strict=True)
        ],
        names=rows.column_names,
    ).replace_schema_metadata({"marketintel.schema_version": str(SCHEMA_VERSION)})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, encoded.schema) as writer:
        writer.write_table(encoded)
    return sink.getvalue().to_pybytes()


def price_event(subject: str, rows: pa.Table, payload: bytes, content_type: str) -> Event:
    """The event for `payload` (the encoded `rows`), with its schema version and message id headers."""
    headers = {
        SCHEMA_HEADER: str(SCHEMA_VERSION),
        CONTENT_TYPE_HEADER: content_type,
        MSG_ID_HEADER: message_id(subject, rows),
    }
    return Event(subject, payload, content_type, SCHEMA_VERSION, headers)


def _chunks(subject: str, rows: pa.Table, format: Format, max_payload: int) -> list[Event]:
    payload = _payload(rows, format)
    if len(payload) <= max_payload or rows.num_rows <= 1:
        return [price_event(subject, rows, payload, CONTENT_TYPES[format])]
    # too big for one message: cut into parts sized from this encoding, re-cut any part still too big
    parts = math.ceil(len(payload) / (max_payload * 0.9))
    size = math.ceil(rows.num_rows / parts)
    events: list[Event] = []
    for offset in range(0, rows.num_rows, size):
        events.extend(_chunks(subject, rows.slice(offset, size), format, max_payload))
    return events


def encode_prices(table: pa.Table, format: Format = "arrow", max_payload: int = MAX_PAYLOAD) -> list[Event]:
    """One event per (market, run) of `table` (rows in PRICES' schema), in (market, run) order, rows in
    their order; a group too large for one message is split into consecutive events on its subject."""
    if format not in CONTENT_TYPES:
        raise ValueError(f"unknown event format {format!r}; expected one of {', '.join(CONTENT_TYPES)}")
    table = _canonical(table)
    if table.num_rows == 0:
        return []
    groups = table.group_by(["market", "run"]).aggregate([]).to_pylist()
    events: list[Event] = []
    for group in sorted(groups, key=lambda g: (g["market"], g["run"])):
        mask = pc.and_(
            pc.equal(table.column("market"), group["market"]), pc.equal(table.column("run"), group["run"])
        )
        rows = table.filter(mask).combine_chunks()
        events.extend(_chunks(price_subject(group["market"], group["run"]), rows, format, max_payload))
    return events


def decode_prices(event: Event) -> pa.Table:
    """The rows of a price event, in PRICES' schema; ValueError if its version or type is not ours."""
    if event.schema_version != SCHEMA_VERSION:
        raise ValueError(
            f"{event.subject}: event schema version {event.schema_version}, this code reads {SCHEMA_VERSION}"
        )
    if event.content_type == ARROW:
        try:
            table = pa.ipc.open_stream(event.payload).read_all()
        except pa.ArrowInvalid as exc:
            raise ValueError(f"{event.subject}: not an Arrow IPC stream: {exc}") from None
        return _canonical(table.replace_schema_metadata(None))
    if event.content_type == JSON:
        try:
            doc = orjson.loads(event.payload)
            columns = doc["columns"]
            arrays = [
                pa.array(columns[f.name], pa.string()).cast(f.type)
                if pa.types.is_timestamp(f.type)
                else pa.array(columns[f.name], f.type)
                for f in PRICES.schema
            ]
        except (orjson.JSONDecodeError, KeyError, TypeError, pa.ArrowException) as exc:
            raise ValueError(f"{event.subject}: not a JSON price event: {exc}") from None
        return pa.Table.from_arrays(arrays, schema=PRICES.schema)
    raise ValueError(f"{event.subject}: unknown content type {event.content_type!r}")
