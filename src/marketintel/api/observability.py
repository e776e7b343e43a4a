"""Liveness, readiness, Prometheus metrics, and the middleware that measures and audits every call.

The middleware is plain ASGI (no per-request task or body buffering): it notes the status and latency of
each HTTP request under its route template, and hands an audit event to the non-blocking audit writer for
every call under /api/v1 — refused ones included, with who made them and through which channel.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import text
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from marketintel import __version__
from marketintel.api.responses import FastJSON
from marketintel.audit.models import AuditEvent
from marketintel.auth.models import Principal

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])
AUDITED_PREFIX = "/api/v1/"

REQUESTS = Histogram(
    "marketintel_http_request_duration_seconds",
    "HTTP request latency by route template, method and status",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
)
STREAM_CLIENTS = Gauge("marketintel_stream_connections", "WebSocket stream connections open")
STREAM_DROPPED = Counter("marketintel_stream_dropped_total", "WebSocket clients dropped for being too slow")
AUDIT_QUEUE = Gauge("marketintel_audit_queue_depth", "audit events accepted but not yet written")


def _action(path: str) -> str:
    if path.startswith("/api/v1/downloads"):
        return "export"
    if path.startswith("/api/v1/admin"):
        return "admin"
    if path.startswith("/api/v1/auth"):
        return "auth"
    return "api"


def _params(query: bytes) -> dict[str, Any] | None:
    """The query string as a dict (repeated keys as lists); secrets passed in it are masked."""
    if not query:
        return None
    params: dict[str, Any] = {}
    for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if key in ("access_token", "api_key", "password"):
            value = "***"
        if key in params:
            held = params[key]
            params[key] = [*held, value] if isinstance(held, list) else [held, value]
        else:
            params[key] = value
    return params


def route_template(scope: Scope) -> str:
    """The matched route's path template with its router's prefix ('/api/v1/instruments/{instrument}'),
    so metrics have one series per route, not per URL."""
    context = (scope.get("fastapi") or {}).get("effective_route_context")
    path = getattr(context, "path", None) or getattr(scope.get("route"), "path", None)
    return path or "unmatched"


class GatewayMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500 if scope["type"] == "http" else 101

        async def noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "websocket.close":
                status = 403 if message.get("code") == 4401 else status
            await send(message)

        try:
            await self.app(scope, receive, noting_status)
        finally:
            elapsed = time.perf_counter() - started
            template = route_template(scope)
            if scope["type"] == "http":
                REQUESTS.labels(scope["method"], template, str(status)).observe(elapsed)
            path: str = scope["path"]
            audit = getattr(scope["app"].state, "audit", None)
            if audit is not None and path.startswith(AUDITED_PREFIX):
                try:
                    state = scope.get("state") or {}
                    principal: Principal | None = state.get("principal")
                    audit.record(
                        AuditEvent(
                            actor=principal.subject if principal else "anonymous",
                            tenant=principal.tenant if principal else None,
                            channel=state.get("channel") or (principal.channel if principal else None),
                            action=_action(path),
                            method=scope.get("method", "WS"),
                            route=path,
                            params=_params(scope.get("query_string", b"")),
                            status=status,
                            latency_ms=round(elapsed * 1000, 3),
                        )
                    )
                except (ValueError, TypeError, RuntimeError):  # never fail a served request over its audit
                    log.exception("audit record of %s %s could not be queued", scope.get("method"), path)


@router.get("/healthz", response_class=FastJSON)
def healthz() -> Any:
    """Liveness: the process answers."""
    return FastJSON({"status": "ok", "version": __version__})


def _check(name: str, probe: Callable[[], object]) -> tuple[str, dict[str, str]]:
    try:
        probe()
    except Exception as exc:  # any failure makes the dependency not ready; say which and why
        return name, {"status": "down", "error": f"{type(exc).__name__}: {exc}"[:300]}
    return name, {"status": "ok"}


@router.get(
    "/readyz",
    response_class=FastJSON,
    responses={503: {"description": "Not ready: `checks` names the dependency that is down"}},
)
def readyz(request: Request) -> Any:
    """Readiness: the store, the metadata store and the bus subscription all answer."""
    state = request.app.state

    def metadata() -> None:
        with state.sessions() as session:
            session.execute(text("SELECT 1"))

    def bus() -> None:
        if not state.fanout.running:
            raise RuntimeError("the stream's bus subscription is not running")

    checks = dict(
        [
            _check("store", lambda: state.store.query("SELECT 1 AS ok")),
            _check("metadata", metadata),
            _check("bus", bus),
        ]
    )
    ready = all(c["status"] == "ok" for c in checks.values())
    return FastJSON(
        {"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503
    )


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus exposition: request latencies, stream, audit queue, data quality gauges."""
    state = request.app.state
    STREAM_CLIENTS.set(len(state.fanout.connections))
    AUDIT_QUEUE.set(state.audit.queue_depth)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
