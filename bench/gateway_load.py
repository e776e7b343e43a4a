"""Gateway load benchmark: locust against `marketintel serve` on loopback, with the demo's data.

    python -m bench.gateway_load                 # the issue's stages shortened to ~5 minutes
    python -m bench.gateway_load --quick         # ~1 minute smoke run on 3 days of data
    python -m bench.gateway_load --data-dir /tmp/mi-demo --reuse   # reuse a demo data directory

It builds a demo data directory (`marketintel demo --no-serve`: 7 markets × 200 locations of simulated
history, the pilot tenants and their API keys, forward curves) under /tmp — writing curves for the MISO
hubs itself if the store holds none — serves it with `marketintel serve` on a free 127.0.0.1 port,
and runs locust headless (bench/locustfile.py) through the stages: warm-up, ramp 50→200 users, 200
sustained, a spike to 500, back down to 50. The mix is a node-day of ticks, the latest interval of every
MISO instrument, an instrument search and a forward curve. Per endpoint and per stage it reports latency
percentiles (as the client saw them, and as the server's own histogram saw them), requests/s, errors, and
the CPU used by the server, by locust and by the whole machine (2 cores are shared by all three).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.table import Table

from bench.common import REPO, latency_stats, load_average, machine_info, write_results
from marketintel.entitlements.demo import load_credentials
from marketintel.store.models import CURVE_POINTS, PRICES
from marketintel.store.service import TimeSeriesStore, open_timeseries

UTC = dt.UTC
HOST = "127.0.0.1"  # the only address this benchmark ever sends load to
BIN = Path(sys.executable).parent
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
MARKET, RUN = "MISO", "RT5"
TENANT = "pilot_miso"  # MISO on the hub, api and downloads channels
ENDPOINTS = ("ticks node-day", "latest MISO", "instruments search", "curve forward")
ROUTES = {  # the server's route templates, as its latency histogram names them
    "ticks node-day": "/api/v1/prices/ticks",
    "latest MISO": "/api/v1/prices/latest",
    "instruments search": "/api/v1/instruments",
    "curve forward": "/api/v1/curves/forward",
}
WEIGHTS = {"ticks": 5, "latest": 2, "instruments": 2, "curve": 1}
THINK_TIME_S = (0.5, 1.5)  # uniform wait between a user's requests: about one request per user per second
RATE_LIMIT_PER_S = 1_000_000  # per-tenant budget for the run: every user is the same tenant
TARGET_P95_MS = 25.0
TARGET_STAGE = "sustained"
CURVE_DATES = 5  # as-of dates per hub of the curves this benchmark writes when the demo has none
BENCH_RUN = "bench-gateway"  # the run id of those curves
INTERVALS_PER_DAY = 288

console = Console(stderr=True)


# --- the plan -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    name: str
    seconds: float
    users: int
    spawn_rate: float
    ramp_from: int | None = None  # ramp linearly from this many users to `users` over the stage
    about: str = ""


def stages(quick: bool) -> list[Stage]:
    """The seed's scenario (ramp 50→200 over 15 min, 200 for 10 min, 500 for 3 min) shortened."""
    warm, ramp, hold, spike, down = (5, 10, 20, 15, 5) if quick else (15, 60, 120, 60, 30)
    return [
        Stage("warmup", warm, 10, 10, about="10 users: first touches of the store, not judged"),
        Stage("ramp", ramp, 200, 100, ramp_from=50, about="50 → 200 users, linearly"),
        Stage("sustained", hold, 200, 100, about="200 users: the p95 target applies here"),
        Stage("spike", spike, 500, 100, about="500 users (reached in ~3 s): no errors allowed"),
        Stage("recovery", down, 50, 100, about="back down to 50 users"),
    ]


# --- the demo data ----------------------------------------------------------------------------------


