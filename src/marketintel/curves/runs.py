"""Curve runs: stored once (the run id is a digest of everything that determines the curve), their points
written bitemporally to the store, and their lineage: which contracts determined a point.

Lineage is exact for the equality case: the max-smoothness curve is linear in the contract prices, so
∂point/∂price_j — the solver's `influence` — says how much of each contract is in that point.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
from sqlalchemy.orm import Session

from marketintel import __version__
from marketintel.curves import calendar
from marketintel.curves.models import CurveBuild, CurvePoint, Quote
from marketintel.curves.service import PRODUCT_BLOCKS, build_curve
from marketintel.metadata.models import CurveRun
from marketintel.store.engines.base import TimeSeriesStore
from marketintel.store.models import CURVE_POINTS

METHOD_VERSION = "1"  # bump when the curve mathematics change: a new version is a new run
GRANULARITY_CODES = {"month": "M", "day": "D"}


def code_version() -> str:
    return f"{__version__}+m{METHOD_VERSION}"


def curve_id(market: str, location: str, product: str) -> str:
    return f"{market}:{location}:{product}"


def _inputs(build: CurveBuild) -> dict[str, object]:
    return {"quotes": [q.lineage() for q in build.quotes], **build.parameters.get("inputs", {})}


def run_id(build: CurveBuild) -> str:
    identity = {
        "market": build.market,
        "location": build.location,
        "as_of_date": build.as_of_date.isoformat(),
        "parameters": build.parameters,
        "code_version": code_version(),
        **_inputs(build),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]


def _instants(market: str, days: list[dt.date]) -> list[dt.datetime]:
    zone = ZoneInfo(calendar.forward_clock(market))
    return [dt.datetime.combine(d, dt.time(), zone).astimezone(dt.UTC) for d in days]


def points_table(
    build: CurveBuild, rid: str, knowledge_time: dt.datetime, nodes: dict[str, list[CurvePoint]] | None = None
) -> pa.Table:
    """The run's points: the hub's, then each node's (hub + basis), all under the one run id."""
    located = [(build.location, p) for p in build.points]
    for node, node_points in (nodes or {}).items():
        located.extend((node, p) for p in node_points)
    points = [p for _, p in located]
    return pa.table(
        {
            "curve_id": [curve_id(build.market, location, p.product) for location, p in located],
            "scenario_id": ["BASE"] * len(points),
            "as_of_date": [build.as_of_date] * len(points),
            "delivery_start": _instants(build.market, [p.delivery_start for p in points]),
            "delivery_end": _instants(build.market, [p.delivery_end for p in points]),
            "granularity": [GRANULARITY_CODES[build.granularity]] * len(points),
            "value": [p.value for p in points],
            "run_id": [rid] * len(points),
            "knowledge_time": [knowledge_time] * len(points),
        },
        schema=CURVE_POINTS.schema,
    )


@dataclass(frozen=True)
class SavedRun:
    run_id: str
    duplicate: bool
    points_written: int


def save_run(
    session: Session,
    store: TimeSeriesStore,
    build: CurveBuild,
    knowledge_time: dt.datetime,
    nodes: dict[str, list[CurvePoint]] | None = None,
) -> SavedRun:
    """Record the run and write its points; the same inputs again are recognised and write nothing.
    Points are written before the run row is committed (by the caller), so a run row always has points."""
    rid = run_id(build)
    if session.get(CurveRun, rid) is not None:
        return SavedRun(rid, duplicate=True, points_written=0)
    written = store.write(CURVE_POINTS, points_table(build, rid, knowledge_time, nodes)).written
    session.add(
        CurveRun(
            id=rid,
            market=build.market,
            location=build.location,
            as_of_date=build.as_of_date.isoformat(),
            method=str(build.parameters["method"]),
            parameters=build.parameters,
            code_version=code_version(),
            inputs=_inputs(build),
            reconciliation={
                "adjustments": [
                    {"contract": a.contract, "product": a.product, "quoted": a.quoted, "used": a.used}
                    for a in build.adjustments
                ]
            },
            liquid_until=build.liquid_until.isoformat(),
            points=len(build.points),
            objective=build.objective,
        )
    )
    session.flush()
    return SavedRun(rid, duplicate=False, points_written=written)


def stored_quotes(run: CurveRun) -> list[Quote]:
    quotes = []
    for q in run.inputs["quotes"]:
        quotes.append(
            Quote(
                contract=q["contract"],
                product=q["product"],
                start=dt.date.fromisoformat(q["start"]),
                end=dt.date.fromisoformat(q["end"]),
                price=q["price"],
                bid=q["bid"],
                ask=q["ask"],
                source=q["source"],
                source_sha256=q["source_sha256"],
            )
        )
    return quotes


@dataclass(frozen=True)
class Contribution:
    quote: Quote
    weight: float  # ∂point/∂price: the share of this contract's price in the point


def lineage(
    run: CurveRun, month: dt.date, product: str = "ATC", threshold: float = 1e-3
) -> list[Contribution]:
    """The contracts that determined the `product` point of the month starting `month`, largest first.
    Rebuilds the run from its stored inputs (deterministic) and reads the solver's sensitivities."""
    parameters = run.parameters
    build, solution, bounds = build_curve(
        run.market,
        run.location,
        dt.date.fromisoformat(run.as_of_date),
        stored_quotes(run),
        escalation=parameters["escalation"],
        decay_hours=parameters["decay_hours"],
        spread_decay_hours=parameters.get("spread_decay_hours"),  # absent: a run from before the pull
        granularity=parameters["granularity"],
    )
    end = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
    cells = [i for i, start in enumerate(bounds[:-1]) if month <= start < end]
    if not cells:
        raise ValueError(f"the curve has no delivery in {month:%Y-%m} (it runs {bounds[0]} to {bounds[-1]})")
    hours = calendar.block_hours(run.market, bounds).astype(float)
    blocks = PRODUCT_BLOCKS[product]
    total = sum(hours[c, b] for c in cells for b in blocks)
    weights = np.zeros(len(build.quotes))
    for c in cells:
        for b in blocks:
            if hours[c, b]:
                weights += hours[c, b] / total * solution.influence(c, b)
    order = np.argsort(-np.abs(weights))
    return [Contribution(build.quotes[j], float(weights[j])) for j in order if abs(weights[j]) >= threshold]
