"""`marketintel serve`: the HTTP server."""

# heavy modules are imported inside the commands, so `marketintel --help` and every other command start fast
from __future__ import annotations

import typer

from marketintel.cli.context import settings


def serve(
    host: str = typer.Option("127.0.0.1", help="interface to bind"),
    port: int = typer.Option(8000, help="TCP port"),
) -> None:
    """Serve the platform's HTTP API (health at /healthz, OpenAPI docs at /docs)."""
    run_server(host, port)


def run_server(host: str, port: int) -> None:
    import uvicorn

    from marketintel.api.app import create_app
    from marketintel.logs import configure_json_logging

    config = settings()
    configure_json_logging(config.log_level)
    # no per-message deflate: compressing each stream message once per client costs the server far more
    # CPU than it saves on the wire (a proxy in front can compress for remote clients)
    uvicorn.run(
        create_app(config),
        host=host,
        port=port,
        log_config=None,
        access_log=False,  # every call is already in the audit log and the request metrics
        ws_per_message_deflate=False,
    )
