"""A stand-in for a market's web server on 127.0.0.1: serves fixture files at the paths the real site uses.

Routes map the request target (path plus query string, exactly as the client sends it) to a response;
a route may hold a list of responses to play in turn (e.g. 429, 503, then the file) for retry tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering: a slow source


@dataclass
class LocalSource:
    base_url: str
    routes: dict[str, list[Reply]]
    requests: list[str]
    headers: list[dict[str, str]] = field(default_factory=list)  # the request headers, in order

    def serve(self, target: str, *replies: Reply | bytes) -> None:
        """Answer `target` (e.g. '/market_reports/20240310_da_expost_lmp.csv') with these replies in turn;
        the last one repeats."""
        self.routes[target] = [r if isinstance(r, Reply) else Reply(200, r) for r in replies]


@contextmanager
def local_source() -> Iterator[LocalSource]:
    routes: dict[str, list[Reply]] = {}
    requests: list[str] = []
    seen_headers: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            seen_headers.append({k.lower(): v for k, v in self.headers.items()})
            queue = routes.get(self.path)
            reply = Reply(404, b"not found") if not queue else (queue.pop(0) if len(queue) > 1 else queue[0])
            if reply.delay:
                time.sleep(reply.delay)
            self.send_response(reply.status)
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.send_header("content-length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LocalSource(f"http://127.0.0.1:{server.server_address[1]}", routes, requests, seen_headers)
    finally:
        server.shutdown()
        server.server_close()