@dataclass
class DemoData:
    data_dir: Path
    api_keys: dict[str, str]  # tenant → API key
    locations: list[str]  # MISO locations
    hubs: list[str]
    days: list[str]  # UTC days the MISO RT5 data covers whole
    curves: list[tuple[str, str]]  # (location, as-of date) of MISO ATC curves to ask for
    curves_source: str
    built_s: float | None = None
    price_rows: int = 0
    search_terms: list[str] = field(default_factory=list)


def clean_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """This process's environment without any MARKETINTEL_* setting of the caller's, then ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARKETINTEL_")}
    env["MARKETINTEL_DATA_DIR"] = str(data_dir)
    env.update({f"MARKETINTEL_{k.upper()}": v for k, v in settings.items()})
    return env


def curve_table(hub: str, as_of: dt.date, run_id: str) -> pa.Table:
    """A plausible forward curve: 36 months, 12 quarters and 5 calendar years from the next month."""
    first = dt.date(as_of.year + (as_of.month == 12), as_of.month % 12 + 1, 1)

    def month(offset: int) -> dt.datetime:
        years, index = divmod(first.month - 1 + offset, 12)
        return dt.datetime(first.year + years, index + 1, 1, tzinfo=UTC)

    periods = [("M", month(i), month(i + 1)) for i in range(36)]
    quarter0 = (first.month - 1) // 3 * 3 - (first.month - 1)  # months from `first` to its quarter's start
    periods += [("Q", month(quarter0 + 3 * i), month(quarter0 + 3 * i + 3)) for i in range(1, 13)]
    periods += [
        (
            "Y",
            dt.datetime(first.year + i, 1, 1, tzinfo=UTC),
            dt.datetime(first.year + i + 1, 1, 1, tzinfo=UTC),
        )
        for i in range(1, 6)
    ]
    seed = sum(map(ord, hub)) + as_of.toordinal()
    rng = np.random.default_rng(seed)
    level = 35.0 + rng.normal(0.0, 3.0)
    values = [
        round(level * (1.25 if start.month in (1, 2, 7, 8) else 1.0) + 0.4 * (start.year - first.year), 2)
        for _, start, _ in periods
    ]
    known = dt.datetime.combine(as_of, dt.time(22), tzinfo=UTC)
    n = len(periods)
    return pa.table(
        {
            "curve_id": [f"{MARKET}:{hub}:ATC"] * n,
            "scenario_id": ["BASE"] * n,
            "as_of_date": [as_of] * n,
            "delivery_start": [p[1] for p in periods],
            "delivery_end": [p[2] for p in periods],
            "granularity": [p[0] for p in periods],
            "value": values,
            "run_id": [run_id] * n,
            "knowledge_time": [known] * n,
        },
        schema=CURVE_POINTS.schema,
    )


def build_demo(data_dir: Path, days: int, log: Path) -> float:
    """`marketintel demo --days N --no-serve` into `data_dir`; seconds taken."""
    console.print(f"building the demo data ({days} days) in {data_dir} …")
    t0 = time.perf_counter()
    with log.open("ab") as out:
        done = subprocess.run(
            [str(BIN / "marketintel"), "demo", "--days", str(days), "--no-serve"],
            env=clean_env(data_dir),
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
            timeout=3600,
        )
    if done.returncode != 0:
        raise SystemExit(f"marketintel demo failed (exit {done.returncode}); see {log}")
    return time.perf_counter() - t0


def ensure_demo(data_dir: Path, days: int, reuse: bool, log: Path) -> tuple[dict[str, str], float | None]:
    """The demo's API keys by tenant, building the directory first unless `reuse` and it holds a demo;
    and the seconds the build took (None: reused)."""
    built_s = None
    if not (reuse and (data_dir / "timeseries.duckdb").is_file() and load_credentials(data_dir)):
        if data_dir.exists() and any(data_dir.iterdir()):
            raise SystemExit(f"{data_dir} is not empty: pass --reuse to serve what it holds, or another path")
        built_s = build_demo(data_dir, days, log)
    keys = {a.tenant: a.api_key for a in load_credentials(data_dir) if a.api_key}
    if TENANT not in keys:
        raise SystemExit(f"{data_dir}: no API key for {TENANT} in its demo-credentials.json")
    return keys, built_s


def demo_curves(store: TimeSeriesStore, hubs: list[str]) -> list[tuple[str, str]]:
    """The MISO ATC monthly curves the demo's curve job built, as (location, as-of date); hubs only if
    any hub has one."""
    rows = store.query(
        f"SELECT DISTINCT curve_id, as_of_date FROM {CURVE_POINTS.name} "
        f"WHERE curve_id LIKE '{MARKET}:%:ATC' AND scenario_id = 'BASE' AND granularity = 'M' "
        f"AND run_id <> '{BENCH_RUN}'"
    ).to_pylist()
    pairs = [(r["curve_id"].split(":", 1)[1].rsplit(":", 1)[0], r["as_of_date"].isoformat()) for r in rows]
    return sorted([p for p in pairs if p[0] in hubs] or pairs)


def prepare_demo(data_dir: Path, days: int, reuse: bool, log: Path) -> DemoData:
    """The demo data directory (see `ensure_demo`), and what the load will ask of it."""
    keys, built_s = ensure_demo(data_dir, days, reuse, log)
    store = open_timeseries(f"duckdb:///{data_dir / 'timeseries.duckdb'}")
    try:
        instruments = store.instruments(MARKET).to_pylist()
        span = store.query(
            f"SELECT min(interval_start) AS first, max(interval_start) AS last, count(*) AS n "
            f"FROM {PRICES.name} WHERE market = '{MARKET}' AND run = '{RUN}'"
        ).to_pylist()[0]
        first_day = (span["first"] + dt.timedelta(days=1, seconds=-1)).date()
        last_day = (span["last"] + dt.timedelta(minutes=5)).date()  # exclusive
        full_days = [first_day + dt.timedelta(days=i) for i in range((last_day - first_day).days)]
        if not full_days:
            raise SystemExit(f"{data_dir}: no whole UTC day of {MARKET} {RUN} prices")
        hubs = [r["location"] for r in instruments if r["location_type"] == "hub"]
        curves = demo_curves(store, hubs)
        source = f"the demo's curve job: {len(curves)} MISO ATC curves (location, as-of date), monthly points"
        if not curves:
            dates = [last_day - dt.timedelta(days=i) for i in range(1, CURVE_DATES + 1)]
            for hub in hubs:
                for as_of in dates:
                    store.write(CURVE_POINTS, curve_table(hub, as_of, BENCH_RUN))
            curves = [(hub, as_of.isoformat()) for hub in hubs for as_of in dates]
            source = (
                f"written by this benchmark (the store had none): {len(hubs)} MISO hubs × {len(dates)} as-of "
                "dates × 53 points (36 M, 12 Q, 5 Y)"
            )
    finally:
        store.close()
    locations = [r["location"] for r in instruments]
    prefixes = sorted({loc.split(".", 1)[0] for loc in locations if "." in loc})
    return DemoData(
        data_dir=data_dir,
        api_keys=keys,
        locations=locations,
        hubs=hubs,
        days=[d.isoformat() for d in full_days],
        curves=curves,
        curves_source=source,
        built_s=None if built_s is None else round(built_s, 1),
        price_rows=int(span["n"]),
        search_terms=["HUB", "WIND", "LD", *prefixes[:5]],
    )


# --- the server ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class GatewayServer:
    """`marketintel serve` on a free loopback port, in its own process; stopped with SIGINT (a clean
    shutdown: the audit log is flushed)."""

    def __init__(self, data_dir: Path, log: Path, **settings: str) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log = log
        self.env = clean_env(data_dir, **settings)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, ready_timeout: float = 90.0) -> None:
        out = self.log.open("ab")
        self.process = subprocess.Popen(
            [str(BIN / "marketintel"), "serve", "--host", HOST, "--port", str(self.port)],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the server exited ({self.process.returncode}): {self.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/readyz", timeout=2.0).status_code == 200:
                    return
            time.sleep(0.25)
        raise SystemExit(f"the server was not ready within {ready_timeout:.0f} s: {self.tail()}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)

    def __enter__(self) -> GatewayServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


# --- CPU use ----------------------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process (all its threads)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_cpu_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already inside user
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


def wait_for_quiet(max_wait_s: float, busy_below_pct: float = 25.0, window_s: float = 3.0) -> dict[str, Any]:
    """Wait (up to `max_wait_s`) until the machine's CPU is below `busy_below_pct` busy over `window_s`:
    other work on these 2 cores (other benchmarks, test runs) inflates every latency measured here.
    Returns how long it waited and how busy the machine was when the run went ahead."""
    t0 = time.monotonic()
    while True:
        busy0, total0 = machine_cpu_s()
        time.sleep(window_s)
        busy1, total1 = machine_cpu_s()
        busy = 100 * (busy1 - busy0) / max(total1 - total0, 1e-9)
        waited = time.monotonic() - t0
        if busy < busy_below_pct or waited >= max_wait_s:
            if busy >= busy_below_pct:
                console.print(f"[yellow]the machine is still {busy:.0f}% busy: measuring anyway[/]")
            return {"waited_s": round(waited, 1), "machine_busy_pct_before_start": round(busy, 1)}


class CpuSampler:
    """Samples the CPU seconds of the given processes and of the machine once a second, in a thread."""

    def __init__(self, pids: dict[str, int], every: float = 1.0) -> None:
        self.pids, self.every = pids, every
        self.samples: list[dict[str, float | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def _sample(self) -> None:
        busy, total = machine_cpu_s()
        row: dict[str, float | None] = {"t": time.time(), "machine_busy": busy, "machine_total": total}
        row |= {name: process_cpu_s(pid) for name, pid in self.pids.items()}
        self.samples.append(row)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.every)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sample()

    def between(self, start: float, end: float) -> dict[str, float | None]:
        """CPU use in [start, end]: each process in % of one core, the machine in % of all its cores."""
        inside = [s for s in self.samples if start <= s["t"] <= end]  # type: ignore[operator]
        if len(inside) < 2:
            return {}
        a, b = inside[0], inside[-1]
        wall = b["t"] - a["t"]  # type: ignore[operator]
        out: dict[str, float | None] = {}
        for name in self.pids:
            used = None if a[name] is None or b[name] is None else b[name] - a[name]  # type: ignore[operator]
            out[f"{name}_cpu_pct_of_core"] = None if used is None else round(100 * used / wall, 1)
        total = b["machine_total"] - a["machine_total"]  # type: ignore[operator]
        busy = b["machine_busy"] - a["machine_busy"]  # type: ignore[operator]
        out["machine_cpu_pct"] = round(100 * busy / total, 1) if total else None
        known = sum(v for k, v in out.items() if k.endswith("_of_core") and v is not None)
        cores = os.cpu_count() or 1
        if out["machine_cpu_pct"] is not None:
            # what else ran meanwhile (other engineers' work, the kernel's network stack, this runner)
            out["other_cpu_pct_of_core"] = round(out["machine_cpu_pct"] * cores - known, 1)
        return out


# --- the server's own histogram -----------------------------------------------------------------------


def route_histograms(text: str) -> dict[str, dict[str, Any]]:
    """From a /metrics text: per route (all methods and statuses), bucket counts, count and sum."""
    out: dict[str, dict[str, Any]] = {}
    if text.startswith("# scrape failed"):
        return out
    for family in text_string_to_metric_families(text):
        if family.name != "marketintel_http_request_duration_seconds":
            continue
        for sample in family.samples:
            route = sample.labels.get("route")
            entry = out.setdefault(route, {"buckets": {}, "count": 0.0, "sum": 0.0})
            if sample.name.endswith("_bucket"):
                le = float(sample.labels["le"])
                entry["buckets"][le] = entry["buckets"].get(le, 0.0) + sample.value
            elif sample.name.endswith("_count"):
                entry["count"] += sample.value
            elif sample.name.endswith("_sum"):
                entry["sum"] += sample.value
    return out


def histogram_quantile(buckets: dict[float, float], q: float) -> float | None:
    """Prometheus-style estimate from cumulative buckets (linear within a bucket), in seconds."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0.0
    if total <= 0:
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * (rank - below) / max(count - below, 1e-12)
        lower, below = bound, count
    return lower


