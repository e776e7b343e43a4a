"""The `marketintel` command: one entry point, a sub-command per job."""

# every command module imports its heavy dependencies inside its commands, so importing them all here stays fast
from __future__ import annotations

import typer

from marketintel.cli import (
    audit_cmd,
    auth_cmd,
    bus_cmd,
    config_cmd,
    curves_cmd,
    db_cmd,
    demo_cmd,
    entitlements_cmd,
    ingest_cmd,
    parse_cmd,
    prices_cmd,
    quality_cmd,
    scheduler_cmd,
    serve_cmd,
    simulate_cmd,
)

app = typer.Typer(
    name="marketintel",
    help="254Carbon Market Intelligence Platform. Honours MARKETINTEL_* variables (see `marketintel config show`).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(config_cmd.app, name="config")
app.add_typer(db_cmd.app, name="db")
app.add_typer(quality_cmd.app, name="quality")
app.add_typer(bus_cmd.app, name="bus")
app.add_typer(audit_cmd.app, name="audit")
app.add_typer(entitlements_cmd.app, name="entitlements")
app.add_typer(curves_cmd.app, name="curves")
app.add_typer(auth_cmd.tenants, name="tenants")
app.add_typer(auth_cmd.users, name="users")
app.add_typer(auth_cmd.keys, name="keys")
app.add_typer(auth_cmd.apikeys, name="apikeys")
app.command("simulate")(simulate_cmd.simulate)
app.command("summary")(simulate_cmd.summary)
app.command("prices")(prices_cmd.prices)
app.command("parse")(parse_cmd.parse)
app.command("ingest")(ingest_cmd.ingest)
app.command("scheduler")(scheduler_cmd.scheduler)
app.command("serve")(serve_cmd.serve)
app.command("demo")(demo_cmd.demo)
app.command("token")(auth_cmd.token)

if __name__ == "__main__":
    app()
