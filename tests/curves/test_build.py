"""Building a curve from quotes: reproduction, reconciliation, peak/off-peak blend, DST weights, bad input,
runs (immutable, duplicates recognised) and lineage."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from marketintel.curves.calendar import block_hours, period_hours
from marketintel.curves.models import Quote, QuoteError
from marketintel.curves.quotes import read_quotes
from marketintel.curves.runs import lineage, run_id, save_run
from marketintel.curves.service import DEFAULT_SPREAD_DECAY_HOURS, build_curve, curve_values
from marketintel.metadata.models import CurveRun
from marketintel.metadata.service import engine_for, session_factory, upgrade
from marketintel.store.service import open_timeseries

AS_OF = dt.date(2026, 11, 20)


def q(contract: str, product: str, start: str, end: str, price: float, **band: float) -> Quote:
    return Quote(contract, product, dt.date.fromisoformat(start), dt.date.fromisoformat(end), price, **band)


def average(build: object, product: str, start: dt.date, end: dt.date) -> float:
    """The hour-weighted average of the curve's monthly points of `product` over [start, end)."""
    points = [p for p in build.points if p.product == product and start <= p.delivery_start < end]  # type: ignore[attr-defined]
    hours = np.array(
        [
            period_hours("PJM", p.delivery_start, p.delivery_end)[("ATC", "PEAK", "OFFPEAK").index(product)]
            for p in points
        ]
    )
    return float(np.dot([p.value for p in points], hours) / hours.sum())


MONTHS = [
    q("Dec26", "ATC", "2026-12-01", "2027-01-01", 45.0),
    q("Jan27", "ATC", "2027-01-01", "2027-02-01", 52.0),
    q("Jan27 peak", "PEAK", "2027-01-01", "2027-02-01", 60.0),
    q("Q2-27", "ATC", "2027-04-01", "2027-07-01", 38.0),
    q("Q3-27", "ATC", "2027-07-01", "2027-10-01", 55.0),
    q("Nov27", "ATC", "2027-11-01", "2027-12-01", 41.0),
    q("Cal28", "ATC", "2028-01-01", "2029-01-01", 44.0),
    q("Cal29", "ATC", "2029-01-01", "2030-01-01", 45.0),
]


def test_flat_quotes_give_a_flat_curve() -> None:
    flat = [
        q("Dec26", "ATC", "2026-12-01", "2027-01-01", 40.0),
        q("Q1-27", "ATC", "2027-01-01", "2027-04-01", 40.0),
        q("Jan27", "ATC", "2027-01-01", "2027-02-01", 40.0),
        q("Cal28", "ATC", "2028-01-01", "2029-01-01", 40.0),
    ]
    build, _, _ = build_curve("PJM", "WESTERN HUB", AS_OF, flat, escalation=0.0)
    values = [p.value for p in build.points if p.product == "ATC"]
    assert np.allclose(values, 40.0, atol=1e-6)
    assert not build.adjustments


def test_every_quote_is_reproduced_and_dst_months_weigh_their_real_hours() -> None:
    build, _, _ = build_curve("PJM", "WESTERN HUB", AS_OF, MONTHS)
    for quote in MONTHS:
        assert average(build, quote.product, quote.start, quote.end) == pytest.approx(quote.price, abs=1e-6)
    november = next(
        p for p in build.points if p.product == "ATC" and p.delivery_start == dt.date(2027, 11, 1)
    )
    peak = next(p for p in build.points if p.product == "PEAK" and p.delivery_start == dt.date(2027, 11, 1))
    off = next(p for p in build.points if p.product == "OFFPEAK" and p.delivery_start == dt.date(2027, 11, 1))
    ((hp, ho),) = block_hours("PJM", [dt.date(2027, 11, 1), dt.date(2027, 12, 1)])
    assert hp + ho == 721  # DST ends: a 25-hour day
    assert november.value == pytest.approx((peak.value * hp + off.value * ho) / 721, abs=1e-9)


