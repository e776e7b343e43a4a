"""An archived segment of the chain: gzip JSON lines, one record per line, in id order.

The bytes are deterministic (sorted keys, gzip without a timestamp), so archiving the same records again
writes the same object at the same key with the same sha256.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import zlib
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from marketintel.audit.chain import RECORD_FIELDS, ChainBreak, ChainCursor, time_text
from marketintel.metadata.models import AuditArchive
from marketintel.objects.service import ObjectStore

PREFIX = "audit"


def segment_key(first_id: int, last_id: int, first_at: datetime) -> str:
    return f"{PREFIX}/{first_at:%Y}/{first_at:%m}/{first_id}-{last_id}.jsonl.gz"


def record_line(record: Mapping[str, Any]) -> bytes:
    values = {name: record[name] for name in RECORD_FIELDS}
    values["occurred_at"] = time_text(values["occurred_at"])
    return json.dumps(values, sort_keys=True, separators=(",", ":"), allow_nan=False).encode("ascii") + b"\n"


def encode(records: Iterable[Mapping[str, Any]]) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, filename="") as sink:
        for record in records:
            sink.write(record_line(record))
    return buffer.getvalue()


def decode(data: bytes) -> Iterator[dict[str, Any]]:
    """The records of a segment; `occurred_at` stays text (the canonical form reads it as is)."""
    with gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb") as source:
        for line in source:
            yield json.loads(line)


def check_segment(archive: AuditArchive, objects: ObjectStore) -> ChainBreak | None:
    """Re-read an archived segment: it must be there, unaltered (sha256), and chain from its
    first_prev_hash to its last_hash over exactly the ids first_id..last_id. A segment altered inside
    names its first bad record; one altered some other way (recompressed, truncated) names its first id."""
    where = f"archive {archive.object_path}"
    if not objects.exists(archive.object_path):
        return ChainBreak(archive.first_id, f"{where} missing from the object store")
    data = objects.get(archive.object_path)
    altered = hashlib.sha256(data).hexdigest() != archive.sha256
    cursor = ChainCursor(archive.first_id - 1, archive.first_prev_hash)
    try:
        for record in decode(data):
            found = cursor.follow(record)
            if found is not None:
                return ChainBreak(found.record_id, f"{where}: {found.problem}")
    except (OSError, EOFError, zlib.error, ValueError, KeyError, TypeError) as exc:
        return ChainBreak(archive.first_id, f"{where} unreadable after record {cursor.last_id}: {exc}")
    if altered:
        return ChainBreak(archive.first_id, f"{where} altered (sha256 mismatch)")
    if cursor.last_id != archive.last_id:
        return ChainBreak(
            min(cursor.last_id, archive.last_id) + 1,
            f"{where} ends at record {cursor.last_id}, its audit_archives row at {archive.last_id}",
        )
    if cursor.last_hash != archive.last_hash:
        return ChainBreak(archive.last_id, f"{where}: last hash differs from its audit_archives row")
    return None
