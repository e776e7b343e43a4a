"""The chain itself: a record's canonical bytes, its hash, and a cursor that follows records in order.

hash(record) = sha256(prev_hash || canonical(content)), where the content includes the record's id, so a
record moved to another position no longer matches its hash. Canonical form: JSON with sorted keys, no
spaces, ASCII only, times as UTC with microseconds (`2026-01-02T03:04:05.000006Z`), floats as Python's
shortest round-trip repr (what the database gives back for a double).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
CONTENT_FIELDS: tuple[str, ...] = (
    "id",
    "occurred_at",
    "actor",
    "tenant",
    "channel",
    "action",
    "method",
    "route",
    "params",
    "status",
    "latency_ms",
)
RECORD_FIELDS: tuple[str, ...] = (*CONTENT_FIELDS, "prev_hash", "hash")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def time_text(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError(f"naive time {value.isoformat()} in an audit record")
    return value.astimezone(UTC).strftime(TIME_FORMAT)


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)


def canonical(content: Mapping[str, Any]) -> bytes:
    """The bytes a record's hash covers: its CONTENT_FIELDS (`occurred_at` a datetime or its text)."""
    values = {name: content[name] for name in CONTENT_FIELDS}
    if isinstance(values["occurred_at"], datetime):
        values["occurred_at"] = time_text(values["occurred_at"])
    return json.dumps(values, sort_keys=True, separators=(",", ":"), allow_nan=False).encode("ascii")


def record_hash(prev_hash: str, content: Mapping[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical(content)).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    record_id: int
    problem: str


class ChainCursor:
    """Where the chain stands: the id and hash the next record must continue from. `follow` checks one
    record (id continuity, then the link to the previous record, then its own hash) and moves past it."""

    def __init__(self, last_id: int = 0, last_hash: str = GENESIS) -> None:
        self.last_id = last_id
        self.last_hash = last_hash
        self.followed = 0

    def follow(self, record: Mapping[str, Any]) -> ChainBreak | None:
        record_id = int(record["id"])
        expected = self.last_id + 1
        if record_id != expected:
            if record_id > expected:
                missing = (
                    f"record {expected}"
                    if record_id == expected + 1
                    else f"records {expected}-{record_id - 1}"
                )
                return ChainBreak(
                    expected,
                    f"{missing} missing (deleted): the chain jumps from {self.last_id} to {record_id}",
                )
            return ChainBreak(record_id, f"record {record_id} out of order (after record {self.last_id})")
        if record["prev_hash"] != self.last_hash:
            previous = f"record {self.last_id}" if self.last_id else "the genesis hash"
            return ChainBreak(
                record_id, f"previous record missing or reordered (prev_hash does not match {previous})"
            )
        if record_hash(self.last_hash, record) != record["hash"]:
            return ChainBreak(record_id, "content edited (hash mismatch)")
        self.last_id, self.last_hash = record_id, str(record["hash"])
        self.followed += 1
        return None
