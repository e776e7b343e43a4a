"""The HTTP service, run as a real process on loopback."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from marketintel.store.service import open_timeseries
from tests.helpers import MARKETINTEL, environment, free_port
from tests.store.factories import instruments, prices


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    store = open_timeseries(f"duckdb:///{tmp_path / 'timeseries.duckdb'}")
    store.register_instruments(instruments())
    store.write_prices(prices(count=12))
    store.close()
    port = free_port()
    process = subprocess.Popen(
        [MARKETINTEL, "serve", "--port", str(port)],
        env=environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_healthz_answers(server: str) -> None:
    response = httpx.get(f"{server}/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_summary_reports_what_the_store_holds(server: str) -> None:
    summary = httpx.get(f"{server}/api/v1/summary").json()
    assert summary["engine"] == "duckdb"
    assert summary["datasets"]["price_facts"]["rows"] == 12
    assert summary["markets"]["MISO"]["instruments"] == 3
    assert summary["markets"]["MISO"]["first"].startswith("2024-03-09T08:00:00")


def test_openapi_docs_are_served(server: str) -> None:
    assert httpx.get(f"{server}/docs").status_code == 200
    assert "/api/v1/summary" in httpx.get(f"{server}/openapi.json").json()["paths"]
