"""Records the web hub's figures measured by its Chromium E2E (web/e2e): the first page's bundle size
(gzip) and the dashboard's time to interactive, with the machine they were measured on.

The E2E writes web/test-results/web-measurements.json; `python -m bench.web [that file]` adds the machine
block and the targets and writes bench/results/web-<date>.json and web-latest.json.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import sys
from pathlib import Path

from bench.common import REPO, machine_info, write_results

MEASUREMENTS = REPO / "web" / "test-results" / "web-measurements.json"
TARGETS = {"first_page_gzip_bytes": 400 * 1024, "dashboard_interactive_ms": 1500.0}


def summarise(measured: dict) -> dict:
    runs = [float(v) for v in measured["dashboard_interactive_ms"]]
    live = [float(v) for v in measured.get("dashboard_live_ms", [])]
    bundle = int(measured["first_page_gzip_bytes"])
    interactive = statistics.median(runs)
    return {
        "benchmark": "web",
        "measured_at": dt.datetime.now(dt.UTC),
        "definitions": {
            "dashboard_interactive_ms": "performance.now() at the 'dashboard-interactive' mark, i.e. from "
            "navigation start of a full load of / (signed in, cold HTTP cache) until every entitled "
            "market's price table has rendered its prices, React's handlers attached (median of runs)",
            "dashboard_live_ms": "navigation start until the stream confirmed the subscription",
            "first_page_gzip_bytes": "sum of gzip -9 sizes of the JS and CSS files the dashboard load "
            "fetched (Resource Timing), read from web/dist",
        },
        "targets": TARGETS,
        "first_page_gzip_bytes": bundle,
        "first_page_files": measured.get("first_page_files", []),
        "dashboard_interactive_ms": round(interactive, 1),
        "dashboard_interactive_runs_ms": [round(v, 1) for v in runs],
        "dashboard_live_ms": round(statistics.median(live), 1) if live else None,
        "meets_targets": {
            "first_page_gzip_bytes": bundle <= TARGETS["first_page_gzip_bytes"],
            "dashboard_interactive_ms": interactive <= TARGETS["dashboard_interactive_ms"],
        },
        "browser": measured.get("browser"),
        "demo_days": measured.get("demo_days"),
        "machine": machine_info(("fastapi", "starlette", "uvicorn", "duckdb", "pyarrow")),
    }


def main(argv: list[str]) -> None:
    source = Path(argv[0]) if argv else MEASUREMENTS
    payload = summarise(json.loads(source.read_text()))
    day = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
    for path in write_results(f"web-{day}", payload, latest="web-latest"):
        print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
