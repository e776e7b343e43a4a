"""Offline sources: a static file server on 127.0.0.1 answering the connectors' own requests from a directory
of published files, so `marketintel scheduler --once --sources-root DIR` runs every job with no network.

The Fetcher speaks HTTP only, and the connectors build live URLs whose last path segment is not always the
file's name (CAISO OASIS is one path with a query string), so the server maps a request the way the
connector names what it fetched: `/<family>/<anything>?<query>` answers with the file under
`DIR/<family>/` (at any depth) named by the connector's `payload_name(url)` — e.g.
`/miso/20241103_da_expost_lmp.csv` and `/caiso/SingleZip?queryname=PRC_LMP&…` →
`caiso/PRC_LMP_DAM_20241103.zip`. A file that is not there is a 404, which the connectors read as "not
published yet", exactly as from the live source. The family is the connector's module (`miso` for
miso-da and miso-rt), which is how `tests/connectors/fixtures` is laid out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from marketintel.connectors.registry import connector, connectors

log = logging.getLogger(__name__)

Namer = Callable[[str], str]  # a request URL -> the name of the file it asks for


def family(source: str) -> str:
    """The fixture directory of connector `source`: the module it lives in (`miso`, `caiso`, …)."""
    return connectors()[source].__module__.rsplit(".", 1)[-1]


def index(directory: Path) -> dict[str, Path]:
    """Files under `directory` by name; where a name repeats, the shallowest wins."""
    found: dict[str, Path] = {}
    if directory.is_dir():
        for path in sorted(directory.rglob("*"), key=lambda p: (len(p.parts), str(p))):
            if path.is_file():
                found.setdefault(path.name, path)
    return found


class OfflineSources:
    """The server's routes: per family, the namers of its connectors and the files on disk."""

    def __init__(self, root: Path, url: str) -> None:
        self.root = root
        self.url = url
        self._namers: dict[str, list[Namer]] = {}
        self._files: dict[str, dict[str, Path]] = {}
        self._lock = threading.Lock()

    def base_url(self, source: str) -> str:
        """The root to give connector `source` so that it fetches from this server."""
        name = family(source)
        base = f"{self.url}/{name}"
        with self._lock:
            self._namers.setdefault(name, []).append(connector(source, base).payload_name)
            self._files.setdefault(name, index(self.root / name))
        return base

    def resolve(self, target: str) -> Path | None:
        """The file for a request target (path and query), or None."""
        name = target.lstrip("/").split("/", 1)[0].split("?", 1)[0]
        with self._lock:
            namers, files = list(self._namers.get(name, ())), self._files.get(name, {})
        for namer in namers:
            path = files.get(namer(f"{self.url}{target}"))
            if path is not None:
                return path
        return None


@contextmanager
def serve_sources(root: Path) -> Iterator[OfflineSources]:
    """Serve `root` on 127.0.0.1 (a free port) until the block ends."""
    root = root.resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"sources root {root} is not a directory")
    routes: list[OfflineSources] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = routes[0].resolve(self.path)
            body = path.read_bytes() if path is not None else b"not published"
            self.send_response(200 if path is not None else 404)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("offline source: " + format, *args)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    routes.append(OfflineSources(root, f"http://127.0.0.1:{server.server_address[1]}"))
    thread = threading.Thread(target=server.serve_forever, name="offline-sources", daemon=True)
    thread.start()
    try:
        yield routes[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
