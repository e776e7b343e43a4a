"""`marketintel curves build|lineage|runs`: forward curves from contract quotes, their runs and lineage."""

# heavy modules are imported inside the commands, so `marketintel --help` and every other command start fast
from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from marketintel.cli.context import console, fail, settings

if TYPE_CHECKING:
    from marketintel.curves.models import CurveBuild, CurvePoint
    from marketintel.curves.shape import ShapeFactors
    from marketintel.curves.smooth import SmoothSolution

app = typer.Typer(help="Forward curves: build, lineage, runs.", no_args_is_help=True)


def _date(option: str, text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise fail(f"{option}: {text!r} is not a date (YYYY-MM-DD)", 2) from None


def write_csv(build: CurveBuild, path: Path) -> int:
    """delivery_start, delivery_end in market-local ISO-8601 (with offset), the UTC start, product, value."""
    from marketintel.curves import calendar

    zone = ZoneInfo(calendar.forward_clock(build.market))
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(
            ["delivery_start", "delivery_end", "delivery_start_utc", "product", "value", "modelled"]
        )
        for p in build.points:
            start = dt.datetime.combine(p.delivery_start, dt.time(), zone)
            end = dt.datetime.combine(p.delivery_end, dt.time(), zone)
            utc = start.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            writer.writerow(
                [
                    start.isoformat(),
                    end.isoformat(),
                    utc,
                    p.product,
                    f"{p.value:.6f}",
                    str(p.modelled).lower(),
                ]
            )
    return len(build.points)


def _report(build: CurveBuild, detailed: bool = True) -> None:
    console.print(
        f"{build.market} {build.location} as of {build.as_of_date}: {len(build.quotes)} quotes, "
        f"{len(build.points)} points, traded until {build.liquid_until}, solver {build.solver}"
    )
    if build.adjustments and not detailed:
        largest = max(abs(a.delta) for a in build.adjustments)
        console.print(
            f"  reconciliation adjusted {len(build.adjustments)} quotes (largest {largest:.4f} $/MWh)"
        )
    elif build.adjustments:
        table = Table(
            "contract",
            "product",
            "quoted",
            "used",
            "Δ",
            title="reconciliation: quotes adjusted to remove arbitrage",
        )
        for a in build.adjustments:
            table.add_row(a.contract, a.product, f"{a.quoted:.4f}", f"{a.used:.4f}", f"{a.delta:+.4f}")
        console.print(table)


@app.command("build")
def build(
    market: str | None = typer.Option(None, help="market code, e.g. MISO"),
    location: str | None = typer.Option(None, help="the hub, e.g. INDIANA.HUB"),
    as_of: str | None = typer.Option(None, "--as-of", help="as-of (trade) date YYYY-MM-DD"),
    quotes: Path | None = typer.Option(None, help="CSV: contract, product, start, end, price[, bid, ask]"),
    granularity: str = typer.Option("month", help="month | day | hour (hour: with --out)"),
    out: Path | None = typer.Option(None, help="write the curve as CSV here (offline: no store needed)"),
    demo: bool = typer.Option(False, "--demo", help="build every demo hub from the store's forward quotes"),
) -> None:
    """Build a max-smoothness forward curve to Dec 2050 from contract quotes."""
    from marketintel.curves.models import QuoteError
    from marketintel.curves.quotes import read_quotes_file
    from marketintel.curves.service import build_curve

    if granularity not in ("month", "day", "hour"):
        raise fail(f"--granularity: {granularity!r} is not month, day or hour", 2)
    if granularity == "hour" and out is None:
        raise fail("--granularity hour writes a file: give --out (stored curves are monthly or daily)", 2)
    if demo:
        build_demo(granularity)
        return
    if not (market and location and as_of and quotes):
        raise fail("give --market, --location, --as-of and --quotes (or --demo)", 2)
    try:
        curve, solution, bounds = build_curve(
            market,
            location,
            _date("--as-of", as_of),
            read_quotes_file(quotes),
            granularity="month" if granularity == "hour" else granularity,
        )
    except (QuoteError, ValueError) as exc:
        raise fail(str(exc)) from None
    _report(curve)
    if granularity == "hour" and out is not None:
        console.print(
            f"wrote {write_hourly_csv(curve, solution, bounds, history_factors(market, location), out)} hours to {out}"
        )
        return
    if out is not None:
        console.print(f"wrote {write_csv(curve, out)} points to {out}")
        return
    _save([curve])


def history_factors(market: str, location: str) -> ShapeFactors:
    """The hub's hourly shape from the store's day-ahead history when there is one; flat otherwise."""
    from marketintel.curves.shape import ShapeFactors, shape_factors
    from marketintel.curves.sources import day_ahead_history
    from marketintel.store.service import open_timeseries

    config = settings()
    store_file = config.data_dir / "timeseries.duckdb"
    if config.timeseries_url.startswith("duckdb") and not store_file.exists():
        console.print("no store here: the hourly shape is flat (load history to shape the hours)")
        return ShapeFactors.flat()
    store = open_timeseries(config.timeseries_url)
    try:
        history = day_ahead_history(store, market, [location])
    finally:
        store.close()
    if not history.num_rows:
        console.print(f"no day-ahead history of {market} {location}: the hourly shape is flat")
        return ShapeFactors.flat()
    console.print(f"hourly shape from {history.num_rows} day-ahead prices of {location}")
    instants = history.column("interval_start").to_numpy().astype("datetime64[s]")
    return shape_factors(market, instants, history.column("lmp").to_numpy())


def write_hourly_csv(
    build: CurveBuild, solution: SmoothSolution, bounds: list[dt.date], factors: ShapeFactors, path: Path
) -> int:
    """One row per delivery hour to Dec 2050: local and UTC start, its block, value (each month's ATC, PEAK
    and OFFPEAK averages are exactly the monthly curve's)."""
    import numpy as np

    from marketintel.curves import calendar
    from marketintel.curves.service import hourly_values

    hours = calendar.hour_calendar(build.market, bounds[0], bounds[-1])
    starts, values = hourly_values(build.market, bounds, solution, factors)
    local = (starts + hours.utc_offset.astype("timedelta64[s]")).astype(str)
    offsets = [
        f"{'+' if o >= 0 else '-'}{abs(o) // 3600:02d}:{abs(o) % 3600 // 60:02d}"
        for o in hours.utc_offset.tolist()
    ]
    liquid = np.datetime64(build.liquid_until, "D")
    modelled = hours.local_date >= liquid
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["delivery_start", "delivery_start_utc", "block", "value", "modelled"])
        for i, value in enumerate(values.tolist()):
            writer.writerow(
                [
                    f"{local[i]}{offsets[i]}",
                    f"{starts[i]}Z",
                    "PEAK" if hours.is_peak[i] else "OFFPEAK",
                    f"{value:.6f}",
                    "true" if modelled[i] else "false",
                ]
            )
    return len(values)


