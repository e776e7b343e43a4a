"""One gateway world per module: building it (simulation, tenants, keys) takes a few seconds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from marketintel.api.app import create_app
from marketintel.config import Settings
from marketintel.entitlements.demo import ACCOUNTS
from tests.gateway.world import OUTSIDER, Credential, build_world, credentials


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return build_world(Path(tmp_path_factory.mktemp("gateway")))


@pytest.fixture(scope="module")
def callers(world: Settings) -> dict[str, list[Credential]]:
    by_tenant = {a.tenant: credentials(world, a.tenant, a.email, a.password) for a in ACCOUNTS}
    by_tenant[OUTSIDER] = credentials(world, OUTSIDER, "someone@outsider.example", "outsider-password")
    return by_tenant


@pytest.fixture(scope="module")
def client(world: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(world), base_url="http://127.0.0.1:8000") as client:
        yield client
