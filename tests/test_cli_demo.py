"""`marketintel demo`: loads once into an empty data directory, reuses it afterwards."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import run_cli


def test_demo_loads_once_then_reuses_the_data_directory(tmp_path: Path) -> None:
    first = run_cli(tmp_path, "demo", "--days", "1", "--no-serve")
    assert first.returncode == 0, first.stderr + first.stdout
    assert "simulating 7 markets" in first.stdout
    assert (tmp_path / "timeseries.duckdb").is_file()
    assert (tmp_path / "metadata.sqlite").is_file()
    for market in ("MISO", "CAISO", "PJM", "ERCOT", "NYISO", "ISONE", "SPP"):
        assert market in first.stdout
    # the pilots' API keys are shown once at creation, so they are kept for later starts, privately
    credentials = tmp_path / "demo-credentials.json"
    assert credentials.stat().st_mode & 0o777 == 0o600
    keys = [a["api_key"] for a in json.loads(credentials.read_text())]
    assert len(keys) == 3
    assert all(k.startswith("mik_") for k in keys)

    second = run_cli(tmp_path, "demo", "--days", "1", "--no-serve")
    assert second.returncode == 0, second.stderr
    assert "reusing the simulated data" in second.stdout
    assert "simulating" not in second.stdout
    assert all(k in second.stdout for k in keys)
