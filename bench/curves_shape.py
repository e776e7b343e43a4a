"""Hourly shape and nodal curves benchmark: the issue's targets for the forward curves to Dec 2050.

    python -m bench.curves_shape            # 1,000 nodes, 30 hourly-curve runs, 5 nodal runs
    python -m bench.curves_shape --quick    # smoke run: 100 nodes, fewer repeats

Measured, on synthetic PJM data (prices in $/MWh):

* hourly curve — `hourly_curve` for the months 2026-12 … 2050-12 (211,128 hours) from monthly PEAK and
  OFFPEAK values and shape factors, the hour calendar included; p50/p95 against the ≤ 200 ms target. The
  factors come from three years of synthetic hourly hub history (`shape_factors`, timed once, reported).
* 1,000 nodal curves — `basis_table` from one year of hourly history of the hub and 1,000 nodes (8.76 M
  rows, as the store hands them over: arrow string locations and UTC timestamps), then `nodal_curves` to
  Dec 2050 monthly (PEAK, OFFPEAK, ATC); against the ≤ 10 s target. Also the hourly variant: the same
  plus every node's hourly curve to 2050 (1,000 × 211 k values), priced 100 nodes at a time.

Every result is checked (block averages reproduced, the synthetic basis recovered) and the worst error
is reported with the timings.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table

from bench.common import latency_stats, load_average, machine_info, write_results
from marketintel.curves.basis import OFFPEAK, PEAK, basis_table, nodal_curves
from marketintel.curves.calendar import block_hours, classify_hours, hour_calendar, month_starts
from marketintel.curves.shape import ShapeFactors, hourly_curve, hourly_shape, shape_factors

MARKET = "PJM"
CURVE_START, CURVE_END = dt.date(2026, 12, 1), dt.date(2051, 1, 1)
SHAPE_HISTORY = (dt.date(2023, 11, 1), dt.date(2026, 11, 1))
BASIS_HISTORY = (dt.date(2025, 11, 1), dt.date(2026, 11, 1))
TARGET_HOURLY_MS = 200.0
TARGET_NODAL_S = 10.0
NODE_CHUNK = 100  # nodes priced hourly at once: 100 × 211 k float64 = 169 MB

console = Console(stderr=True)


def timed(run: Callable[[], Any], repeat: int, warmup: int = 1) -> tuple[list[float], Any]:
    """Wall-clock seconds of `repeat` calls after `warmup` untimed ones, and the last result."""
    result = None
    for _ in range(warmup):
        result = run()
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        seconds.append(time.perf_counter() - start)
    return seconds, result


def hub_history(start: dt.date, end: dt.date, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(UTC hour starts, $/MWh) of a hub with a daily, weekly and seasonal shape and noise."""
    calendar = hour_calendar(MARKET, start, end)
    month = calendar.local_date.astype("datetime64[M]").astype(np.int64) % 12
    daily = 1.0 + 0.35 * np.sin((calendar.hour_beginning - 9) / 24 * 2 * np.pi)
    weekly = np.array([1.0, 0.85, 0.75])[calendar.day_type]
    seasonal = 1.0 + 0.25 * np.cos(month / 12 * 2 * np.pi) + 0.3 * np.isin(month, [6, 7])
    prices = 42.0 * daily * weekly * seasonal * rng.lognormal(0.0, 0.15, len(calendar))
    return calendar.utc_start, prices


