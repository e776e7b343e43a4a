"""Running the real `marketintel` command in a separate process, as a user would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

MARKETINTEL = str(Path(sys.executable).with_name("marketintel"))
# the loopback PostgreSQL; overridable so the "unreachable" path can be tried by hand
TEST_PG_URL = os.environ.get("MARKETINTEL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def environment(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARKETINTEL_")}
    env.update({"MARKETINTEL_DATA_DIR": str(data_dir), "COLUMNS": "200", **extra})
    return env


def run_cli(
    data_dir: Path, *args: str, timeout: float = 300, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MARKETINTEL, *args],
        env=environment(data_dir, **extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def service_missing(reason: str, what: str) -> NoReturn:
    """A test that needs a real service which is not there: skipped locally, a failure under CI=true,
    where every service test must run."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: {what} must run there)")
    pytest.skip(reason)


def postgres_admin(url: str) -> Engine:
    """An engine on the test PostgreSQL, checked reachable (see `service_missing`)."""
    parsed = make_url(url)
    admin = create_engine(parsed, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        admin.dispose()
        detail = str(exc.orig or exc).strip().splitlines()[0]
        service_missing(
            f"PostgreSQL at {parsed.host}:{parsed.port} unreachable: {detail}", "the PostgreSQL tests"
        )
    return admin
