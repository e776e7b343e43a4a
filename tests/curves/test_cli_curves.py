"""`marketintel curves build|runs|lineage` as a user runs them."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from tests.helpers import run_cli

QUOTES = """contract,product,start,end,price
Dec26,ATC,2026-12-01,2027-01-01,45.0
Jan27,ATC,2027-01-01,2027-02-01,52.0
Jan27 peak,PEAK,2027-01-01,2027-02-01,60.0
Q2-27,ATC,2027-04-01,2027-07-01,38.0
Q3-27,ATC,2027-07-01,2027-10-01,55.0
Cal28,ATC,2028-01-01,2029-01-01,44.0
"""
BUILD = ("curves", "build", "--market", "PJM", "--location", "WESTERN HUB", "--as-of", "2026-11-20")


def test_offline_build_writes_local_and_utc_times(tmp_path: Path) -> None:
    quotes = tmp_path / "quotes.csv"
    quotes.write_text(QUOTES)
    out = tmp_path / "curve.csv"
    result = run_cli(tmp_path / "data", *BUILD, "--quotes", str(quotes), "--out", str(out))
    assert result.returncode == 0, result.stderr + result.stdout
    rows = list(csv.DictReader(out.open()))
    july = next(r for r in rows if r["product"] == "ATC" and r["delivery_start"].startswith("2027-07-01"))
    assert july["delivery_start"] == "2027-07-01T00:00:00-04:00"  # EDT
    assert july["delivery_start_utc"] == "2027-07-01T04:00:00Z"
    january = next(r for r in rows if r["product"] == "PEAK" and r["delivery_start"].startswith("2027-01-01"))
    assert float(january["value"]) == 60.0
    assert january["delivery_start"].endswith("-05:00")  # EST
    last = rows[-1]
    assert last["delivery_start"].startswith("2050-12-01")
    assert last["modelled"] == "true"
    assert not (tmp_path / "data").exists()  # offline: no store touched


def test_bad_quotes_fail_naming_file_line_and_field(tmp_path: Path) -> None:
    quotes = tmp_path / "quotes.csv"
    quotes.write_text(QUOTES.replace("Jan27 peak,PEAK", "Jan27 peak,ONPEAK"))
    result = run_cli(tmp_path, *BUILD, "--quotes", str(quotes), "--out", str(tmp_path / "c.csv"))
    assert result.returncode == 1
    assert "quotes.csv line 4, field 'product'" in result.stderr


def test_stored_runs_are_recognised_and_lineage_names_the_contracts(tmp_path: Path) -> None:
    quotes = tmp_path / "quotes.csv"
    quotes.write_text(QUOTES)
    first = run_cli(tmp_path, *BUILD, "--quotes", str(quotes))
    assert first.returncode == 0, first.stderr + first.stdout
    run_id = re.search(r"run ([0-9a-f]{32})", first.stdout).group(1)  # type: ignore[union-attr]
    again = run_cli(tmp_path, *BUILD, "--quotes", str(quotes))
    assert "already built" in again.stdout
    assert run_id in again.stdout
    lineage = run_cli(tmp_path, "curves", "lineage", run_id, "--point", "2027-08")
    assert lineage.returncode == 0, lineage.stderr
    rows = [line for line in lineage.stdout.splitlines() if line.startswith("│")]  # data rows (rich)
    assert "Q3-27" in rows[0]  # the largest share of August 2027 comes from Q3
    assert "quotes.csv" in lineage.stdout


def test_offline_hourly_curve_averages_back_to_the_monthly_curve(tmp_path: Path) -> None:
    quotes = tmp_path / "quotes.csv"
    quotes.write_text(QUOTES)
    monthly, hourly = tmp_path / "monthly.csv", tmp_path / "hourly.csv"
    assert run_cli(tmp_path / "data", *BUILD, "--quotes", str(quotes), "--out", str(monthly)).returncode == 0
    result = run_cli(
        tmp_path / "data", *BUILD, "--quotes", str(quotes), "--granularity", "hour", "--out", str(hourly)
    )
    assert result.returncode == 0, result.stderr + result.stdout
    hours = list(csv.DictReader(hourly.open()))
    months = {
        (r["delivery_start"][:7], r["product"]): float(r["value"]) for r in csv.DictReader(monthly.open())
    }
    # November 2027 (DST ends: 721 hours): each block's hours average to the month's block price
    november = [h for h in hours if h["delivery_start"].startswith("2027-11")]
    assert len(november) == 721
    for block in ("PEAK", "OFFPEAK"):
        values = [float(h["value"]) for h in november if h["block"] == block]
        assert sum(values) / len(values) == pytest.approx(months[("2027-11", block)], abs=1e-5)
    assert hours[0]["delivery_start"] == "2026-11-21T00:00:00-05:00"
    assert hours[0]["delivery_start_utc"] == "2026-11-21T05:00:00Z"
