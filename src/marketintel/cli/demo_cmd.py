"""`marketintel demo`: everything a first look needs — migrate, simulate once, summarise, serve."""

from __future__ import annotations

import datetime as dt

import typer

from marketintel.cli.context import console, settings
from marketintel.cli.serve_cmd import run_server
from marketintel.cli.simulate_cmd import DEFAULT_MARKETS, parse_markets, print_summary, run_simulation
from marketintel.metadata import service as metadata
from marketintel.simulate.models import SimulationSpec
from marketintel.store.models import PRICES
from marketintel.store.service import open_timeseries


def demo(
    days: int = typer.Option(30, min=1, help="days of simulated history on first start"),
    seed: int = typer.Option(7, help="simulation seed"),
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8000),
    serve: bool = typer.Option(True, help="serve after loading (--no-serve to load and exit)"),
) -> None:
    """Load simulated markets on first start (reused afterwards) and serve the platform."""
    config = settings()
    console.print(f"data directory: {config.data_dir}")
    metadata.upgrade(config.metadata_url)
    store = open_timeseries(config.timeseries_url)
    try:
        if store.summary().datasets[PRICES.name].rows == 0:
            start = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days)
            spec = SimulationSpec(start=start, days=days, seed=seed, markets=parse_markets(DEFAULT_MARKETS))
            run_simulation(spec, store, config.metadata_url)
        else:
            console.print("reusing the simulated data already in the store")
        print_summary(store.summary())
    finally:
        store.close()
    if serve:
        console.print(f"serving on http://{host}:{port} (health: /healthz, docs: /docs)")
        run_server(host, port)
