"""`marketintel demo` as a real process on loopback: the acceptance path of the gateway issue."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import MARKETINTEL, environment, free_port


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    data_dir = tmp_path_factory.mktemp("demo")
    port = free_port()
    process = subprocess.Popen(
        [MARKETINTEL, "demo", "--days", "1", "--port", str(port)],
        env=environment(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            time.sleep(0.2)
        credentials = json.loads((Path(data_dir) / "demo-credentials.json").read_text())
        yield base, {c["tenant"]: c["api_key"] for c in credentials}
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_healthz_and_readyz(demo: tuple[str, dict[str, str]]) -> None:
    base, _ = demo
    assert httpx.get(f"{base}/healthz").json()["status"] == "ok"
    ready = httpx.get(f"{base}/readyz")
    assert ready.status_code == 200, ready.text
    assert {name: c["status"] for name, c in ready.json()["checks"].items()} == {
        "store": "ok",
        "metadata": "ok",
        "bus": "ok",
    }


def test_caiso_pilot_api_key_is_refused_and_miso_pilot_gets_data(demo: tuple[str, dict[str, str]]) -> None:
    base, keys = demo
    caiso = httpx.get(
        f"{base}/api/v1/prices/latest",
        params={"market": "CAISO", "run": "RT5"},
        headers={"X-API-Key": keys["pilot_caiso"]},
    )
    assert caiso.status_code == 403
    assert caiso.headers["content-type"] == "application/problem+json"
    assert "api channel is not entitled" in caiso.json()["detail"]
    miso = httpx.get(
        f"{base}/api/v1/prices/latest",
        params={"market": "MISO", "run": "RT5"},
        headers={"X-API-Key": keys["pilot_miso"]},
    )
    assert miso.status_code == 200, miso.text
    items = miso.json()["items"]
    assert len(items) == 200
    assert all(i["instrument"].startswith("MISO:") for i in items)


def test_docs_and_openapi_render(demo: tuple[str, dict[str, str]]) -> None:
    base, _ = demo
    docs = httpx.get(f"{base}/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text
    spec = httpx.get(f"{base}/openapi.json").json()
    assert "/api/v1/prices/ticks" in spec["paths"]
    assert "/api/v1/curves/forward" in spec["paths"]


def test_metrics_expose_request_latency(demo: tuple[str, dict[str, str]]) -> None:
    base, keys = demo
    httpx.get(f"{base}/api/v1/instruments", headers={"X-API-Key": keys["pilot_miso"]})
    text = httpx.get(f"{base}/metrics").text
    assert (
        'marketintel_http_request_duration_seconds_count{method="GET",route="/api/v1/instruments",status="200"}'
        in text
    )