def _save(builds: list[CurveBuild], nodes: list[dict[str, list[CurvePoint]]] | None = None) -> None:
    from marketintel.curves.runs import save_run
    from marketintel.metadata.service import engine_for, session_factory, upgrade
    from marketintel.store.service import open_timeseries

    config = settings()
    upgrade(config.metadata_url)
    engine = engine_for(config.metadata_url)
    store = open_timeseries(config.timeseries_url)
    now = dt.datetime.now(dt.UTC)
    try:
        with session_factory(engine)() as session:
            for i, curve in enumerate(builds):
                saved = save_run(session, store, curve, now, nodes[i] if nodes else None)
                state = (
                    "already built (same inputs): nothing written"
                    if saved.duplicate
                    else f"{saved.points_written} points written"
                )
                console.print(f"run {saved.run_id}: {curve.market} {curve.location} — {state}")
            session.commit()
    finally:
        store.close()
        engine.dispose()


def build_demo(granularity: str = "month") -> None:
    """Every demo hub's curve from its latest trade date's quotes in the store; returns the run ids."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from marketintel.curves.service import build_curve, nodal_points
    from marketintel.curves.sources import (
        day_ahead_history,
        demo_hubs,
        history_shape,
        nodal_basis,
        store_quotes,
    )
    from marketintel.metadata.service import upgrade
    from marketintel.store.service import open_timeseries

    config = settings()
    upgrade(config.metadata_url)
    store = open_timeseries(config.timeseries_url)
    builds, nodes = [], []
    nodes_done: set[str] = set()
    try:
        hubs_of = demo_hubs(store)
        for market, location, trade_date in hubs_of:
            curve, solution, bounds = build_curve(
                market,
                location,
                trade_date,
                store_quotes(store, market, location, trade_date),
                shape=history_shape(store, market, location),
                granularity=granularity,
            )
            # each node hangs off its market's first hub (one curve per node); other hubs have their own
            node_points: dict[str, list[CurvePoint]] = {}
            if market not in nodes_done:
                history = day_ahead_history(store, market)
                hubs = {h for m, h, _ in hubs_of if m == market}
                others = history.filter(
                    pc.invert(
                        pc.is_in(history.column("location"), pa.array(sorted(hubs - {location}), pa.string()))
                    )
                )
                node_points = nodal_points(curve, solution, bounds, nodal_basis(market, location, others))
                # the basis is an input of the run: other history, another run
                starts = others.column("interval_start")
                curve.parameters["nodal_basis"] = {
                    "history_rows": others.num_rows,
                    "history_from": str(pc.min(starts).as_py()),
                    "history_to": str(pc.max(starts).as_py()),
                }
                nodes_done.add(market)
                console.print(
                    f"  {len(node_points)} nodal curves: hub + basis from {history.num_rows} day-ahead prices"
                )
            _report(curve, detailed=False)
            builds.append(curve)
            nodes.append(node_points)
    finally:
        store.close()
    _save(builds, nodes)


@app.command("lineage")
def lineage_cmd(
    run_id: str = typer.Argument(..., help="a curve run id"),
    point: str = typer.Option(..., help="the delivery month, YYYY-MM"),
    product: str = typer.Option("ATC", help="ATC | PEAK | OFFPEAK"),
) -> None:
    """The contracts (and their raw sources) that determined one point of a curve run."""
    from marketintel.curves.runs import lineage
    from marketintel.metadata.models import CurveRun
    from marketintel.metadata.service import engine_for, session_factory

    month = _date("--point", f"{point}-01")
    config = settings()
    engine = engine_for(config.metadata_url)
    try:
        with session_factory(engine)() as session:
            run = session.get(CurveRun, run_id)
            if run is None:
                raise fail(f"no curve run {run_id!r} (see `marketintel curves runs`)")
            try:
                contributions = lineage(run, month, product.upper())
            except ValueError as exc:
                raise fail(str(exc)) from None
    finally:
        engine.dispose()
    table = Table(
        "contract",
        "product",
        "delivery",
        "price",
        "weight",
        "source",
        "sha256",
        title=f"{run.market} {run.location} {product} {point}: ∂point/∂price",
    )
    for c in contributions:
        q = c.quote
        table.add_row(
            q.contract,
            q.product,
            f"{q.start}..{q.end}",
            f"{q.price:.4f}",
            f"{c.weight:+.4f}",
            q.source,
            (q.source_sha256 or "")[:16],
        )
    console.print(table)


@app.command("runs")
def runs(market: str | None = typer.Option(None)) -> None:
    """Curve runs, newest first."""
    from marketintel.metadata.models import CurveRun
    from marketintel.metadata.service import engine_for, session_factory, upgrade

    config = settings()
    upgrade(config.metadata_url)
    engine = engine_for(config.metadata_url)
    try:
        with session_factory(engine)() as session:
            query = session.query(CurveRun).order_by(CurveRun.created_at.desc())
            if market:
                query = query.filter(CurveRun.market == market)
            rows = query.limit(200).all()
    finally:
        engine.dispose()
    table = Table("run", "market", "location", "as of", "quotes", "adjusted", "traded until", "points")
    for r in rows:
        table.add_row(
            r.id,
            r.market,
            r.location,
            r.as_of_date,
            str(len(r.inputs["quotes"])),
            str(len(r.reconciliation["adjustments"])),
            r.liquid_until,
            str(r.points),
        )
    console.print(table)
