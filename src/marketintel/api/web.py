"""The web hub's single-page app, served by the gateway at `/`.

`web/dist` (built by `make web`) holds index.html and content-hashed assets under assets/. Assets are
immutable, so browsers may keep them a year; index.html names the current ones, so it is never cached.
Any other path that is not the API's (/api/…, /docs, /healthz, …) is a client route and gets index.html,
so a reload of /explorer works. Without a build, `/` says how to make one instead of a bare 404.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.convertors import Convertor, register_url_convertor
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.staticfiles import StaticFiles

DIST_VARIABLE = "MARKETINTEL_WEB_DIST"
IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"
# paths the gateway itself answers; everything else may be a client route of the hub
SERVER_PATHS = ("api", "docs", "redoc", "openapi.json", "healthz", "readyz", "metrics", "assets")

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Web hub not built</title></head>
<body style="font-family: system-ui, sans-serif; background: #0f1419; color: #d8dee4; padding: 3rem">
<h1>The web hub is not built</h1>
<p>This gateway found no build of the hub at <code>{dist}</code>.</p>
<p>Run <code>make web</code> in the repository (or set <code>{variable}</code> to a built
<code>web/dist</code>), then reload. The API is up meanwhile: <a style="color:#7cc4ff" href="/docs">/docs</a>.</p>
</body></html>
"""


class ClientRoute(Convertor[str]):
    """Any path outside the server's own prefixes: the server's 404s and 405s stay exactly as they were."""

    regex = r"(?!(?:" + "|".join(p.replace(".", r"\.") for p in SERVER_PATHS) + r")(?:/|$)).*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("client", ClientRoute())


class Assets(StaticFiles):
    """Hashed build assets: a new build has new names, so each file may be cached for good."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = IMMUTABLE
        return response


def default_dist() -> Path:
    """`MARKETINTEL_WEB_DIST`, else web/dist of the repository this module runs from."""
    configured = os.environ.get(DIST_VARIABLE)
    return Path(configured) if configured else Path(__file__).resolve().parents[3] / "web" / "dist"


def mount(app: FastAPI, dist: Path | None = None) -> None:
    """Serve the hub from `dist` (looked up per request, so a build made after start is picked up)."""
    root = (dist or default_dist()).resolve()
    app.mount("/assets", Assets(directory=root / "assets", check_dir=False), name="web-assets")

    @app.get("/{path:client}", include_in_schema=False)
    def client_route(path: str) -> Response:
        index = root / "index.html"
        if not index.is_file():
            page = NOT_BUILT.format(dist=root, variable=DIST_VARIABLE)
            return HTMLResponse(page, status_code=503, headers={"Cache-Control": NO_CACHE})
        # a top-level file of the build (favicon, robots.txt); anything else is a client route
        wanted = (root / path).resolve() if path else index
        if wanted != index and wanted.parent == root and wanted.is_file():
            return FileResponse(wanted, headers={"Cache-Control": NO_CACHE})
        return FileResponse(index, media_type="text/html", headers={"Cache-Control": NO_CACHE})