def test_inconsistent_tenors_are_reconciled_by_hour_weighted_least_squares_and_reported() -> None:
    quotes = [
        q("Jan27", "ATC", "2027-01-01", "2027-02-01", 50.0),
        q("Feb27", "ATC", "2027-02-01", "2027-03-01", 48.0),
        q("Mar27", "ATC", "2027-03-01", "2027-04-01", 44.0),
        q("Q1-27", "ATC", "2027-01-01", "2027-04-01", 49.0),  # the months average ~47.4: an arbitrage
        q("Cal28", "ATC", "2028-01-01", "2029-01-01", 45.0),
    ]
    build, _, _ = build_curve("PJM", "WESTERN HUB", AS_OF, quotes)
    moved = {a.contract: a for a in build.adjustments}
    assert set(moved) == {"Jan27", "Feb27", "Mar27", "Q1-27"}
    hours = np.array([period_hours("PJM", x.start, x.end)[0] for x in quotes[:4]], dtype=float)
    used = np.array([moved[x.contract].used for x in quotes[:4]])
    # consistent afterwards: Q1 is the hour-weighted average of its months
    assert used[3] == pytest.approx(np.dot(used[:3], hours[:3]) / hours[:3].sum(), abs=1e-9)
    # and minimal: the hour-weighted sum of squared moves has zero derivative along the consistent set,
    # i.e. the moves of the months and of Q1 balance by their hours
    deltas = np.array([moved[x.contract].delta for x in quotes[:4]])
    assert np.dot(deltas[:3], hours[:3]) == pytest.approx(-deltas[3] * hours[3], rel=1e-9)
    assert average(build, "ATC", dt.date(2027, 1, 1), dt.date(2027, 4, 1)) == pytest.approx(used[3], abs=1e-6)


def test_peak_offpeak_and_atc_are_honoured_together() -> None:
    quotes = [
        q("Jan27", "ATC", "2027-01-01", "2027-02-01", 50.0),
        q("Jan27 peak", "PEAK", "2027-01-01", "2027-02-01", 60.0),
        q("Jan27 off", "OFFPEAK", "2027-01-01", "2027-02-01", 42.0),  # blend of 60 and 42 is not 50
        q("Cal28", "ATC", "2028-01-01", "2029-01-01", 45.0),
    ]
    build, _, _ = build_curve("PJM", "WESTERN HUB", AS_OF, quotes)
    assert {a.contract for a in build.adjustments} == {"Jan27", "Jan27 peak", "Jan27 off"}
    jan = {p.product: p.value for p in build.points if p.delivery_start == dt.date(2027, 1, 1)}
    ((hp, ho),) = block_hours("PJM", [dt.date(2027, 1, 1), dt.date(2027, 2, 1)])
    assert jan["ATC"] == pytest.approx((jan["PEAK"] * hp + jan["OFFPEAK"] * ho) / (hp + ho), abs=1e-9)
    used = {a.contract: a.used for a in build.adjustments}
    assert jan["PEAK"] == pytest.approx(used["Jan27 peak"], abs=1e-6)


def test_bid_ask_bands_are_respected_and_infeasible_bands_are_named() -> None:
    banded = [
        q("Jan27", "ATC", "2027-01-01", "2027-02-01", 50.0, bid=49.0, ask=51.0),
        q("Feb27", "ATC", "2027-02-01", "2027-03-01", 48.0, bid=47.5, ask=48.5),
        q("Cal28", "ATC", "2028-01-01", "2029-01-01", 45.0),
    ]
    build, _, _ = build_curve("PJM", "WESTERN HUB", AS_OF, banded)
    for quote in banded[:2]:
        value = average(build, "ATC", quote.start, quote.end)
        assert quote.bid - 1e-6 <= value <= quote.ask + 1e-6  # type: ignore[operator]
    infeasible = [
        q("Jan27", "ATC", "2027-01-01", "2027-02-01", 50.0, bid=49.5, ask=50.5),
        q("Feb27", "ATC", "2027-02-01", "2027-03-01", 50.0, bid=49.5, ask=50.5),
        q("JanFeb", "ATC", "2027-01-01", "2027-03-01", 60.0, bid=59.5, ask=60.5),
    ]
    with pytest.raises(QuoteError, match=r"Jan27|Feb27|JanFeb"):
        build_curve("PJM", "WESTERN HUB", AS_OF, infeasible)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("Jan27,ATC,2027-02-01,2027-01-01,50", "line 2, field 'end'"),
        ("Jan27,BASE,2027-01-01,2027-02-01,50", "line 2, field 'product'"),
        ("Jan27,ATC,2027-01-01,2027-02-01,nan", "line 2, field 'price'"),
        ("Jan27,ATC,2027-01-01,2027-02-01,50,51,49", "line 2, field 'bid'"),
        ("Jan27,ATC,2027-01-01,2027-02-01,", "line 2, field 'price': missing"),
        ("Jan27,ATC,2027/01/01,2027-02-01,50", "line 2, field 'start'"),
    ],
)
def test_bad_quotes_are_refused_naming_the_row_and_field(row: str, message: str) -> None:
    data = f"contract,product,start,end,price,bid,ask\n{row}\n".encode()
    with pytest.raises(QuoteError, match=message):
        read_quotes(data, "quotes.csv")


