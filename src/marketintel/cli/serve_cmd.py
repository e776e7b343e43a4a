"""`marketintel serve`: the HTTP server."""

# heavy modules are imported inside the commands, so `marketintel --help` and every other command start fast
from __future__ import annotations

import gc

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
    app = create_app(config)
    # Everything imported so far lives as long as the process: out of the collector's sight, a full
    # collection scans only what requests create (hundreds of thousands of module objects otherwise, a
    # pause of tens of milliseconds for every request in flight)
    gc.collect()
    gc.freeze()
    # no per-message deflate: compressing each stream message once per client costs the server far more
    # CPU than it saves on the wire (a proxy in front can compress for remote clients)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        # uvloop and httptools (C) instead of asyncio's loop and h11 (pure Python): a cached reply's
        # per-request CPU is mostly the server's own overhead, and these roughly halve it
        loop="uvloop",
        http="httptools",
        access_log=False,  # every call is already in the audit log and the request metrics
        ws_per_message_deflate=False,
    )
