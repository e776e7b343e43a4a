"""A `marketintel ingest` process killed with SIGKILL mid-window resumes with 0 gaps and 0 duplicates."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import time
from pathlib import Path

from marketintel.metadata import service as metadata
from marketintel.store.models import PRICES
from marketintel.store.service import open_timeseries
from tests.connectors.fixtures.miso.make_fixtures import report
from tests.connectors.localsource import Reply, local_source
from tests.helpers import MARKETINTEL, environment, run_cli

FIRST = dt.date(2024, 10, 20)
DAYS = 16
NODES = 5


def test_sigkill_mid_ingest_resumes_without_gaps_or_duplicates(tmp_path: Path) -> None:
    days = [FIRST + dt.timedelta(days=i) for i in range(DAYS)]
    with local_source() as source:
        for i, day in enumerate(days):
            body = report(day, "da_expost_lmp", i).encode()
            source.serve(f"/{day:%Y%m%d}_da_expost_lmp.csv", Reply(200, body, delay=0.15))
        args = [
            "ingest",
            "miso-da",
            "--start",
            days[0].isoformat(),
            "--end",
            (days[-1] + dt.timedelta(days=1)).isoformat(),
            "--base-url",
            source.base_url,
            "--requests-per-second",
            "1000",
        ]
        process = subprocess.Popen(
            [MARKETINTEL, *args],
            env=environment(tmp_path),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while len(source.requests) < 6 and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        assert process.returncode == -signal.SIGKILL
        killed_after = len(source.requests)
        assert 6 <= killed_after < DAYS, "the kill must land mid-window"

        resumed = run_cli(tmp_path, *args)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr

    url = f"sqlite:///{tmp_path / 'metadata.sqlite'}"
    with metadata.session_factory(metadata.engine_for(url))() as session:
        assert metadata.get_checkpoint(session, "miso-da", "days") == days[-1].isoformat()
    store = open_timeseries(f"duckdb:///{tmp_path / 'timeseries.duckdb'}", create=False)
    try:
        counts = store.query(
            f"SELECT count(*) AS rows, count(DISTINCT (location, interval_start)) AS distinct_keys, "
            f"count(DISTINCT interval_start) AS hours FROM {PRICES.name}"
        ).to_pylist()[0]
    finally:
        store.close()
    assert counts == {"rows": DAYS * 24 * NODES, "distinct_keys": DAYS * 24 * NODES, "hours": DAYS * 24}
