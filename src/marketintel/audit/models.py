"""What a caller records (`AuditEvent`) and what verification finds (`VerifyReport`)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from marketintel.metadata.models import utcnow

# The actions the platform records; others are accepted (the column is free text).
ACTIONS: tuple[str, ...] = ("api", "export", "scenario_run", "admin", "auth")
# Column widths of audit_log: values are clipped to them here, so what is hashed is what is stored
# (PostgreSQL would reject a longer value, and a batch that can never be written would be retried forever).
WIDTHS: dict[str, int] = {"actor": 320, "tenant": 64, "channel": 16, "action": 32, "method": 8, "route": 300}


def _clip(value: str | None, width: int) -> str | None:
    # PostgreSQL text holds neither NUL nor lone surrogates (from a badly decoded request): replace them
    # rather than fail the batch
    if value is None:
        return None
    return _encodable(str(value).replace("\x00", "\ufffd"))[:width]


def _encodable(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")


def _as_stored(params: dict[str, Any] | None) -> dict[str, Any] | None:
    """`params` as the JSON column gives it back (tuples become lists, keys strings, other values their
    str()), so the hash of the record as written equals the hash of the record as read."""
    if params is None:
        return None
    text = json.dumps(params, allow_nan=False, default=str, ensure_ascii=False)
    stored = json.loads(_encodable(text))
    if not isinstance(stored, dict):
        raise TypeError(f"audit params must be a JSON object, not {type(params).__name__}")
    return stored


@dataclass(frozen=True, kw_only=True)
class AuditEvent:
    """One audited action. Normalised on construction: UTC time, clipped strings, params as JSON reads
    them back, a float latency. A bad value raises here, in the caller, never later in the writer."""

    occurred_at: datetime = field(default_factory=utcnow)
    actor: str
    tenant: str | None = None
    channel: str | None = None
    action: str
    method: str | None = None
    route: str
    params: dict[str, Any] | None = None
    status: int
    latency_ms: float | None = None

    def __post_init__(self) -> None:
        if self.occurred_at.tzinfo is None:
            raise ValueError(
                f"naive occurred_at {self.occurred_at.isoformat()}: audit times must be tz-aware"
            )
        latency = None if self.latency_ms is None else float(self.latency_ms)
        if latency is not None and not math.isfinite(latency):
            raise ValueError(f"latency_ms must be finite, not {latency}")
        normalised: dict[str, Any] = {
            "occurred_at": self.occurred_at.astimezone(UTC),
            "params": _as_stored(self.params),
            "status": int(self.status),
            "latency_ms": latency,
        }
        normalised |= {name: _clip(getattr(self, name), width) for name, width in WIDTHS.items()}
        for name, value in normalised.items():
            object.__setattr__(self, name, value)


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of walking the chain. `first_bad_id` is where the chain first breaks: the edited or
    reordered record, the first missing one of a deletion, or the first record after a re-hashed one."""

    ok: bool
    records_checked: int
    archives_checked: int = 0
    first_bad_id: int | None = None
    problem: str | None = None

    def summary(self) -> str:
        checked = f"{self.records_checked:,} record(s) checked"
        if self.archives_checked:
            checked += f" (with {self.archives_checked} archive segment(s))"
        if self.ok:
            return f"audit chain OK: {checked}"
        return f"audit chain broken at record {self.first_bad_id}: {self.problem}; {checked}"


class AuditChainBroken(RuntimeError):
    """An operation that needs an intact chain (archiving) found it broken."""

    def __init__(self, report: VerifyReport) -> None:
        super().__init__(report.summary())
        self.report = report