def monthly_values(periods: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    offpeak = 35.0 + 8.0 * np.cos(np.arange(periods) / 12 * 2 * np.pi) + rng.normal(0.0, 2.0, periods)
    return offpeak * 1.35, offpeak


def block_error(shape_group: np.ndarray, values: np.ndarray, hours: np.ndarray, prices: np.ndarray) -> float:
    """Worst |block average of the hourly values − the block price| over the periods' blocks with hours."""
    sums = np.bincount(shape_group, values, minlength=hours.size)
    used = hours.ravel() > 0
    return float(np.abs(sums[used] / hours.ravel()[used] - prices.ravel()[used]).max())


def bench_hourly(repeat: int, rng: np.random.Generator) -> tuple[dict, ShapeFactors]:
    instants, prices = hub_history(*SHAPE_HISTORY, rng)
    factor_seconds, factors = timed(lambda: shape_factors(MARKET, instants, prices), repeat=3)
    boundaries = [*month_starts(CURVE_START, CURVE_END), CURVE_END]
    peak, offpeak = monthly_values(len(boundaries) - 1, rng)
    seconds, (calendar, values) = timed(
        lambda: hourly_curve(MARKET, boundaries, peak, offpeak, factors), repeat=repeat, warmup=2
    )
    shape = hourly_shape(MARKET, boundaries, factors)
    error = block_error(shape.group, values, shape.block_hours, np.stack([peak, offpeak], axis=1))
    stats = latency_stats(seconds)
    return {
        "months": len(boundaries) - 1,
        "hours": len(calendar),
        "history_hours": len(instants),
        "shape_factors_ms": latency_stats(factor_seconds),
        "latency_ms": stats,
        "target_ms": TARGET_HOURLY_MS,
        "meets_target": stats["p95_ms"] <= TARGET_HOURLY_MS,
        "max_block_error": error,
    }, factors


def node_history(nodes: int, rng: np.random.Generator) -> tuple[dict[str, Any], np.ndarray]:
    """The hub's and `nodes` nodes' hourly history as the store returns it (arrow columns), and each node's
    true (12, 2) basis."""
    instants, hub = hub_history(*BASIS_HISTORY, rng)
    month, is_peak = classify_hours(MARKET, instants)
    block = np.where(is_peak, PEAK, OFFPEAK)
    truth = rng.normal(0.0, 4.0, (nodes, 1, 1)) + rng.normal(0.0, 1.5, (nodes, 12, 2))
    noise = rng.normal(0.0, 1.0, (nodes, len(instants)))  # averages out to ~0.05 per month-block
    prices = hub + truth[:, month.astype(np.intp) - 1, block] + noise
    names = pl.Series([f"{MARKET}.N{i:05d}" for i in range(nodes)])
    utc = pl.Series(instants.astype("datetime64[us]")).dt.replace_time_zone("UTC")
    columns = {
        "hub_instants": utc.to_arrow(),
        "hub_prices": pl.Series(hub).to_arrow(),
        "node_instants": pl.concat([utc] * nodes).to_arrow(),
        "node_prices": pl.Series(prices.ravel()).to_arrow(),
        "nodes": names.gather(np.repeat(np.arange(nodes), len(instants))).to_arrow(),
    }
    cell = (month.astype(np.intp) - 1) * 2 + block
    one_hot = np.zeros((len(cell), 24))
    one_hot[np.arange(len(cell)), cell] = 1.0
    noise_mean = (noise @ one_hot) / one_hot.sum(axis=0)
    return columns, truth + noise_mean.reshape(nodes, 12, 2)


def bench_nodal(nodes: int, repeat: int, factors: ShapeFactors, rng: np.random.Generator) -> dict:
    columns, expected = node_history(nodes, rng)
    boundaries = [*month_starts(CURVE_START, CURVE_END), CURVE_END]
    starts, hours = boundaries[:-1], block_hours(MARKET, boundaries)
    hub_peak, hub_offpeak = monthly_values(len(starts), rng)

    def monthly() -> Any:
        basis = basis_table(MARKET, **columns)
        return basis, nodal_curves(starts, hub_peak, hub_offpeak, basis, block_hours=hours)

    def hourly() -> float:
        _, curves = monthly()
        shape = hourly_shape(MARKET, boundaries, factors)
        checksum = 0.0
        for first in range(0, nodes, NODE_CHUNK):
            chunk = slice(first, first + NODE_CHUNK)
            checksum += float(shape.apply(curves.peak[chunk], curves.offpeak[chunk])[:, ::997].sum())
        return checksum

    seconds, (basis, curves) = timed(monthly, repeat=repeat)
    basis_seconds, _ = timed(lambda: basis_table(MARKET, **columns), repeat=repeat, warmup=0)
    hourly_seconds, _ = timed(hourly, repeat=max(1, repeat // 2), warmup=0)
    order = np.argsort([f"{MARKET}.N{i:05d}" for i in range(nodes)])
    basis_error = float(np.abs(basis.spread - expected[order]).max())
    curve_error = float(
        np.abs(curves.peak - (hub_peak + basis.spread[:, [d.month - 1 for d in starts], PEAK])).max()
    )
    stats = latency_stats(seconds)
    hourly_stats = latency_stats(hourly_seconds)
    return {
        "nodes": nodes,
        "history_rows": len(columns["node_prices"]),
        "months": len(starts),
        "basis_plus_monthly_ms": stats,
        "basis_only_ms": latency_stats(basis_seconds),
        "target_s": TARGET_NODAL_S,
        "meets_target": stats["p95_ms"] / 1000 <= TARGET_NODAL_S,
        "with_hourly_ms": hourly_stats,
        "hourly_values": nodes * int(hours.sum()),
        "hourly_meets_target": hourly_stats["p95_ms"] / 1000 <= TARGET_NODAL_S,
        "max_basis_error": basis_error,
        "max_curve_error": curve_error,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=30, help="timed hourly-curve runs")
    parser.add_argument("--nodal-repeat", type=int, default=5, help="timed nodal runs")
    parser.add_argument("--quick", action="store_true", help="100 nodes, 5 and 2 repeats")
    parser.add_argument("--seed", type=int, default=20261122)
    args = parser.parse_args(argv)
    nodes, repeat, nodal_repeat = (100, 5, 2) if args.quick else (args.nodes, args.repeat, args.nodal_repeat)
    rng = np.random.default_rng(args.seed)
    load_before = load_average()
    with console.status("hourly curve to 2050…"):
        hourly, factors = bench_hourly(repeat, rng)
    with console.status(f"basis and nodal curves for {nodes:,} nodes…"):
        nodal = bench_nodal(nodes, nodal_repeat, factors, rng)
    payload = {
        "benchmark": "curves-shape",
        "created": dt.datetime.now(dt.UTC).isoformat(),
        "command": "python -m bench.curves_shape" + (" --quick" if args.quick else ""),
        "machine": machine_info(("numpy", "polars", "pyarrow")),
        "load_average": {"before": load_before, "after": load_average()},
        "market": MARKET,
        "curve": {"start": CURVE_START, "end": CURVE_END},
        "hourly_curve": hourly,
        "nodal_curves": nodal,
    }
    suffix = "-quick" if args.quick else ""
    paths = write_results(
        f"curves-shape-{dt.date.today():%Y%m%d}{suffix}", payload, latest=f"curves-shape-latest{suffix}"
    )

    def verdict(ok: bool) -> str:
        return "[green]met[/green]" if ok else "[red]missed[/red]"

    lat, nod = hourly["latency_ms"], nodal["basis_plus_monthly_ms"]
    table = Table("measurement", "p50", "p95", "target", "", title="hourly shape and nodal curves")
    table.add_row(
        f"hourly curve to 2050 ({hourly['hours']:,} h, calendar incl.)",
        f"{lat['p50_ms']:.1f} ms",
        f"{lat['p95_ms']:.1f} ms",
        f"≤ {TARGET_HOURLY_MS:.0f} ms",
        verdict(hourly["meets_target"]),
    )
    table.add_row(
        f"{nodes:,} nodal curves: basis ({nodal['history_rows']:,} rows) + monthly to 2050",
        f"{nod['p50_ms'] / 1000:.2f} s",
        f"{nod['p95_ms'] / 1000:.2f} s",
        f"≤ {TARGET_NODAL_S:.0f} s",
        verdict(nodal["meets_target"]),
    )
    with_hourly = nodal["with_hourly_ms"]
    table.add_row(
        f"  … and hourly ({nodal['hourly_values'] / 1e6:,.0f} M values)",
        f"{with_hourly['p50_ms'] / 1000:.2f} s",
        f"{with_hourly['p95_ms'] / 1000:.2f} s",
        f"≤ {TARGET_NODAL_S:.0f} s",
        verdict(nodal["hourly_meets_target"]),
    )
    table.add_row("  of which basis_table", f"{nodal['basis_only_ms']['p50_ms'] / 1000:.2f} s", "", "", "")
    table.add_row(
        f"shape factors ({hourly['history_hours']:,} h of history)",
        f"{hourly['shape_factors_ms']['p50_ms']:.1f} ms",
        "",
        "",
        "",
    )
    console.print(table)
    console.print(
        f"worst errors: hourly block average {hourly['max_block_error']:.1e}, "
        f"basis vs truth {nodal['max_basis_error']:.1e}, nodal curve {nodal['max_curve_error']:.1e} ($/MWh)"
    )
    console.print(f"load average before/after: {load_before} / {load_average()}")
    console.print(f"results: {', '.join(str(p) for p in paths)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