def server_side(before: str, after: str) -> dict[str, dict[str, Any]]:
    """The server's view of one stage: per endpoint, requests, mean, estimated p50/p95, share ≤ 25 ms."""
    a, b = route_histograms(before), route_histograms(after)
    out: dict[str, dict[str, Any]] = {}
    for endpoint, route in ROUTES.items():
        if route not in b:
            continue
        old = a.get(route, {"buckets": {}, "count": 0.0, "sum": 0.0})
        buckets = {le: n - old["buckets"].get(le, 0.0) for le, n in b[route]["buckets"].items()}
        count = b[route]["count"] - old["count"]
        if count <= 0:
            continue
        p50, p95 = histogram_quantile(buckets, 0.5), histogram_quantile(buckets, 0.95)
        within = buckets.get(TARGET_P95_MS / 1000)
        out[endpoint] = {
            "n": int(count),
            "mean_ms": round(1000 * (b[route]["sum"] - old["sum"]) / count, 3),
            "p50_ms_estimate": None if p50 is None else round(1000 * p50, 2),
            "p95_ms_estimate": None if p95 is None else round(1000 * p95, 2),
            "share_within_25ms": None if within is None else round(within / count, 4),
        }
    return out


# --- running locust -----------------------------------------------------------------------------------


def run_locust(
    server: GatewayServer, demo: DemoData, plan: list[Stage], workdir: Path
) -> tuple[dict[str, Any], CpuSampler, int]:
    plan_path = workdir / "plan.json"
    samples_path, stages_path = workdir / "samples.npz", workdir / "stages.json"
    plan_path.write_text(
        json.dumps(
            {
                "host": server.url,
                "api_key": demo.api_keys[TENANT],
                "market": MARKET,
                "run": RUN,
                "endpoints": list(ENDPOINTS),
                "weights": WEIGHTS,
                "think_time_s": list(THINK_TIME_S),
                "locations": demo.locations,
                "days": demo.days,
                "search_terms": demo.search_terms,
                "curves": demo.curves,
                "stages": [asdict(s) for s in plan],
                "samples_path": str(samples_path),
                "stages_path": str(stages_path),
            }
        )
    )
    log = workdir / "locust.log"
    env = {**os.environ, "MI_BENCH_CONFIG": str(plan_path), "PYTHONPATH": str(REPO)}
    total = sum(s.seconds for s in plan)
    console.print(
        f"locust: {total:.0f} s through {', '.join(f'{s.name} {s.seconds:.0f} s' for s in plan)} "
        f"against {server.url}"
    )
    with log.open("wb") as out:
        locust = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(LOCUSTFILE),
                "--headless",
                "--host",
                server.url,
                "--only-summary",
                "--loglevel",
                "WARNING",
                "--stop-timeout",
                "10",
            ],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        sampler = CpuSampler({"server": server.pid, "locust": locust.pid})
        sampler.start()
        try:
            code = locust.wait(total + 180)
        except subprocess.TimeoutExpired:
            locust.send_signal(signal.SIGINT)
            code = locust.wait(30)
        finally:
            sampler.stop()
    if not samples_path.is_file() or not stages_path.is_file():
        raise SystemExit(f"locust left no samples (exit {code}); its log: {log}\n{log.read_text()[-3000:]}")
    measured = json.loads(stages_path.read_text())
    with np.load(samples_path) as data:
        measured["samples"] = {k: data[k] for k in data.files}
    return measured, sampler, code


