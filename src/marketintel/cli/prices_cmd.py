"""`marketintel prices`: read prices as known now or as of any past moment."""

# heavy modules are imported inside the commands, so `marketintel --help` and every other command start fast
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from marketintel.cli.context import console, fail, instant, settings

if TYPE_CHECKING:
    import pyarrow as pa


def prices(
    market: str = typer.Option(..., help="market code, e.g. MISO"),
    location: list[str] = typer.Option([], help="location id(s); repeat for several (default: all)"),
    run: str = typer.Option("DA", help="run: DA, RT, RT5, RT15, ID"),
    start: str = typer.Option(..., help="first interval start, ISO-8601 (UTC unless an offset is given)"),
    end: str = typer.Option(..., help="end of the range (exclusive)"),
    as_of: str = typer.Option("", "--as-of", help="return what was known at this moment"),
    resample: str = typer.Option("", help="hour or day (market-local days): avg/min/max of lmp"),
    csv: bool = typer.Option(False, "--csv", help="write CSV to stdout instead of a table"),
) -> None:
    """Print prices for a market and run, optionally as of a past moment or resampled."""
    from marketintel.store.service import open_timeseries

    store = open_timeseries(settings().timeseries_url, create=False)
    try:
        args = {
            "market": market,
            "run": run,
            "locations": location or None,
            "start": instant("--start", start),
            "end": instant("--end", end),
            "as_of": instant("--as-of", as_of) if as_of else None,
        }
        if resample:
            if resample not in ("hour", "day"):
                raise fail(f"--resample: {resample!r} must be 'hour' or 'day'", 2)
            table = store.resample_prices(freq=resample, **args)  # type: ignore[arg-type]
        else:
            table = store.prices(**args)  # type: ignore[arg-type]
    finally:
        store.close()
    _print(table, csv)


def _print(table: pa.Table, csv: bool) -> None:
    from marketintel.csvout import table_csv

    if csv:
        sys.stdout.buffer.write(table_csv(table))
        return
    view = Table(*table.column_names)
    for row in table.to_pylist():
        view.add_row(*("" if v is None else str(v) for v in row.values()))
    console.print(view)
    console.print(f"{table.num_rows} row(s)")
