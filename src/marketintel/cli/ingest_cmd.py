"""`marketintel ingest`: files or a window of market days into the store, through the SDK pipeline."""

# heavy modules are imported inside the commands, so `marketintel --help` and every other command start fast
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from marketintel.cli.context import console, fail, settings

if TYPE_CHECKING:
    from marketintel.ingest.models import IngestReport


def _day(option: str, text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise fail(f"{option}: {text!r} is not a date (YYYY-MM-DD)", 2) from None


def ingest(
    name: str = typer.Argument(..., help="connector name (see `marketintel parse --list`)"),
    file: list[Path] = typer.Option([], "--file", help="a published file; repeat for several"),
    start: str = typer.Option("", help="first market day of a live window, YYYY-MM-DD"),
    end: str = typer.Option("", help="end of the window (exclusive), YYYY-MM-DD"),
    base_url: str = typer.Option("", help="fetch from this root instead of the source's live endpoint"),
    requests_per_second: float = typer.Option(0.0, help="request rate limit (default: the source's own)"),
) -> None:
    """Ingest files (--file) or market days [--start, --end) into the store; exits 1 if any file failed."""
    from marketintel.bus.service import BusPublisher, open_bus
    from marketintel.connectors.fetch import Fetcher
    from marketintel.connectors.registry import connector
    from marketintel.ingest.service import Ingestor
    from marketintel.metadata import service as metadata
    from marketintel.objects.service import ObjectStore
    from marketintel.quality.service import QualityMonitor
    from marketintel.store.service import open_timeseries

    if bool(file) == bool(start or end):
        raise fail("give either --file (one or more) or --start and --end", 2)
    try:
        source = connector(name, base_url or None)
    except KeyError as exc:
        raise fail(str(exc.args[0]), 2) from None
    config = settings()
    metadata.upgrade(config.metadata_url)
    store = open_timeseries(config.timeseries_url)
    bus = open_bus(config.bus_url)
    try:
        # batch checks only: a backfill of old files must not raise "not fresh" alerts (the scheduler
        # runs the per-source freshness checks for live feeds)
        monitor = QualityMonitor(store, config.metadata_url, source_checks=False)
        # an in-process bus in a one-shot command has no subscribers: publishing would only fill the outbox
        publishers = [] if config.bus_url.startswith("memory:") else [BusPublisher(bus, config.metadata_url)]
        ingestor = Ingestor(
            source,
            store,
            ObjectStore(config.objects_url),
            config.metadata_url,
            listeners=[*publishers, monitor],
        )
        if file:
            report = ingestor.ingest_files(file)
        else:
            first, last = _day("--start", start), _day("--end", end)
            fetcher = Fetcher(requests_per_second=requests_per_second or source.requests_per_second)
            try:
                report = ingestor.ingest_window(first, last, fetcher)
            finally:
                fetcher.close()
    finally:
        bus.close()
        store.close()
    _print(report)
    if not report.ok:
        raise typer.Exit(1)


def _print(report: IngestReport) -> None:
    table = Table("file", "status", "rows", "written", "detail", title=f"ingest {report.source}")
    for outcome in report.files:
        detail = outcome.error or outcome.archived_as or ""
        table.add_row(outcome.name, outcome.status, f"{outcome.rows:,}", f"{outcome.written:,}", detail)
    console.print(table)
    summary = ", ".join(
        f"{report.count(s)} {s}" for s in ("written", "unchanged", "quarantined", "failed") if report.count(s)
    )
    console.print(
        f"{len(report.files)} file(s): {summary or 'nothing to do'}; {report.rows_written:,} rows written"
        + (f"; checkpoint {report.checkpoint}" if report.checkpoint else ""),
        highlight=False,
    )
