"""`marketintel quality report`: the recorded data-quality checks, and each source's freshness now."""

# heavy modules are imported inside the commands, so `marketintel --help` and every other command start fast
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from marketintel.cli.context import console, errors, fail, instant, settings

if TYPE_CHECKING:
    from marketintel.config import Settings
    from marketintel.quality.models import CheckResult, Gates
    from marketintel.quality.service import RecordedCheck

app = typer.Typer(help="Data quality: recorded checks, gates and freshness.", no_args_is_help=True)


@app.callback()
def quality() -> None:
    """Data quality: recorded checks, gates and freshness."""
    # a callback keeps `report` a sub-command even while it is the only one


# where each check keeps its offending rows in `details`; the helpers below import the check names
# themselves: quality.models is light, but importing it runs the heavy quality/__init__.py
EXAMPLES = {"gaps": "missing", "duplicates": "keys", "out_of_range": "rows", "spikes": "spikes"}


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "no data"
    sign, rest = ("-" if seconds < 0 else ""), int(abs(seconds))
    days, rest = divmod(rest, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d"] * bool(days) + [f"{hours}h"] * bool(hours) + [f"{minutes}m"] * bool(minutes)
    return sign + (" ".join(parts[:2]) if parts else f"{secs}s")


def _value(check: str, value: float | None) -> str:
    from marketintel.quality.models import COMPLETENESS, FRESHNESS, STALE

    if value is None:
        return "-"
    if check == COMPLETENESS:
        return f"{value:.3%}"
    if check in (FRESHNESS, STALE):
        return _duration(value)
    return f"{value:,.0f}"


def _threshold(check: str, threshold: float | None) -> str:
    from marketintel.quality.models import COMPLETENESS

    if threshold is None:
        return "none"
    return ("≥ " if check == COMPLETENESS else "≤ ") + _value(check, threshold)


def _status(check: str, passed: bool, gates: Gates) -> str:
    if passed:
        return "[green]ok[/green]"
    return "[red]FAILED[/red]" if gates.is_gate(check) else "[yellow]flagged[/yellow]"


def _summary(check: str, details: dict[str, Any] | None) -> str:
    """The first offending rows, or the moment a freshness measure refers to."""
    from marketintel.quality.models import COMPLETENESS, FRESHNESS, STALE

    details = details or {}
    if check == FRESHNESS:
        return f"newest interval ends {details.get('newest_end')}"
    if check == STALE:
        return f"last new interval learned {details.get('last_new_interval_at')}"
    if check == COMPLETENESS:
        return f"{details.get('present', 0):,} of {details.get('expected', 0):,} intervals"
    rows = details.get(EXAMPLES.get(check, ""), [])
    shown = "; ".join(" ".join(str(v) for v in row.values()) for row in rows[:2])
    return shown + (" …" if len(rows) > 2 else "")


def _checks_table(rows: list[RecordedCheck], gates: Gates) -> Table:
    table = Table(
        "checked at (UTC)", "source", "run", "check", "scope", "value", "limit", "status", "details"
    )
    for r in rows:
        table.add_row(
            f"{r.checked_at:%Y-%m-%d %H:%M:%S}",
            r.source,
            r.run or "",
            r.check,
            r.scope,
            _value(r.check, r.value),
            _threshold(r.check, r.threshold),
            _status(r.check, r.passed, gates),
            _summary(r.check, r.details),
        )
    return table


def _sources_table(found: list[tuple[str, str, list[CheckResult]]], gates: Gates) -> Table:
    table = Table(
        "source", "market", "run", "check", "value", "gate", "status", "details", title="sources now"
    )
    for source, market, results in found:
        for r in results:
            table.add_row(
                source,
                market,
                r.run or "",
                r.check,
                _value(r.check, r.value),
                _threshold(r.check, r.threshold),
                _status(r.check, r.passed, gates),
                _summary(r.check, r.details),
            )
    return table


def _sources_now(
    config: Settings, source: str | None, failed_only: bool, gates: Gates
) -> list[tuple[str, str, list[CheckResult]]]:
    """Freshness and staleness of every source in the store, measured now (not recorded)."""
    from marketintel.quality.service import QualityMonitor, price_sources
    from marketintel.store.service import open_timeseries

    store = open_timeseries(config.timeseries_url, create=False)
    try:
        monitor = QualityMonitor(store, config.metadata_url, gates)
        found = []
        for name, market, run in price_sources(store, source):
            results = monitor.source_report(name, market, run)
            if not failed_only or not all(r.passed for r in results):
                found.append((name, market, results))
        return found
    finally:
        store.close()


@app.command("report")
def report(
    source: str = typer.Option("", help="only this source, e.g. miso-da"),
    since: str = typer.Option("", help="checks recorded at or after this moment, ISO-8601 (UTC by default)"),
    failed_only: bool = typer.Option(False, "--failed-only", help="only failed checks and failing sources"),
    limit: int = typer.Option(200, help="at most this many recorded checks, newest first"),
) -> None:
    """Print recorded quality checks and every source's freshness and staleness now."""
    from sqlalchemy.exc import DBAPIError

    from marketintel.metadata import service as metadata
    from marketintel.quality.models import Gates
    from marketintel.quality.service import report as recorded_checks

    config = settings()
    since_at = instant("--since", since) if since else None
    gates = Gates()
    sessions = metadata.session_factory(metadata.engine_for(config.metadata_url))
    try:
        rows = recorded_checks(
            sessions, since_at, source=source or None, failed_only=failed_only, limit=limit
        )
    except DBAPIError as exc:
        raise fail(f"cannot read quality checks ({exc.orig}); run `marketintel db upgrade` first") from None
    console.print(_checks_table(rows, gates))
    console.print(f"{len(rows)} recorded check(s)" + (f" (the newest {limit})" if len(rows) == limit else ""))
    try:
        found = _sources_now(config, source or None, failed_only, gates)
    except Exception as exc:  # the store may be locked by a running ingest: the records still stand
        errors.print(f"[yellow]sources' freshness unavailable:[/yellow] {exc}")
        return
    console.print(_sources_table(found, gates))