# --- analysis ------------------------------------------------------------------------------------------


def endpoint_stats(ms: np.ndarray, ok: np.ndarray, status: np.ndarray, seconds: float) -> dict[str, Any]:
    if ms.size == 0:
        return {"n": 0}
    stats: dict[str, Any] = latency_stats(ms / 1000.0)
    errors = int((~ok).sum())
    codes, counts = np.unique(status[~ok], return_counts=True)
    stats |= {
        "req_per_s": round(ms.size / seconds, 1) if seconds > 0 else None,
        "errors": errors,
        "error_rate": round(errors / ms.size, 6),
        "error_statuses": {str(int(c)): int(n) for c, n in zip(codes, counts, strict=True)},
    }
    return stats


def analyse(measured: dict[str, Any], sampler: CpuSampler, plan: list[Stage]) -> dict[str, Any]:
    samples = measured["samples"]
    marks = measured["stages"]
    about = {s.name: s for s in plan}
    out: dict[str, Any] = {}
    for mark, following in itertools.pairwise(marks):
        name, start, end = mark["name"], mark["started"], following["started"]
        seconds = end - start
        inside = (samples["t"] >= start) & (samples["t"] < end)
        per_endpoint = {}
        for code, endpoint in enumerate(ENDPOINTS):
            pick = inside & (samples["endpoint"] == code)
            per_endpoint[endpoint] = endpoint_stats(
                samples["ms"][pick], samples["ok"][pick], samples["status"][pick], seconds
            )
        stage = about.get(name)
        running = [n for t, n in measured["users"] if start <= t < end]
        out[name] = {
            "about": stage.about if stage else "",
            "users": (
                f"{stage.ramp_from}→{stage.users}"
                if stage and stage.ramp_from is not None
                else (stage.users if stage else None)
            ),
            "users_running_min_max": [min(running, default=None), max(running, default=None)],
            "seconds": round(seconds, 1),
            "all": endpoint_stats(
                samples["ms"][inside], samples["ok"][inside], samples["status"][inside], seconds
            ),
            "endpoints": per_endpoint,
            "server_side": server_side(mark["metrics"], following["metrics"]),
            "cpu": sampler.between(start, end),
        }
    return out


