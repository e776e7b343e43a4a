"""`marketintel simulate` end to end: deterministic, revisions visible through as-of reads."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from marketintel.store.models import PRICES
from marketintel.store.service import open_timeseries
from tests.helpers import run_cli

ARGS = ("simulate", "--days", "3", "--seed", "1", "--start", "2024-11-02")


def all_facts(data_dir: Path) -> dict[str, pa.Table]:
    store = open_timeseries(f"duckdb:///{data_dir / 'timeseries.duckdb'}", create=False)
    try:
        tables = {}
        for name in ("price_facts", "fundamental_facts", "forward_quotes", "instruments", "series"):
            table = store.query(f"SELECT * FROM {name}")
            tables[name] = table.sort_by([(c, "ascending") for c in table.column_names])
        return tables
    finally:
        store.close()


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("first")
    result = run_cli(data_dir, *ARGS)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "store summary" in result.stdout
    return data_dir


@pytest.mark.slow
def test_same_seed_twice_gives_identical_data(simulated: Path, tmp_path: Path) -> None:
    again = run_cli(tmp_path, *ARGS)
    assert again.returncode == 0, again.stderr
    first, second = all_facts(simulated), all_facts(tmp_path)
    assert first["price_facts"].num_rows > 1_000_000
    for name, table in first.items():
        assert table.equals(second[name]), f"{name} differs between two runs with the same seed"


def test_simulating_again_into_the_same_store_writes_nothing(simulated: Path) -> None:
    before = all_facts(simulated)["price_facts"].num_rows
    again = run_cli(simulated, *ARGS)
    assert again.returncode == 0, again.stderr
    assert all_facts(simulated)["price_facts"].num_rows == before


def test_as_of_reads_return_the_values_known_before_a_revision(simulated: Path) -> None:
    store = open_timeseries(f"duckdb:///{simulated / 'timeseries.duckdb'}", create=False)
    try:
        revised = store.query(
            f"SELECT market, location, run, interval_start, min(knowledge_time) AS first_known, "
            f"max(knowledge_time) AS revised_at, arg_min(lmp, knowledge_time) AS original, "
            f"arg_max(lmp, knowledge_time) AS corrected FROM {PRICES.name} "
            "GROUP BY ALL HAVING count(*) > 1 ORDER BY ALL LIMIT 1"
        ).to_pylist()
        assert revised, "the simulator made no revisions"
        fact = revised[0]
        assert fact["original"] != fact["corrected"]
        window = {
            "market": fact["market"],
            "run": fact["run"],
            "locations": [fact["location"]],
            "start": fact["interval_start"],
            "end": fact["interval_start"] + dt.timedelta(minutes=1),
        }
        latest = store.prices(**window)
        before = store.prices(**window, as_of=fact["revised_at"] - dt.timedelta(microseconds=1))
        assert latest.column("lmp").to_pylist() == [fact["corrected"]]
        assert before.column("lmp").to_pylist() == [fact["original"]]
    finally:
        store.close()


def test_bad_arguments_are_named(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "simulate", "--days", "1", "--markets", "MISO,ATLANTIS")
    assert result.returncode == 2
    assert "ATLANTIS" in result.stderr
    result = run_cli(tmp_path, "simulate", "--days", "1", "--start", "2024-13-01")
    assert result.returncode == 2
    assert "--start" in result.stderr


def test_prices_command_reads_ranges_resamples_and_answers_as_of(simulated: Path) -> None:
    day = [
        "--market",
        "CAISO",
        "--location",
        "TH_NP15_GEN-APND",
        "--start",
        "2024-11-03T07:00Z",
        "--end",
        "2024-11-04T08:00Z",
    ]
    rt = run_cli(simulated, "prices", *day, "--run", "RT5", "--csv")
    assert rt.returncode == 0, rt.stderr
    header, *rows = rt.stdout.strip().split("\n")
    assert header.startswith("market,location,run,interval_start,interval_minutes,lmp")
    assert len(rows) == 300  # the 25-hour Pacific fall-back day
    hourly = run_cli(simulated, "prices", *day, "--run", "RT5", "--resample", "hour", "--csv")
    assert hourly.returncode == 0, hourly.stderr
    assert len(hourly.stdout.strip().split("\n")) == 1 + 25

    store = open_timeseries(f"duckdb:///{simulated / 'timeseries.duckdb'}", create=False)
    try:
        fact = store.query(
            f"SELECT location, run, interval_start, max(knowledge_time) AS revised_at, "
            f"arg_min(lmp, knowledge_time) AS original FROM {PRICES.name} WHERE market = 'CAISO' "
            "GROUP BY ALL HAVING count(*) > 1 ORDER BY ALL LIMIT 1"
        ).to_pylist()[0]
    finally:
        store.close()
    start = fact["interval_start"]
    before = (fact["revised_at"] - dt.timedelta(seconds=1)).isoformat()
    old = run_cli(
        simulated,
        "prices",
        "--market",
        "CAISO",
        "--location",
        fact["location"],
        "--run",
        fact["run"],
        "--start",
        start.isoformat(),
        "--end",
        (start + dt.timedelta(minutes=1)).isoformat(),
        "--as-of",
        before,
        "--csv",
    )
    assert old.returncode == 0, old.stderr
    assert float(old.stdout.strip().split("\n")[1].split(",")[5]) == pytest.approx(fact["original"])
    bad = run_cli(simulated, "prices", *day, "--as-of", "yesterday")
    assert bad.returncode == 2
    assert "--as-of" in bad.stderr
