"""`marketintel db upgrade`: bring the metadata database to the newest schema."""

# heavy modules are imported inside the commands, so `marketintel --help` and every other command start fast
from __future__ import annotations

import typer

from marketintel.cli.context import console, settings
from marketintel.config import mask

app = typer.Typer(help="Metadata database.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(revision: str = typer.Argument("head", help="Alembic revision to upgrade to")) -> None:
    """Apply metadata migrations (idempotent)."""
    from marketintel.metadata import service as metadata

    url = settings().metadata_url
    reached = metadata.upgrade(url, revision)
    console.print(f"metadata at {mask(url)} is at revision [bold]{reached}[/bold]")
