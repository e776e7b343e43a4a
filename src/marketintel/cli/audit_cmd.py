"""`marketintel audit verify | archive | tail`: check the hash chain, move old records to the object
store, show the newest records."""

# heavy modules are imported inside the commands, so `marketintel --help` and every other command start fast
from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING

import typer
from rich.table import Table
from rich.text import Text

from marketintel.cli.context import console, fail, settings

if TYPE_CHECKING:
    from sqlalchemy.exc import DBAPIError

app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)


def _unreadable(exc: DBAPIError) -> typer.Exit:
    return fail(f"cannot read the audit log ({exc.orig}); is the store migrated (`marketintel db upgrade`)?")


@app.command("verify")
def verify(
    archives: bool = typer.Option(
        False, "--archives", help="also re-read every archived segment from the object store"
    ),
) -> None:
    """Walk the audit chain and check every hash and link; exits 1 naming the first bad record."""
    from sqlalchemy.exc import DBAPIError

    from marketintel.audit import service as audit
    from marketintel.metadata import service as metadata
    from marketintel.objects.service import ObjectStore

    config = settings()
    engine = metadata.engine_for(config.metadata_url)
    try:
        objects = ObjectStore(config.objects_url) if archives else None
        report = audit.verify(engine, objects, include_archives=archives)
    except DBAPIError as exc:
        raise _unreadable(exc) from None
    except OSError as exc:
        raise fail(f"cannot read the audit archives in the object store: {exc}") from None
    finally:
        engine.dispose()
    if not report.ok:
        raise fail(report.summary())
    console.print(report.summary(), highlight=False)


@app.command("archive")
def archive(
    older_than_days: int | None = typer.Option(
        None,
        "--older-than-days",
        min=0,
        help="archive records older than this (default: MARKETINTEL_AUDIT_HOT_DAYS)",
    ),
) -> None:
    """Move audit records older than the hot window to the object store, one segment per batch."""
    from marketintel.audit import service as audit
    from marketintel.audit.models import AuditChainBroken
    from marketintel.metadata import service as metadata
    from marketintel.metadata.models import utcnow
    from marketintel.objects.service import ObjectStore

    config = settings()
    days = config.audit_hot_days if older_than_days is None else older_than_days
    cutoff = utcnow() - dt.timedelta(days=days)
    metadata.upgrade(config.metadata_url)
    objects = ObjectStore(config.objects_url)
    engine = metadata.engine_for(config.metadata_url)
    moved = segments = 0
    try:
        while (segment := audit.archive(metadata.session_factory(engine), objects, cutoff)) is not None:
            console.print(
                f"records {segment.first_id}-{segment.last_id} → {segment.object_path}", highlight=False
            )
            moved, segments = moved + segment.records, segments + 1
    except AuditChainBroken as exc:
        raise fail(f"nothing more archived: {exc}") from None
    finally:
        engine.dispose()
    console.print(
        f"{moved:,} record(s) before {cutoff:%Y-%m-%dT%H:%M}Z archived in {segments} segment(s)",
        highlight=False,
    )


@app.command("tail")
def tail(n: int = typer.Option(20, "-n", "--lines", min=1, help="how many of the newest records")) -> None:
    """Show the newest audit records."""
    from sqlalchemy.exc import DBAPIError

    from marketintel.audit import service as audit
    from marketintel.metadata import service as metadata

    config = settings()
    engine = metadata.engine_for(config.metadata_url)
    try:
        with metadata.session_factory(engine)() as session:
            records = audit.newest(session, n)
    except DBAPIError as exc:
        raise _unreadable(exc) from None
    finally:
        engine.dispose()
    table = Table(
        "id", "occurred at (UTC)", "actor", "tenant", "channel", "action", "request", "status", "ms", "params"
    )
    for record in records:
        cells = (
            str(record.id),
            f"{record.occurred_at:%Y-%m-%d %H:%M:%S.%f}",
            record.actor,
            record.tenant or "",
            record.channel or "",
            record.action,
            f"{record.method or ''} {record.route}".strip(),
            str(record.status),
            "" if record.latency_ms is None else f"{record.latency_ms:.1f}",
            "" if record.params is None else json.dumps(record.params, sort_keys=True),
        )
        table.add_row(*(Text(cell) for cell in cells))  # Text: a route or param like [x] is not markup
    console.print(table)
    console.print(f"{len(records)} record(s)")
