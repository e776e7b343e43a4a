"""The simulator, run for real on small specs: determinism, schemas, clocks, shapes and revisions."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from marketintel.catalog.markets import LOCATION_TYPES, MARKETS
from marketintel.simulate.locations import MAIN_HUBS
from marketintel.simulate.models import SimBatch, SimulationSpec
from marketintel.simulate.service import estimate_rows, instruments, series, simulate
from marketintel.store.models import DATASETS, FORWARD_QUOTES, FUNDAMENTALS, INSTRUMENTS_SCHEMA, SERIES_SCHEMA
from marketintel.store.validation import validate_facts, validate_instruments, validate_series

SMALL = SimulationSpec(date(2024, 3, 4), 3, 7, nodes_per_market=40)
SCHEMAS = {
    "instruments": INSTRUMENTS_SCHEMA,
    "series": SERIES_SCHEMA,
    **{d.name: d.schema for d in DATASETS.values()},
}
REQUIRED = {
    "MISO": [
        "INDIANA.HUB",
        "ILLINOIS.HUB",
        "MICHIGAN.HUB",
        "MINN.HUB",
        "ARKANSAS.HUB",
        "LOUISIANA.HUB",
        "TEXAS.HUB",
        "MS.HUB",
    ],
    "CAISO": ["TH_NP15_GEN-APND", "TH_SP15_GEN-APND", "TH_ZP26_GEN-APND", "DLAP_PGAE-APND"],
    "PJM": [
        "WESTERN HUB",
        "EASTERN HUB",
        "AEP-DAYTON HUB",
        "N ILLINOIS HUB",
        "DOMINION HUB",
        "NEW JERSEY HUB",
        "OHIO HUB",
        "PSEG",
        "BGE",
        "PECO",
        "COMED",
        "DOM",
    ],
    "ERCOT": [
        "HB_NORTH",
        "HB_SOUTH",
        "HB_WEST",
        "HB_HOUSTON",
        "HB_BUSAVG",
        "HB_HUBAVG",
        "LZ_NORTH",
        "LZ_SOUTH",
        "LZ_WEST",
        "LZ_HOUSTON",
        "LZ_AEN",
        "LZ_CPS",
        "LZ_LCRA",
        "LZ_RAYBN",
    ],
    "NYISO": [
        "WEST",
        "GENESE",
        "CENTRL",
        "NORTH",
        "MHK VL",
        "CAPITL",
        "HUD VL",
        "MILLWD",
        "DUNWOD",
        "N.Y.C.",
        "LONGIL",
    ],
    "ISONE": [
        ".H.INTERNAL_HUB",
        ".Z.MAINE",
        ".Z.NEWHAMPSHIRE",
        ".Z.VERMONT",
        ".Z.CONNECTICUT",
        ".Z.RHODEISLAND",
        ".Z.SEMASS",
        ".Z.WCMASS",
        ".Z.NEMASSBOST",
    ],
    "SPP": ["SPPNORTH_HUB", "SPPSOUTH_HUB"],
}


@pytest.fixture(scope="module")
def small() -> list[SimBatch]:
    return list(simulate(SMALL))


@pytest.fixture(scope="module")
def month() -> pa.Table:
    """A 30-day, 7-market run's price facts (few nodes, to stay quick)."""
    spec = SimulationSpec(date(2024, 3, 1), 30, 1, nodes_per_market=40)
    return pa.concat_tables(b.table for b in simulate(spec) if b.dataset == "price_facts")


def _prices(batches: list[SimBatch]) -> list[pa.Table]:
    return [b.table for b in batches if b.dataset == "price_facts"]


def _originals_and_revisions(batches: list[SimBatch]) -> tuple[pa.Table, pa.Table]:
    """Price rows in their first appearance, and the later batches that republish some of them."""
    last_other = max(i for i, b in enumerate(batches) if b.dataset != "price_facts")
    originals = pa.concat_tables(b.table for b in batches[:last_other] if b.dataset == "price_facts")
    revisions = pa.concat_tables(b.table for b in batches[last_other:] if b.dataset == "price_facts")
    return originals, revisions


def _digest(batches: list[SimBatch]) -> str:
    digest = hashlib.sha256()
    for batch in batches:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.table.schema) as writer:
            writer.write_table(batch.table)
        digest.update(batch.dataset.encode())
        digest.update(sink.getvalue().to_pybytes())
    return digest.hexdigest()


def test_same_seed_gives_identical_tables(small: list[SimBatch]) -> None:
    again = list(simulate(SMALL))
    assert [b.dataset for b in again] == [b.dataset for b in small]
    assert all(a.table.equals(b.table) for a, b in zip(again, small, strict=True))


