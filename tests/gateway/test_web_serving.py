"""The hub's single-page app at `/`: index.html for client routes, cached assets, the API untouched, and a
page saying how to build the hub when there is no build."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from marketintel.api import web
from marketintel.api.app import API_PREFIX

INDEX = "<!doctype html><title>hub</title><div id=root></div>"


def hub_app(dist: Path) -> FastAPI:
    app = FastAPI()

    @app.get(f"{API_PREFIX}/thing")
    def thing() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    web.mount(app, dist)
    return app


@pytest.fixture
def built(tmp_path: Path) -> Iterator[TestClient]:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text(INDEX)
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log(1)")
    (tmp_path / "favicon.svg").write_text("<svg/>")
    with TestClient(hub_app(tmp_path)) as client:
        yield client


def test_client_routes_get_index_html_never_cached(built: TestClient) -> None:
    for path in ("/", "/explorer", "/curves/MISO", "/signin?next=/explorer"):
        response = built.get(path)
        assert response.status_code == 200, path
        assert response.text == INDEX
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["content-type"].startswith("text/html")


def test_hashed_assets_are_cached_for_good(built: TestClient) -> None:
    response = built.get("/assets/index-abc123.js")
    assert response.status_code == 200
    assert response.text == "console.log(1)"
    assert "immutable" in response.headers["cache-control"]
    assert built.get("/assets/missing.js").status_code == 404
    assert built.get("/favicon.svg").text == "<svg/>"


def test_server_paths_are_not_client_routes(built: TestClient) -> None:
    assert built.get(f"{API_PREFIX}/thing").json() == {"ok": "yes"}
    assert built.get("/healthz").json() == {"status": "ok"}
    # an unknown API path stays a 404, not the hub's page
    for path in (f"{API_PREFIX}/nothing", "/api", "/metrics"):
        response = built.get(path)
        assert response.status_code == 404, path
        assert INDEX not in response.text
    # nothing outside the build is served
    assert built.get("/..%2f..%2fetc%2fpasswd").text == INDEX


def test_without_a_build_the_root_says_to_run_make_web(tmp_path: Path) -> None:
    with TestClient(hub_app(tmp_path / "nowhere")) as client:
        response = client.get("/")
        assert response.status_code == 503
        assert "make web" in response.text
        assert client.get(f"{API_PREFIX}/thing").status_code == 200
