"""What every command needs: the settings (or a clean exit naming the bad variable) and a console."""

from __future__ import annotations

import typer
from rich.console import Console

from marketintel.config import ConfigError, Settings, load_settings

console = Console()
errors = Console(stderr=True)


def settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        errors.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None


def fail(message: str, code: int = 1) -> typer.Exit:
    errors.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)
