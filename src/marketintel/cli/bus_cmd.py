"""`marketintel bus drain | tail`: re-publish what the outbox holds; watch events as they arrive."""

# heavy modules are imported inside the commands, so `marketintel --help` and every other command start fast
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import typer

from marketintel.cli.context import console, errors, fail, help_filled_in, settings
from marketintel.config import ConfigError, mask

if TYPE_CHECKING:
    from marketintel.bus.models import Received
    from marketintel.bus.nats import NatsBus

app = typer.Typer(help="The streaming bus (MARKETINTEL_BUS_URL).", no_args_is_help=True)


def _shared_bus(url: str) -> NatsBus:
    """The configured bus, which must be one other processes share: memory:// lives and dies with us."""
    from marketintel.bus.nats import NatsBus
    from marketintel.bus.service import open_bus

    try:
        bus = open_bus(url)
    except ConfigError as exc:
        raise fail(str(exc), 2) from None
    if not isinstance(bus, NatsBus):
        raise fail(
            f"MARKETINTEL_BUS_URL={mask(url)!r} is in-process: nothing reaches it from other processes; "
            "set a nats:// URL",
            2,
        )
    return bus


@app.command("drain")
def drain(
    prune_hours: float = typer.Option(
        0.0, "--prune-hours", help="then delete events published more than this many hours ago (0: keep all)"
    ),
) -> None:
    """Publish the events still pending in the outbox (after the bus was down); exits 1 if some remain."""
    from marketintel.bus.service import drain_outbox, prune_outbox
    from marketintel.metadata import service as metadata

    config = settings()
    bus = _shared_bus(config.bus_url)
    try:
        metadata.upgrade(config.metadata_url)
        report = drain_outbox(bus, config.metadata_url)
    finally:
        bus.close()
    pruned = prune_outbox(config.metadata_url, dt.timedelta(hours=prune_hours)) if prune_hours > 0 else 0
    console.print(
        f"{report.published} published ({report.duplicates} already on the bus), "
        f"{report.rejected} rejected, {report.pending} pending"
        + (f"; {pruned} published event(s) pruned" if prune_hours > 0 else ""),
        highlight=False,
        soft_wrap=True,
    )
    if report.error:
        errors.print(f"[red]bus unavailable:[/red] {report.error}", highlight=False)
    if report.pending:
        raise typer.Exit(1)


def _line(received: Received) -> str:
    from marketintel.bus.models import ARROW, decode_prices

    event = received.event
    kind = "arrow" if event.content_type == ARROW else event.content_type
    head = f"{event.subject}  {kind} v{event.schema_version}  id {(event.message_id or '-')[:12]}"
    if received.delivered > 1:
        head += f"  (delivery {received.delivered})"
    try:
        rows = decode_prices(event)
    except ValueError as exc:
        return f"{head}  undecodable: {exc}"
    if rows.num_rows == 0:
        return f"{head}  0 rows"
    starts = rows.column("interval_start")
    first, last = (v.as_py() for v in (starts[0], starts[-1]))
    span = f"{min(first, last):%Y-%m-%dT%H:%MZ} … {max(first, last):%Y-%m-%dT%H:%MZ}"
    locations = len(set(rows.column("location").to_pylist()))
    return f"{head}  {rows.num_rows:,} rows  {locations} location(s)  {span}"


def _every_price_subject() -> dict[str, dict[str, object]]:
    """--help shows the default subject, which lives in the bus models (they import pyarrow)."""
    from marketintel.bus.models import PRICES_SUBJECTS

    return {"subject": {"default": PRICES_SUBJECTS}}


@app.command("tail", cls=help_filled_in(_every_price_subject))
def tail(
    subject: str | None = typer.Argument(None, help="subject or pattern: prices.MISO.DA, prices.*.RT5"),
    count: int = typer.Option(0, "--count", help="stop after this many events (0: never)"),
    from_start: bool = typer.Option(False, "--all", help="start from the oldest event the stream holds"),
    idle: float = typer.Option(0.0, "--timeout", help="stop after this many seconds without an event"),
) -> None:
    """Print events as they arrive on the bus (new ones only, unless --all)."""
    from marketintel.bus.models import PRICES_SUBJECTS, BusError

    bus = _shared_bus(settings().bus_url)
    try:
        try:
            subscription = bus.subscribe(
                PRICES_SUBJECTS if subject is None else subject, deliver_new=not from_start
            )
        except (BusError, ValueError) as exc:
            raise fail(str(exc)) from None
        seen = 0
        with subscription:
            while not count or seen < count:
                received = subscription.get(idle or None)
                if received is None:  # --timeout passed without an event
                    break
                console.print(_line(received), highlight=False, soft_wrap=True)
                received.ack()
                seen += 1
    except KeyboardInterrupt:
        pass
    except BusError as exc:
        raise fail(str(exc)) from None
    finally:
        bus.close()
