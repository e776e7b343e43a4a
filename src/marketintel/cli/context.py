"""What every command needs: the settings (or a clean exit naming the bad variable) and a console."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from typer.core import TyperCommand

from marketintel.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from typer._click import HelpFormatter

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


def instant(option: str, text: str) -> dt.datetime:
    """An ISO-8601 date or time from the command line; UTC unless it carries an offset."""
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise fail(f"{option}: {text!r} is not an ISO-8601 date or time", 2) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def help_filled_in(shown: Callable[[], dict[str, dict[str, object]]]) -> type[TyperCommand]:
    """A command class that sets some of its parameters' attributes ({parameter: {"help": …}}) only when its
    --help is shown: for text naming constants that live in modules too heavy to import at start."""

    class Command(TyperCommand):
        def format_help(self, ctx: typer.Context, formatter: HelpFormatter) -> None:
            attributes = shown()
            for param in self.params:
                for name, value in attributes.get(param.name or "", {}).items():
                    setattr(param, name, value)
            super().format_help(ctx, formatter)

    return Command
