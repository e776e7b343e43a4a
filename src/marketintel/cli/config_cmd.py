"""`marketintel config show`: the effective configuration, secrets masked."""

from __future__ import annotations

import typer
from rich.table import Table

from marketintel.cli.context import console, settings

app = typer.Typer(help="Configuration.", no_args_is_help=True)


@app.command("show")
def show() -> None:
    """Print the effective configuration (env MARKETINTEL_*, then MARKETINTEL_CONFIG TOML, then defaults)."""
    table = Table("setting", "value", title="effective configuration")
    for key, value in settings().masked().items():
        table.add_row(f"MARKETINTEL_{key.upper()}", value)
    console.print(table)