def targets(by_stage: dict[str, Any], quick: bool) -> dict[str, Any]:
    held = by_stage.get(TARGET_STAGE, {})
    p95 = {e: s.get("p95_ms") for e, s in held.get("endpoints", {}).items()}
    p95_pass = bool(p95) and all(v is not None and v <= TARGET_P95_MS for v in p95.values())
    errors = {name: stage["all"].get("errors", 0) for name, stage in by_stage.items()}
    spike_pass = sum(errors.values()) == 0 and "spike" in by_stage
    return {
        "note": "from the issue (2 cores): p95 <= 25 ms per endpoint at 200 users (the sustained stage), "
        "0 errors through the 500-user spike (counted over every stage). Latency as locust measured it "
        "(request sent → whole body read), on the same 2 cores as the server; a --quick run is "
        "too short to judge and reports for information",
        "judged": not quick,
        "p95_ms_target": TARGET_P95_MS,
        "sustained_p95_ms": p95,
        "sustained_p95_all_ms": held.get("all", {}).get("p95_ms"),
        "p95_pass": p95_pass,
        "errors_by_stage": errors,
        "zero_errors_pass": spike_pass,
        "pass": p95_pass and spike_pass,
    }


def smoke_check(server: GatewayServer, demo: DemoData) -> dict[str, Any]:
    """One call of each endpoint, checked for shape, before any load: a fast wrong answer is no result."""
    headers = {"X-API-Key": demo.api_keys[TENANT]}
    day = dt.date.fromisoformat(demo.days[len(demo.days) // 2])
    with httpx.Client(base_url=server.url, headers=headers, timeout=30.0) as client:
        ticks = client.get(
            "/api/v1/prices/ticks",
            params={
                "instrument": f"{MARKET}:{demo.locations[0]}",
                "run": RUN,
                "start": f"{day}T00:00:00Z",
                "end": f"{day + dt.timedelta(days=1)}T00:00:00Z",
            },
        )
        latest = client.get("/api/v1/prices/latest", params={"market": MARKET, "run": RUN})
        search = client.get("/api/v1/instruments", params={"market": MARKET, "q": "HUB"})
        curve = client.get(
            "/api/v1/curves/forward",
            params={"market": MARKET, "location": demo.curves[0][0], "as_of_date": demo.curves[0][1]},
        )
    for reply in (ticks, latest, search, curve):
        if reply.status_code != 200:
            raise SystemExit(f"{reply.request.url}: {reply.status_code} {reply.text[:300]}")
    sizes = {
        "ticks_intervals": len(ticks.json()["series"][0]["t"]),
        "latest_items": len(latest.json()["items"]),
        "search_total": search.json()["total"],
        "curve_points": len(curve.json()["points"]["value"]),
    }
    if sizes["ticks_intervals"] != INTERVALS_PER_DAY or sizes["latest_items"] != len(demo.locations):
        raise SystemExit(f"unexpected answers before the load: {sizes}")
    sizes["response_bytes"] = {
        "ticks node-day": len(ticks.content),
        "latest MISO": len(latest.content),
        "instruments search": len(search.content),
        "curve forward": len(curve.content),
    }
    return sizes


# --- the summary -----------------------------------------------------------------------------------------


def summary_table(payload: dict[str, Any]) -> Table:
    table = Table(title="gateway load — client-side latency (ms) and throughput, per stage")
    for column in ("stage", "endpoint", "req/s", "p50", "p95", "p99", "max", "errors", "server ≤25 ms"):
        table.add_column(column, justify="left" if column in ("stage", "endpoint") else "right")
    for name, stage in payload["stages"].items():
        rows = [
            ("all", stage["all"], None),
            *((e, s, stage["server_side"].get(e)) for e, s in stage["endpoints"].items()),
        ]
        for i, (endpoint, s, server) in enumerate(rows):
            if not s.get("n"):
                continue
            table.add_row(
                f"{name} ({stage['users']} users)" if i == 0 else "",
                endpoint,
                f"{s['req_per_s']:.0f}",
                f"{s['p50_ms']:.1f}",
                f"{s['p95_ms']:.1f}",
                f"{s['p99_ms']:.1f}",
                f"{s['max_ms']:.0f}",
                f"{s['errors']}",
                ""
                if not server or server["share_within_25ms"] is None
                else f"{100 * server['share_within_25ms']:.1f}%",
            )
        cpu = stage["cpu"]
        if cpu:
            table.add_row(
                "",
                f"[dim]CPU: server {cpu.get('server_cpu_pct_of_core')}% of a core, locust "
                f"{cpu.get('locust_cpu_pct_of_core')}%, machine {cpu.get('machine_cpu_pct')}% of 2 cores[/]",
                *[""] * 7,
            )
    t = payload["targets"]
    verdict = {True: "PASS", False: "FAIL"}
    table.caption = (
        f"p95 ≤ {TARGET_P95_MS:g} ms at 200 users: {verdict[t['p95_pass']]}; 0 errors through the spike: "
        f"{verdict[t['zero_errors_pass']]}" + ("" if t["judged"] else " (quick run: for information)")
    )
    return table


# --- command line ------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.gateway_load", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="~1 minute of load on 3 days of data")
    parser.add_argument("--days", type=int, default=None, help="days of demo data (default 30; --quick: 3)")
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="the demo data directory (default: a new one under /tmp)"
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="serve the demo data already in --data-dir instead of building it",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory (data, logs, samples)")
    parser.add_argument(
        "--max-wait-quiet",
        type=float,
        default=120.0,
        help="seconds to wait for other work on the machine to stop before the load starts (default 120)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    days = args.days or (3 if args.quick else 30)
    workdir = Path(tempfile.mkdtemp(prefix="marketintel-bench-gateway-", dir="/tmp"))
    data_dir = args.data_dir or workdir / "data"
    created = dt.datetime.now(UTC)
    plan = stages(args.quick)
    payload: dict[str, Any] = {
        "benchmark": "gateway-load",
        "created": created,
        "command": " ".join(["python -m bench.gateway_load", *(argv if argv is not None else sys.argv[1:])]),
        # locust by its metadata: importing it here would monkey-patch this process with gevent
        "machine": machine_info(
            ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "duckdb", "pyarrow", "orjson")
        )
        | {"locust": importlib.metadata.version("locust")},
    }
    try:
        demo = prepare_demo(data_dir, days, args.reuse, workdir / "demo.log")
        payload["data"] = {
            "demo_days": days,
            "built_s": demo.built_s,
            "reused": demo.built_s is None,
            "markets": "7 markets × 200 locations (the demo), DA and real-time runs",
            "miso_rt5_rows": demo.price_rows,
            "miso_locations": len(demo.locations),
            "whole_utc_days": [demo.days[0], demo.days[-1], len(demo.days)],
            "curves": demo.curves_source,
        }
        payload["workload"] = {
            "tenant": f"{TENANT} (API key, api channel), one key shared by every user",
            "think_time_s": list(THINK_TIME_S),
            "mix_weights": {
                "ticks node-day": f"{WEIGHTS['ticks']}: GET /prices/ticks, one MISO location, one UTC day "
                "(288 RT5 intervals), random location and day",
                "latest MISO": f"{WEIGHTS['latest']}: GET /prices/latest?market=MISO&run=RT5 (every MISO instrument)",
                "instruments search": f"{WEIGHTS['instruments']}: GET /instruments?market=MISO&q=<term>",
                "curve forward": f"{WEIGHTS['curve']}: GET /curves/forward?market=MISO&location=&as_of_date= "
                "(monthly points), a random curve of those in the data",
            },
            "stages": [asdict(s) for s in plan],
            "rate_limit": f"MARKETINTEL_RATE_GENERAL_PER_S={RATE_LIMIT_PER_S} so the one tenant is never "
            "throttled; the limiter still runs on every request, so its cost is in the figures",
            "server": "marketintel serve: one uvicorn process on uvloop + httptools (the CLI has no --workers; "
            "DuckDB allows one writing process per file), default logging, audit on (batched, once a second); "
            "snapshots: latest prices, catalog pages and curves for 2 s, node-days ended over a day ago for "
            "300 s, all dropped when the bus announces new data for their market and run",
            "client": "locust FastHttpUser, one process, headless, on the same 2 cores as the server",
        }
        with GatewayServer(
            data_dir, workdir / "server.log", rate_general_per_s=str(RATE_LIMIT_PER_S)
        ) as server:
            payload["smoke_check"] = smoke_check(server, demo)
            payload["machine"]["quiet"] = wait_for_quiet(args.max_wait_quiet)
            measured, sampler, code = run_locust(server, demo, plan, workdir)
            payload["locust_exit_code"] = code
        payload["server_exit_code"] = server.process.returncode if server.process else None
        payload["stages"] = analyse(measured, sampler, plan)
        payload["error_kinds"] = measured["errors"]
        payload["targets"] = targets(payload["stages"], args.quick)
    finally:
        if args.keep:
            console.print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    payload["finished"] = dt.datetime.now(UTC)
    payload["machine"]["load_average_at_end"] = load_average()
    payload["wall_s"] = round((payload["finished"] - created).total_seconds(), 1)
    stem, latest = f"gateway-load-{created:%Y%m%d}", "gateway-load-latest"
    if args.quick:
        stem, latest = f"{stem}-quick", f"{latest}-quick"
    paths = write_results(stem, payload, latest=latest)
    out = Console()
    if not out.is_terminal:
        out = Console(width=160)
    out.print(summary_table(payload))
    console.print("results: " + ", ".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