def test_same_seed_gives_identical_bytes_in_another_process() -> None:
    spec = SimulationSpec(date(2024, 3, 9), 2, 5, markets=("CAISO", "ERCOT"), nodes_per_market=20)
    code = (
        f"import sys, datetime; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_simulator import _digest\n"
        "from marketintel.simulate.models import SimulationSpec\n"
        "from marketintel.simulate.service import simulate\n"
        f"print(_digest(list(simulate({spec!r}))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert out == _digest(list(simulate(spec)))


def test_different_seed_gives_different_prices(small: list[SimBatch]) -> None:
    other = list(simulate(SimulationSpec(SMALL.start, SMALL.days, SMALL.seed + 1, nodes_per_market=40)))
    mine, theirs = _prices(small), _prices(other)
    assert not mine[0].equals(theirs[0])
    assert not np.allclose(mine[0]["lmp"].to_numpy(), theirs[0]["lmp"].to_numpy())
    # the map is the same for every seed: only the weather and the prices change
    assert instruments(SMALL).equals(instruments(SimulationSpec(SMALL.start, 1, 99, nodes_per_market=40)))


def test_batches_come_in_order_and_conform_to_their_schemas(small: list[SimBatch]) -> None:
    kinds = [b.dataset for b in small]
    assert kinds[:2] == ["instruments", "series"]
    first_fundamental = kinds.index("fundamental_facts")
    first_forward = kinds.index("forward_quotes")
    assert set(kinds[2:first_fundamental]) == {"price_facts"}
    assert set(kinds[first_fundamental:first_forward]) == {"fundamental_facts"}
    assert kinds[-1] == "price_facts"  # the revisions come last
    for batch in small:
        table = batch.table
        assert table.schema.equals(SCHEMAS[batch.dataset]), batch.dataset
        for field in table.schema:
            if not field.nullable:
                assert table.column(field.name).null_count == 0, (batch.dataset, field.name)


def test_batches_pass_the_store_validation(small: list[SimBatch]) -> None:
    known = {
        "instruments": {
            tuple(r.values())
            for r in validate_instruments(small[0].table).select(["market", "location"]).to_pylist()
        },
        "series": {(s,) for s in validate_series(small[1].table).column("series_id").to_pylist()},
    }
    for batch in small[2:]:
        validate_facts(DATASETS[batch.dataset], batch.table, known.__getitem__)


def test_every_market_has_its_real_hubs_and_enough_locations() -> None:
    table = instruments(SimulationSpec(date(2024, 1, 1), 1, 0))
    markets = set(table.column("market").to_pylist())
    assert len(markets) >= 6
    assert set(table.column("location_type").to_pylist()) <= LOCATION_TYPES
    for market in markets:
        rows = table.filter(pc.equal(table["market"], market))
        names = rows.column("location").to_pylist()
        assert len(names) >= 200
        assert len(set(names)) == len(names)
        assert set(REQUIRED[market]) <= set(names), market
        assert set(rows.column("timezone").to_pylist()) == {MARKETS[market].timezone}
        assert set(rows.column("unit").to_pylist()) == {"USD/MWh"}
    assert pc.sum(pc.equal(table["location_type"], "hub")).as_py() >= 20
    assert "N.Y.C." in table.filter(pc.equal(table["location_type"], "zone"))["location"].to_pylist()


def _counts_by_local_day(tables: list[pa.Table], market: str, run: str) -> dict[date, int]:
    zone = MARKETS[market].zone
    counts: dict[date, set[datetime]] = {}
    for table in tables:
        rows = table.filter(pc.and_(pc.equal(table["market"], market), pc.equal(table["run"], run)))
        for start in set(rows["interval_start"].to_pylist()):
            counts.setdefault(start.astimezone(zone).date(), set()).add(start)
    return {day: len(starts) for day, starts in counts.items()}


@pytest.mark.parametrize(
    ("start", "day", "hours"),
    [(date(2024, 3, 9), date(2024, 3, 10), 23), (date(2024, 11, 2), date(2024, 11, 3), 25)],
)
def test_local_days_follow_daylight_saving(start: date, day: date, hours: int) -> None:
    spec = SimulationSpec(start, 3, 3, markets=("CAISO", "MISO"), nodes_per_market=12)
    tables = [t for t in _prices(list(simulate(spec)))]
    caiso_rt = _counts_by_local_day(tables, "CAISO", "RT5")
    caiso_da = _counts_by_local_day(tables, "CAISO", "DA")
    assert caiso_rt[day] == hours * 12
    assert caiso_da[day] == hours
    assert caiso_da[start] == 24
    assert caiso_rt[start] == 288
    # MISO runs on Eastern Standard Time all year: every day has 24 hours
    assert set(_counts_by_local_day(tables, "MISO", "DA").values()) == {24}
    assert set(_counts_by_local_day(tables, "MISO", "RT5").values()) == {288}


def test_intervals_are_aligned_and_each_batch_has_unique_keys(small: list[SimBatch]) -> None:
    for batch in small:
        table = batch.table
        if "interval_minutes" in table.column_names:
            micros = table["interval_start"].cast(pa.int64()).to_numpy()
            minutes = table["interval_minutes"].to_numpy().astype(np.int64)
            step = np.where(minutes <= 60, minutes, 15) * 60_000_000
            assert (micros % step == 0).all()
        if batch.dataset in DATASETS:
            entity = list(DATASETS[batch.dataset].entity)
            assert table.group_by(entity).aggregate([]).num_rows == table.num_rows, batch.dataset


def test_lmp_is_the_sum_of_its_components(small: list[SimBatch]) -> None:
    for table in _prices(small):
        for column in ("energy", "congestion", "loss"):
            assert table[column].null_count == 0
        total = pc.add(pc.add(table["energy"], table["congestion"]), table["loss"]).to_numpy()
        assert np.abs(total - table["lmp"].to_numpy()).max() <= 1e-9
        # energy is the system price: one value per interval across the market's locations
        per_interval = table.group_by(["interval_start"]).aggregate([("energy", "count_distinct")])
        assert set(per_interval["energy_count_distinct"].to_pylist()) == {1}


def test_knowledge_times(small: list[SimBatch]) -> None:
    originals, _ = _originals_and_revisions(small)
    known = originals["knowledge_time"].cast(pa.int64()).to_numpy()
    start = originals["interval_start"].cast(pa.int64()).to_numpy()
    end = start + originals["interval_minutes"].to_numpy().astype(np.int64) * 60_000_000
    da = originals["run"].to_numpy(zero_copy_only=False) == "DA"
    first_revision = max(i for i, b in enumerate(small) if b.dataset != "price_facts") + 1
    for table in _prices(small[:first_revision]):
        if table["run"][0].as_py() == "DA":  # learned before the delivery day's first hour
            day_start = pc.min(table["interval_start"]).as_py()
            assert pc.max(table["knowledge_time"]).as_py() < day_start
    assert (known[da] < start[da]).all()
    assert (known[~da] > end[~da]).all()
    assert (known[~da] - end[~da] < 10 * 60_000_000).all()


def test_revisions_republish_rows_later_with_another_lmp(small: list[SimBatch]) -> None:
    originals, revisions = _originals_and_revisions(small)
    assert revisions.num_rows > 0
    assert set(revisions["run"].to_pylist()) >= {"DA", "RT5", "RT15"}
    key = ["market", "location", "run", "interval_start"]
    joined = revisions.join(originals, keys=key, right_suffix="_original", join_type="inner")
    assert joined.num_rows == revisions.num_rows  # every revision corrects a row already published
    assert pc.all(pc.greater(joined["knowledge_time"], joined["knowledge_time_original"])).as_py()
    assert pc.all(pc.not_equal(joined["lmp"], joined["lmp_original"])).as_py()
    delay = (
        pc.subtract(joined["knowledge_time"], joined["knowledge_time_original"]).cast(pa.int64()).to_numpy()
    )
    assert (delay >= 86_400_000_000).all()
    assert (delay < 8 * 86_400_000_000).all()
    # a small fraction: about 1% of RT intervals on some days, a few DA hours
    assert revisions.num_rows < 0.01 * originals.num_rows


def test_weekdays_are_dearer_than_weekends() -> None:
    spec = SimulationSpec(date(2024, 3, 4), 28, 2, markets=("PJM",), nodes_per_market=10, rt=False)
    table = pa.concat_tables(_prices(list(simulate(spec))))
    hub = table.filter(pc.and_(pc.equal(table["location"], "WESTERN HUB"), pc.equal(table["run"], "DA")))
    zone = ZoneInfo("America/New_York")
    weekend = np.array([t.astimezone(zone).weekday() >= 5 for t in hub["interval_start"].to_pylist()])
    lmp = hub["lmp"].to_numpy()
    assert lmp[~weekend].mean() > lmp[weekend].mean()


def test_a_month_has_negative_prices_and_scarcity_spikes(month: pa.Table) -> None:
    lmp = month["lmp"].to_numpy()
    assert (lmp < 0).any()
    assert (lmp > 500).any()
    for market, e in (("ERCOT", 5000.0), ("CAISO", 2000.0)):  # within the market's cap
        rows = month.filter(pc.equal(month["market"], market))
        assert pc.max(rows["lmp"]).as_py() <= e
    # the duck curve: CAISO's midday hub price is below its evening price, often negative in spring
    caiso = month.filter(
        pc.and_(pc.equal(month["location"], "TH_SP15_GEN-APND"), pc.equal(month["run"], "DA"))
    )
    zone = MARKETS["CAISO"].zone
    hours = np.array([t.astimezone(zone).hour for t in caiso["interval_start"].to_pylist()])
    lmp = caiso["lmp"].to_numpy()
    assert lmp[(hours >= 11) & (hours <= 13)].mean() < lmp[(hours >= 18) & (hours <= 20)].mean() - 20
    assert (lmp[(hours >= 11) & (hours <= 13)] < 0).any()


def test_fundamentals_tell_the_same_story_as_prices(small: list[SimBatch]) -> None:
    facts = pa.concat_tables(b.table for b in small if b.dataset == "fundamental_facts")
    assert facts.schema.equals(FUNDAMENTALS.schema)
    ids = set(facts["series_id"].to_pylist())
    assert {"MISO.LOAD", "CAISO.SOLAR", "ERCOT.WIND", "HENRY_HUB", "RGGI", "CCA"} <= ids
    assert ids <= set(series(SMALL)["series_id"].to_pylist())
    gas = facts.filter(pc.equal(facts["series_id"], "HENRY_HUB"))
    assert set(gas["interval_minutes"].to_pylist()) == {1440}
    assert gas.num_rows == SMALL.days
    assert pc.min(gas["value"]).as_py() > 1.0
    assert pc.max(gas["value"]).as_py() < 10.0
    chicago = ZoneInfo("America/Chicago")
    assert all(t.astimezone(chicago).hour == 0 for t in gas["interval_start"].to_pylist())
    # high load, high price: PJM's hourly load and its day-ahead system energy move together
    load = facts.filter(pc.equal(facts["series_id"], "PJM.LOAD")).sort_by("interval_start")
    prices, _ = _originals_and_revisions(small)
    da = prices.filter(pc.and_(pc.equal(prices["location"], "WESTERN HUB"), pc.equal(prices["run"], "DA")))
    da = da.sort_by("interval_start")
    assert da["interval_start"].equals(load["interval_start"])
    assert np.corrcoef(load["value"].to_numpy(), da["energy"].to_numpy())[0, 1] > 0.5


def test_forward_quotes(small: list[SimBatch]) -> None:
    quotes = pa.concat_tables(b.table for b in small if b.dataset == "forward_quotes")
    assert quotes.schema.equals(FORWARD_QUOTES.schema)
    assert set(quotes["location"].to_pylist()) == {h for hubs in MAIN_HUBS.values() for h in hubs}
    assert set(quotes["trade_date"].to_pylist()) == {d for d in SMALL.dates if d.weekday() < 5}
    hub = quotes.filter(
        pc.and_(
            pc.equal(quotes["location"], "WESTERN HUB"),
            pc.equal(quotes["trade_date"], pa.scalar(SMALL.start, pa.date32())),
        )
    )
    monthly = hub.filter(pc.equal(hub["product"], "M"))
    cal = hub.filter(pc.equal(hub["product"], "CAL"))
    assert monthly.num_rows == 24 * 3
    assert cal.num_rows == (2035 - SMALL.start.year) * 3
    zone = MARKETS["PJM"].zone
    first = min(monthly["delivery_start"].to_pylist()).astimezone(zone)
    assert (first.date(), first.hour) == (date(2024, 4, 1), 0)
    assert max(cal["delivery_end"].to_pylist()).astimezone(zone).date() == date(2036, 1, 1)
    assert {t.astimezone(zone).hour for t in hub["knowledge_time"].to_pylist()} == {17}
    wide = pl.from_arrow(quotes).pivot(
        on="block", index=["location", "trade_date", "product", "delivery_start"], values="price"
    )
    assert wide.filter((pl.col("ON") <= pl.col("ATC")) | (pl.col("ATC") <= pl.col("OFF"))).is_empty()
    assert wide["ATC"].is_between(5, 300).all()


def test_price_rows_are_traceable_and_estimate_is_close(small: list[SimBatch]) -> None:
    for table in _prices(small):
        sha = set(table["source_file_sha256"].to_pylist())
        assert len(sha) == 1
        assert len(next(iter(sha))) == 64
        assert set(table["source"].to_pylist()) == {"simulator"}
    total = sum(b.table.num_rows for b in small)
    assert abs(estimate_rows(SMALL) - total) < 0.02 * total


def test_spec_rejects_what_it_cannot_simulate() -> None:
    with pytest.raises(ValueError, match="cannot simulate"):
        SimulationSpec(date(2024, 1, 1), 1, 0, markets=("JEPX",))
    with pytest.raises(ValueError, match="unknown dataset"):
        SimBatch("prices", pa.table({}))
    with pytest.raises(ValueError, match="days"):
        SimulationSpec(date(2024, 1, 1), -1, 0)
