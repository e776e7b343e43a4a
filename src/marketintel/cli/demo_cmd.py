"""`marketintel demo`: everything a first look needs — migrate, simulate once, summarise, serve."""

# heavy modules are imported inside the commands, so `marketintel --help` and every other command start fast
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import typer
from rich.table import Table

from marketintel.cli.context import console, settings
from marketintel.cli.curves_cmd import build_demo
from marketintel.cli.serve_cmd import run_server
from marketintel.cli.simulate_cmd import DEFAULT_MARKETS, parse_markets, print_summary, run_simulation


def demo(
    days: int = typer.Option(30, min=1, help="days of simulated history on first start"),
    seed: int = typer.Option(7, help="simulation seed"),
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8000),
    serve: bool = typer.Option(True, help="serve after loading (--no-serve to load and exit)"),
    live: bool = typer.Option(
        True, "--live/--no-live", help="while serving, the simulated markets advance in real time"
    ),
) -> None:
    """Load simulated markets on first start (reused afterwards) and serve the platform."""
    from marketintel.metadata import service as metadata
    from marketintel.simulate.models import SimulationSpec
    from marketintel.store.models import PRICES
    from marketintel.store.service import open_timeseries

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
        summary = store.summary()
        print_summary(summary)
    finally:
        store.close()
    show_accounts(config.data_dir, config.metadata_url, sorted(summary.markets), host, port)
    console.print("forward curves of the demo hubs (runs with the same inputs are recognised and skipped):")
    build_demo()
    if serve:
        console.print(f"serving on http://{host}:{port} (health: /healthz, docs: /docs)")
        if live:
            console.print(
                "live: new real-time intervals every 5 minutes, tomorrow's day-ahead after 13:30 market time"
            )
        os.environ["MARKETINTEL_DEMO_LIVE"] = "true" if live else "false"  # read by the served app's settings
        run_server(host, port)


def show_accounts(data_dir: Path, metadata_url: str, markets: list[str], host: str, port: int) -> None:
    """Seed the pilots and the admin on first start, and print how to sign in and call the API."""
    from marketintel.entitlements.demo import load_credentials, save_credentials, seed_demo_accounts
    from marketintel.metadata import service as metadata

    engine = metadata.engine_for(metadata_url)
    try:
        with metadata.session_factory(engine)() as session:
            created = seed_demo_accounts(session, markets)
            session.commit()
    finally:
        engine.dispose()
    path = save_credentials(data_dir, created)
    accounts = load_credentials(data_dir)
    if not accounts:
        console.print(f"[yellow]no demo credentials file at {path}[/yellow]")
        return
    table = Table("tenant", "sign in (hub)", "password", "API key", title=f"demo accounts (also in {path})")
    for account in accounts:
        table.add_row(account.tenant, account.email, account.password, account.api_key or "")
    console.print(table)
    base = f"http://{host}:{port}/api/v1"
    for account in accounts:
        if account.tenant in ("pilot_miso", "pilot_caiso") and account.api_key:
            market = account.tenant.removeprefix("pilot_").upper()
            console.print(
                f"curl -H 'X-API-Key: {account.api_key}' '{base}/prices/latest?market={market}&run=RT5'"
            )
