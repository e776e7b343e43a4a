"""`marketintel scheduler`: the embedded scheduler running the seed schedule (or `--once`: every job, now).

`--sources-root DIR` serves the connectors from DIR/<family>/ on 127.0.0.1 instead of the live sources,
and `--day` pins every ingest window to one market day, so
`marketintel scheduler --once --sources-root tests/connectors/fixtures --day 2024-11-03` runs every job
against the fixtures, offline.
"""

# heavy modules are imported inside the commands, so `marketintel --help` and every other command start fast
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from marketintel.cli.context import console, fail, settings

if TYPE_CHECKING:
    from marketintel.scheduling.models import Job
    from marketintel.scheduling.offline import OfflineSources
    from marketintel.scheduling.service import JobResult

log = logging.getLogger("marketintel.scheduler")


def _configure(job: Job, day: str | None, offline: OfflineSources | None) -> Job:
    """The job with the command line's overrides in its arguments."""
    kwargs = dict(job.kwargs)
    if day:
        kwargs["day"] = day
    if offline is not None and job.source:
        kwargs["base_url"] = offline.base_url(job.source)
        kwargs["requests_per_second"] = 0.0  # our own server on loopback: no need to be polite
    return dataclasses.replace(job, kwargs=kwargs)


def scheduler(
    once: bool = typer.Option(False, "--once", help="run every job once, now, and exit (1 if any failed)"),
    sources_root: Path | None = typer.Option(
        None,
        "--sources-root",
        exists=True,
        file_okay=False,
        help="serve the connectors from DIR/<family>/ on 127.0.0.1 instead of the live sources",
    ),
    day: str = typer.Option(
        "", "--day", help="ingest this market day (YYYY-MM-DD) instead of the live window"
    ),
    jobs: str = typer.Option("", "--jobs", help="comma-separated job names (default: every seed job)"),
    grace: float = typer.Option(300.0, help="seconds running jobs get to finish after SIGINT/SIGTERM"),
) -> None:
    """Run the seed schedule: MISO RT every 5 min, MISO DA and CAISO hourly, the curve build daily."""
    from marketintel.logs import configure_json_logging
    from marketintel.scheduling import jobs as job_functions
    from marketintel.scheduling.offline import serve_sources
    from marketintel.scheduling.schedule import seed_jobs
    from marketintel.scheduling.service import Scheduler

    try:
        selected = seed_jobs([n.strip() for n in jobs.split(",") if n.strip()] if jobs else None)
    except KeyError as exc:
        raise fail(str(exc.args[0]), 2) from None
    if day:
        try:
            dt.date.fromisoformat(day)
        except ValueError:
            raise fail(f"--day: {day!r} is not a date (YYYY-MM-DD)", 2) from None
    config = settings()
    configure_json_logging(config.log_level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request, every 5 minutes: too much
    job_functions.prepare_metadata(config.metadata_url)
    with ExitStack() as stack:
        offline = stack.enter_context(serve_sources(sources_root)) if sources_root else None
        configured = [_configure(job, day or None, offline) for job in selected]
        runner = Scheduler(configured, config.metadata_url)
        stack.callback(runner.close, grace)
        if once:
            results = runner.run_once()
            _print(results)
            if not all(r.ok for r in results):
                raise typer.Exit(1)
            return
        log.info("scheduler started", extra={"owner": runner.owner, "jobs": runner.status()})

        def finished(result: JobResult) -> None:
            log.info("schedule", extra={"jobs": runner.status()})

        with runner.stopping_on_signals():
            runner.run_forever(grace=grace, on_finish=finished)
        log.info("scheduler stopped", extra={"owner": runner.owner})


def _detail(result: JobResult) -> str:
    summary = result.result or {}
    if result.message or "files" not in summary:
        return result.message or str(summary.get("message") or "")
    return (
        f"{summary['start']}…{summary['end']}: {summary['files']} file(s), {summary['written']} written, "
        f"{summary['unchanged']} unchanged; checkpoint {summary['checkpoint'] or 'unmoved'}"
    )


def _print(results: list[JobResult]) -> None:
    table = Table("job", "status", "attempts", "rows written", "detail", title="scheduler --once")
    for r in results:
        table.add_row(r.job, r.status, str(r.attempts), f"{r.rows_written:,}", _detail(r))
    console.print(table)


app = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)
app.command()(scheduler)

if __name__ == "__main__":
    app()
