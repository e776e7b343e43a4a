"""`marketintel parse`: a source file in, canonical rows out (CSV), offline — no store needed."""

# heavy modules are imported inside the commands, so `marketintel --help` and every other command start fast
from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.table import Table

from marketintel.cli.context import console, fail


def parse(
    name: str = typer.Argument("", help="connector name (see --list)"),
    file: Path | None = typer.Argument(None, help="a file as the source publishes it"),
    out: Path | None = typer.Option(None, "--out", help="write the CSV here instead of stdout"),
    list_: bool = typer.Option(False, "--list", help="list the connectors and exit"),
) -> None:
    """Parse a source file into canonical rows, sorted by location, run, interval_start (UTC)."""
    from marketintel.connectors.models import ParseError
    from marketintel.connectors.parse import canonical_csv, parse_payload, payload_from_file
    from marketintel.connectors.registry import connector, connectors

    if list_:
        table = Table("name", "market", "runs", "description")
        for cls in connectors().values():
            table.add_row(cls.name, cls.market, ",".join(cls.runs), cls.description)
        console.print(table)
        return
    if not name or file is None:
        raise fail("give a connector name and a file (or --list)", 2)
    try:
        source = connector(name)
    except KeyError as exc:
        raise fail(str(exc.args[0]), 2) from None
    if not file.is_file():
        raise fail(f"{file}: no such file", 2)
    try:
        rows = parse_payload(source, payload_from_file(file))
    except ParseError as exc:
        raise fail(str(exc), 1) from None
    data = canonical_csv(rows)
    if out is None:
        sys.stdout.buffer.write(data)
    else:
        out.write_bytes(data)
        console.print(f"{rows.num_rows:,} rows → {out}", highlight=False)