def test_runs_are_immutable_duplicates_are_recognised_and_lineage_names_the_contracts(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.sqlite'}"
    upgrade(url)
    engine = engine_for(url)
    store = open_timeseries(f"duckdb:///{tmp_path / 'ts.duckdb'}")
    try:
        build, _, _ = build_curve("PJM", "WESTERN HUB", AS_OF, MONTHS)
        now = dt.datetime(2026, 11, 20, 22, tzinfo=dt.UTC)
        with session_factory(engine)() as session:
            first = save_run(session, store, build, now)
            session.commit()
            again, _, _ = build_curve("PJM", "WESTERN HUB", AS_OF, MONTHS)
            second = save_run(session, store, again, now + dt.timedelta(hours=1))
            assert first.run_id == second.run_id == run_id(build)
            assert second.duplicate
            assert second.points_written == 0
            assert first.points_written == len(build.points)
            run = session.get(CurveRun, first.run_id)
            assert run is not None
            contributions = lineage(run, dt.date(2027, 8, 1))
        points = store.curve_points(curve_id="PJM:WESTERN HUB:ATC", as_of_date=AS_OF)
    finally:
        store.close()
        engine.dispose()
    assert points.num_rows == len([p for p in build.points if p.product == "ATC"])
    # August 2027 lies in Q3-27's delivery: that quote is what determined it, most of all
    assert contributions[0].quote.contract == "Q3-27"
    assert contributions[0].weight > 0.5


def test_sparse_peak_quotes_leave_the_split_near_the_priors_in_unquoted_months() -> None:
    """Issue 5's drift: PEAK quoted only on the first months, ATC further out. The ATC quotes see only
    the hour-weighted blend, so without the spread tension the PEAK − OFFPEAK split ran off along a line
    (PEAK below −60, OFFPEAK above 140 here)."""
    shape = np.tile([1.2, 0.85], (12, 1))  # the prior's peak premium: 0.35 × the level
    quotes = [
        q("Dec26", "ATC", "2026-12-01", "2027-01-01", 48.0),
        q("Dec26 peak", "PEAK", "2026-12-01", "2027-01-01", 62.0),
        q("Jan27", "ATC", "2027-01-01", "2027-02-01", 55.0),
        q("Jan27 peak", "PEAK", "2027-01-01", "2027-02-01", 75.0),
        q("Feb27", "ATC", "2027-02-01", "2027-03-01", 50.0),
        q("Feb27 peak", "PEAK", "2027-02-01", "2027-03-01", 62.0),
        q("Q2-27", "ATC", "2027-04-01", "2027-07-01", 40.0),
        q("Q3-27", "ATC", "2027-07-01", "2027-10-01", 52.0),
        *[
            q(f"Cal{y}", "ATC", f"20{y}-01-01", f"20{y + 1}-01-01", 44.0 + 0.5 * (y - 28))
            for y in range(28, 36)
        ],
    ]
    split: dict[object, np.ndarray] = {}
    for spread_decay in (None, DEFAULT_SPREAD_DECAY_HOURS):
        curve = curve_values("MISO", AS_OF, quotes, shape=shape, spread_decay_hours=spread_decay)
        reproduced = curve.problem.contracts @ curve.solution.values.ravel()
        np.testing.assert_allclose(reproduced, curve.problem.prices, rtol=0, atol=1e-6)
        np.testing.assert_allclose(curve.problem.prices, [x.price for x in quotes], rtol=0, atol=1e-9)
        prior = curve.problem.prior
        month = curve.month_starts
        starts = np.array(curve.grid.bounds)[month]
        unquoted = (starts >= dt.date(2027, 3, 1)) & (starts < dt.date(2036, 1, 1))
        prior_split = (prior[:, 0] - prior[:, 1])[month]
        split[spread_decay] = (curve.monthly[:, 1] - curve.monthly[:, 2] - prior_split)[unquoted]
    assert np.abs(split[None]).max() > 100.0  # the defect
    held = split[DEFAULT_SPREAD_DECAY_HOURS]
    assert np.abs(held).max() < 15.0  # the quoted premia are 14–20 $/MWh over the ATC
    assert np.abs(held[12:]).max() < 1.0  # from Mar 2028 on, the prior's split
