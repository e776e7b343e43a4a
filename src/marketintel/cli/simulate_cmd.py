"""`marketintel simulate` and `marketintel summary`: make realistic markets, and see what the store holds."""

# heavy modules are imported inside the commands, so `marketintel --help` and every other command start fast
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from marketintel.cli.context import console, fail, settings

if TYPE_CHECKING:
    from marketintel.simulate.loader import LoadReport
    from marketintel.simulate.models import SimBatch, SimulationSpec
    from marketintel.store.service import StoreSummary, TimeSeriesStore

DEFAULT_MARKETS = "MISO,CAISO,PJM,ERCOT,NYISO,ISONE,SPP"


def parse_markets(text: str) -> tuple[str, ...]:
    from marketintel.catalog.markets import MARKETS

    codes = tuple(code.strip().upper() for code in text.split(",") if code.strip())
    unknown = [c for c in codes if c not in MARKETS]
    if unknown:
        raise fail(f"--markets: unknown market(s) {unknown}; known: {', '.join(sorted(MARKETS))}", 2)
    return codes


def simulate(
    days: int = typer.Option(30, min=1, max=3660, help="number of market days to simulate"),
    seed: int = typer.Option(1, help="random seed: the same seed and start give identical data"),
    start: str = typer.Option("", help="first market day, YYYY-MM-DD (default: DAYS days before today, UTC)"),
    markets: str = typer.Option(DEFAULT_MARKETS, help="comma-separated market codes"),
    nodes: int = typer.Option(200, min=20, help="locations per market (hubs, zones and nodes)"),
) -> None:
    """Simulate DA and RT prices, fundamentals and forward quotes, and load them into the store."""
    from marketintel.metadata import service as metadata
    from marketintel.simulate.models import SimulationSpec
    from marketintel.store.service import open_timeseries

    config = settings()
    first_day = _start_day(start, days)
    spec = SimulationSpec(
        start=first_day, days=days, seed=seed, markets=parse_markets(markets), nodes_per_market=nodes
    )
    metadata.upgrade(config.metadata_url)
    store = open_timeseries(config.timeseries_url)
    try:
        report = run_simulation(spec, store, config.metadata_url)
        print_load(report)
        print_summary(store.summary())
    finally:
        store.close()


def _start_day(text: str, days: int) -> dt.date:
    if not text:
        return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days)
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise fail(f"--start: {text!r} is not a date (YYYY-MM-DD)", 2) from None


def run_simulation(spec: SimulationSpec, store: TimeSeriesStore, metadata_url: str) -> LoadReport:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from marketintel.simulate.loader import load_simulation
    from marketintel.simulate.service import estimate_rows

    end = spec.start + dt.timedelta(days=spec.days)
    console.print(
        f"simulating {len(spec.markets)} markets × {spec.nodes_per_market} locations, "
        f"{spec.start} → {end} (seed {spec.seed})"
    )
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("rows", total=estimate_rows(spec))

        def advance(batch: SimBatch, rows: int) -> None:
            bar.update(task, advance=rows, description=f"rows ({batch.dataset})")

        report = load_simulation(spec, store, metadata_url, progress=advance)
        bar.update(task, total=bar.tasks[0].completed)
    return report


def print_load(report: LoadReport) -> None:
    table = Table("dataset", "rows received", "rows written", title="load")
    for dataset, received in report.received.items():
        table.add_row(dataset, f"{received:,}", f"{report.written[dataset]:,}")
    console.print(table)


def print_summary(summary: StoreSummary) -> None:
    markets = Table(
        "market",
        "instruments",
        "price rows",
        "first interval (UTC)",
        "last interval (UTC)",
        title=f"store summary ({summary.engine})",
    )
    for code, info in summary.markets.items():
        markets.add_row(
            code,
            f"{info.get('instruments', 0):,}",
            f"{info.get('rows', 0):,}",
            str(info.get("first", "")),
            str(info.get("last", "")),
        )
    console.print(markets)
    datasets = Table("dataset", "rows (all revisions)", "from", "to")
    for name, info in summary.datasets.items():
        datasets.add_row(name, f"{info.rows:,}", str(info.first or ""), str(info.last or ""))
    console.print(datasets)


def summary() -> None:
    """Print what the store holds: markets, instruments, rows and time span."""
    from marketintel.store.service import open_timeseries

    store = open_timeseries(settings().timeseries_url)
    try:
        print_summary(store.summary())
    finally:
        store.close()
