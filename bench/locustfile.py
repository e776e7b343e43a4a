"""The gateway load test's users and load shape, for locust (headless, started by `bench.gateway_load`).

    locust -f bench/locustfile.py --headless --host http://127.0.0.1:PORT   # MI_BENCH_CONFIG=plan.json

Everything run-specific comes from the JSON plan named by MI_BENCH_CONFIG (written by `bench.gateway_load`):
the API key, the instruments and days to ask for, the curves, the stages, and where to write what was
measured. Each user is an API client of the MISO pilot that, after a think time, asks for one of: a
node-day of 5-minute ticks, the latest interval of every MISO instrument, an instrument search, or a
forward curve. Every request's own latency is kept (not only locust's rounded histogram), with the stage
boundaries as they happened and a /metrics scrape at each, so the runner can report per stage and compare
with what the server measured itself.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import gevent
import numpy as np
from locust import FastHttpUser, LoadTestShape, between, events, task

PLAN: dict[str, Any] = json.loads(Path(os.environ["MI_BENCH_CONFIG"]).read_text())
ENDPOINTS: list[str] = PLAN["endpoints"]  # request names, in the order their codes use
CODE = {name: i for i, name in enumerate(ENDPOINTS)}

# every request: wall-clock end time, endpoint code, latency (ms), HTTP status (0: no response), ok
_t: list[float] = []
_endpoint: list[int] = []
_ms: list[float] = []
_status: list[int] = []
_ok: list[bool] = []
_errors: dict[str, int] = {}
# stage boundaries as they happened: [stage name, wall-clock time it began, /metrics text then]
_stages: list[list[Any]] = []
_scrapes: list[gevent.Greenlet] = []
_users: list[tuple[float, int]] = []  # (wall-clock time, users running) at every tick of the shape


@events.request.add_listener
def _keep(name: str, response_time: float, response: Any, exception: BaseException | None, **_: Any) -> None:
    _t.append(time.time())
    _endpoint.append(CODE.get(name, -1))
    _ms.append(response_time)
    _status.append(int(getattr(response, "status_code", 0) or 0))
    _ok.append(exception is None)
    if exception is not None:
        key = f"{name}: {type(exception).__name__}: {str(exception)[:160]}"
        _errors[key] = _errors.get(key, 0) + 1


def _scrape() -> str:
    try:
        with urllib.request.urlopen(f"{PLAN['host']}/metrics", timeout=10) as reply:
            return str(reply.read().decode())
    except OSError as exc:  # recorded, not fatal: the latencies locust saw stand on their own
        return f"# scrape failed: {exc}"


def _mark(stage: str) -> None:
    """Note that `stage` begins now, and scrape /metrics in the background (under load the scrape waits
    its turn at the server, which must not hold up the next stage)."""
    entry = [stage, time.time(), None]
    _stages.append(entry)

    def scrape() -> None:
        entry[2] = _scrape()

    _scrapes.append(gevent.spawn(scrape))


@events.quitting.add_listener
def _save(**_: Any) -> None:
    if not _stages or _stages[-1][0] != "end":
        _mark("end")
    gevent.joinall(_scrapes, timeout=30)
    out = Path(PLAN["samples_path"])
    np.savez_compressed(
        out,
        t=np.asarray(_t, dtype=np.float64),
        endpoint=np.asarray(_endpoint, dtype=np.int8),
        ms=np.asarray(_ms, dtype=np.float64),
        status=np.asarray(_status, dtype=np.int16),
        ok=np.asarray(_ok, dtype=bool),
    )
    Path(PLAN["stages_path"]).write_text(
        json.dumps(
            {
                "stages": [
                    {"name": n, "started": t, "metrics": m or "# scrape failed"} for n, t, m in _stages
                ],
                "users": _users,
                "errors": _errors,
            }
        )
    )


class StagedLoad(LoadTestShape):
    """The plan's stages in turn: each holds `users`, or ramps to it linearly from `ramp_from`."""

    def __init__(self) -> None:
        super().__init__()
        self.stages: list[dict[str, Any]] = PLAN["stages"]
        self.current: str | None = None

    def tick(self) -> tuple[int, float] | None:
        run_time = self.get_run_time()
        if self.runner is not None:
            _users.append((time.time(), self.runner.user_count))
        elapsed = 0.0
        for stage in self.stages:
            if run_time < elapsed + stage["seconds"]:
                if stage["name"] != self.current:
                    self.current = stage["name"]
                    _mark(stage["name"])
                users = stage["users"]
                if stage.get("ramp_from") is not None:  # linear from ramp_from to users over the stage
                    share = (run_time - elapsed) / stage["seconds"]
                    users = round(stage["ramp_from"] + (users - stage["ramp_from"]) * share)
                return users, stage["spawn_rate"]
            elapsed += stage["seconds"]
        if self.current != "end":
            self.current = "end"
            _mark("end")
        return None


def _day_bounds(day: str) -> tuple[str, str]:
    start = dt.date.fromisoformat(day)
    return f"{start.isoformat()}T00:00:00Z", f"{(start + dt.timedelta(days=1)).isoformat()}T00:00:00Z"


class ApiClient(FastHttpUser):
    """A trader's script or a desk tool on the MISO pilot's API key."""

    wait_time = between(PLAN["think_time_s"][0], PLAN["think_time_s"][1])
    # one keep-alive connection per user, like a client library
    concurrency = 1
    network_timeout = 30.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        self.headers = {"X-API-Key": PLAN["api_key"], "Accept": "application/json"}
        self.rng = random.Random()

    @task(PLAN["weights"]["ticks"])
    def ticks_node_day(self) -> None:
        location = self.rng.choice(PLAN["locations"])
        start, end = _day_bounds(self.rng.choice(PLAN["days"]))
        query = {"instrument": f"{PLAN['market']}:{location}", "run": PLAN["run"], "start": start, "end": end}
        self.client.get(f"/api/v1/prices/ticks?{urlencode(query)}", headers=self.headers, name=ENDPOINTS[0])

    @task(PLAN["weights"]["latest"])
    def latest_market(self) -> None:
        query = {"market": PLAN["market"], "run": PLAN["run"]}
        self.client.get(f"/api/v1/prices/latest?{urlencode(query)}", headers=self.headers, name=ENDPOINTS[1])

    @task(PLAN["weights"]["instruments"])
    def instrument_search(self) -> None:
        query = {"market": PLAN["market"], "q": self.rng.choice(PLAN["search_terms"])}
        self.client.get(f"/api/v1/instruments?{urlencode(query)}", headers=self.headers, name=ENDPOINTS[2])

    @task(PLAN["weights"]["curve"])
    def forward_curve(self) -> None:
        location, as_of_date = self.rng.choice(PLAN["curves"])
        query = {"market": PLAN["market"], "location": location, "as_of_date": as_of_date}
        self.client.get(f"/api/v1/curves/forward?{urlencode(query)}", headers=self.headers, name=ENDPOINTS[3])
