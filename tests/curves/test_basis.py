"""Nodal basis from node-minus-hub history, its fallbacks, and nodal curves as hub + basis for many nodes."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from marketintel.curves.basis import OFFPEAK, PEAK, Basis, basis_table, nodal_curves
from marketintel.curves.calendar import HourCalendar, block_hours, hour_calendar, month_starts


def month_of(calendar: HourCalendar) -> np.ndarray:
    return calendar.local_date.astype("datetime64[M]").astype(np.int64) % 12


def hub_history(calendar: HourCalendar, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 40.0 + 15.0 * calendar.is_peak + rng.normal(0.0, 8.0, len(calendar))


def long_table(
    calendar: HourCalendar, spreads: dict[str, np.ndarray], hub: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(instants, prices, node names) of every node's hourly history, node after node."""
    names = np.repeat(np.array(list(spreads), dtype=object), len(calendar))
    prices = np.concatenate([hub + spread for spread in spreads.values()])
    return np.tile(calendar.utc_start, len(spreads)), prices, names


@pytest.fixture(scope="module")
def year() -> HourCalendar:
    return hour_calendar("PJM", dt.date(2025, 1, 1), dt.date(2026, 1, 1))


# --- basis ------------------------------------------------------------------------------------------------


def test_constant_spreads_are_recovered(year: HourCalendar) -> None:
    hub = hub_history(year)
    spreads = {"B.NODE": np.full(len(year), -2.5), "A.NODE": np.full(len(year), 4.0)}
    basis = basis_table("PJM", year.utc_start, hub, *long_table(year, spreads, hub))
    assert basis.nodes.tolist() == ["A.NODE", "B.NODE"]  # sorted
    np.testing.assert_allclose(basis.spread[0], 4.0, atol=1e-9)
    np.testing.assert_allclose(basis.spread[1], -2.5, atol=1e-9)
    assert basis.observations[0].sum() == len(year)
    assert basis.observations[0, 0, PEAK] == 22 * 16  # January 2025: 22 peak days of 16 hours


def test_seasonal_spreads_by_month_and_block_are_recovered(year: HourCalendar) -> None:
    hub = hub_history(year)
    month = month_of(year)
    congestion = np.array([3.0, 2.5, 1.0, 0.0, -1.0, 4.0, 9.0, 8.0, 2.0, 0.5, 1.5, 2.5])
    spreads = {
        "SEASONAL": congestion[month] + np.where(year.is_peak, 1.5, -0.5),
        "LOSSY": 0.03 * hub,  # a loss spread that grows with the price
    }
    basis = basis_table("PJM", year.utc_start, hub, *long_table(year, spreads, hub))
    seasonal = basis.spread[basis.index("SEASONAL")]
    np.testing.assert_allclose(seasonal[:, PEAK], congestion + 1.5, atol=1e-9)
    np.testing.assert_allclose(seasonal[:, OFFPEAK], congestion - 0.5, atol=1e-9)
    lossy = basis.spread[basis.index("LOSSY")]
    for m in (0, 6):
        hours = (month == m) & year.is_peak
        assert lossy[m, PEAK] == pytest.approx(0.03 * hub[hours].mean(), abs=1e-9)


def test_sub_hourly_prices_are_averaged_to_hours_first(year: HourCalendar) -> None:
    hub = hub_history(year)
    steps = np.arange(12) * np.timedelta64(300, "s")
    instants = (year.utc_start[:, None] + steps).ravel()
    node = np.repeat(hub + 3.0, 12) + np.tile(np.linspace(-6.0, 6.0, 12), len(year))  # mean 0 each hour
    # The hub at 5 minutes too, and the node's five-minute rows out of order.
    hub_5 = np.repeat(hub, 12)
    order = np.random.default_rng(1).permutation(len(node))
    basis = basis_table(
        "PJM", instants, hub_5, instants[order], node[order], np.full(len(node), "N", dtype=object)
    )
    np.testing.assert_allclose(basis.spread, 3.0, atol=1e-9)
    assert basis.observations.sum() == len(year)  # hours, not five-minute rows


def test_only_hours_both_have_count_and_non_finite_prices_are_dropped(year: HourCalendar) -> None:
    hub = hub_history(year)
    month = month_of(year)
    node = hub + np.where(month == 0, 5.0, 1.0)
    hub_gappy = hub.copy()
    hub_gappy[month == 0] = np.nan  # the hub has no January
    node[::5] = np.inf
    basis = basis_table(
        "PJM", year.utc_start, hub_gappy, year.utc_start, node, np.zeros(len(year), dtype=np.int64)
    )
    assert basis.nodes.tolist() == [0]
    assert basis.observations[0, 0].sum() == 0
    np.testing.assert_allclose(basis.spread[0], 1.0, atol=1e-9)  # January falls back to the other months
    assert basis.observations.sum() == ((month != 0) & (np.arange(len(year)) % 5 != 0)).sum()


def test_fallbacks_block_then_all_hours_then_zero(year: HourCalendar) -> None:
    hub = hub_history(year)
    month = month_of(year)
    spring = month < 6
    instants, prices, names = [], [], []

    def add(name: str, chosen: np.ndarray, spread: np.ndarray) -> None:
        instants.append(year.utc_start[chosen])
        prices.append((hub + spread)[chosen])
        names.extend([name] * int(chosen.sum()))

    # January to June only: July to December take the block's average over those months.
    add("HALF", spring, np.where(year.is_peak, 2.0 + month, -1.0))
    # Off-peak hours only: the PEAK block takes the node's all-hours average.
    add("NIGHTS", ~year.is_peak, np.full(len(year), 7.0))
    # History only where the hub has none: nothing paired, so 0.
    lonely = hour_calendar("PJM", dt.date(2027, 1, 1), dt.date(2027, 1, 3))
    instants.append(lonely.utc_start)
    prices.append(np.full(len(lonely), 99.0))
    names.extend(["LONELY"] * len(lonely))

    basis = basis_table(
        "PJM", year.utc_start, hub, np.concatenate(instants), np.concatenate(prices), np.array(names)
    )
    half = basis.index("HALF")
    peak_hours = np.array([(spring & year.is_peak & (month == m)).sum() for m in range(6)])
    expected_peak = (peak_hours * (2.0 + np.arange(6))).sum() / peak_hours.sum()
    np.testing.assert_allclose(basis.spread[half, 6:, PEAK], expected_peak, atol=1e-9)
    np.testing.assert_allclose(basis.spread[half, :6, PEAK], 2.0 + np.arange(6), atol=1e-9)
    np.testing.assert_allclose(basis.spread[half, :, OFFPEAK], -1.0, atol=1e-9)
    assert (basis.observations[half, 6:] == 0).all()

    nights = basis.index("NIGHTS")
    np.testing.assert_allclose(basis.spread[nights], 7.0, atol=1e-9)
    assert (basis.observations[nights, :, PEAK] == 0).all()

    lonely_row = basis.index("LONELY")
    np.testing.assert_array_equal(basis.spread[lonely_row], 0.0)
    np.testing.assert_array_equal(basis.observations[lonely_row], 0)


def test_node_names_from_arrow_and_polars(year: HourCalendar) -> None:
    hub = hub_history(year)
    spreads = {"Z": np.full(len(year), 1.0), "Y": np.full(len(year), 2.0)}
    instants, prices, names = long_table(year, spreads, hub)
    half = len(names) // 2 + 5  # chunks whose dictionaries differ
    as_arrow = pl.Series(names.tolist()).to_arrow()
    chunked = pa.chunked_array([as_arrow[:half].dictionary_encode(), as_arrow[half:].dictionary_encode()])
    arrow_instants = (
        pl.Series(instants.astype("datetime64[us]")).to_arrow().cast(pa.timestamp("us", tz="UTC"))
    )
    expected = basis_table("PJM", year.utc_start, hub, instants, prices, names)
    for nodes, when in (
        (chunked, arrow_instants),
        (pl.Series(names.tolist()), pl.Series(instants.astype("datetime64[us]"))),
        (as_arrow, pa.chunked_array([arrow_instants])),
    ):
        arrow_hub, arrow_prices = pl.Series(hub).to_arrow(), pl.Series(prices).to_arrow()
        basis = basis_table("PJM", year.utc_start, arrow_hub, when, arrow_prices, nodes)
        assert basis.nodes.tolist() == ["Y", "Z"]
        np.testing.assert_allclose(basis.spread, expected.spread, atol=1e-12)


def test_bad_inputs_are_refused(year: HourCalendar) -> None:
    hub = hub_history(year)
    with pytest.raises(ValueError, match="node instants"):
        basis_table("PJM", year.utc_start, hub, year.utc_start, hub[:-1], np.zeros(len(year)))
    with pytest.raises(TypeError, match="UTC timestamps"):
        basis_table("PJM", year.utc_start, hub, np.arange(len(year)), hub, np.zeros(len(year)))
    with pytest.raises(ValueError, match="null"):
        basis_table("PJM", year.utc_start, hub, year.utc_start, hub, pa.nulls(len(year), pa.string()))
    basis = basis_table("PJM", year.utc_start, hub, year.utc_start, hub, np.full(len(year), "N"))
    with pytest.raises(KeyError, match="no basis for node 'M'"):
        basis.index("M")


# --- nodal curves -----------------------------------------------------------------------------------------


def test_nodal_curves_are_hub_plus_basis() -> None:
    spread = np.zeros((2, 12, 2))
    spread[0, :, PEAK], spread[0, :, OFFPEAK] = np.arange(12), -np.arange(12)
    spread[1] = 5.0
    basis = Basis(np.array(["A", "B"], dtype=object), spread, np.ones((2, 12, 2), dtype=np.int64))
    starts = [dt.date(2027, 11, 1), dt.date(2027, 12, 1), dt.date(2027, 12, 15), dt.date(2028, 1, 1)]
    hub_peak, hub_offpeak = np.array([60.0, 70.0, 72.0, 80.0]), np.array([40.0, 45.0, 46.0, 50.0])
    curves = nodal_curves(starts, hub_peak, hub_offpeak, basis)
    np.testing.assert_array_equal(curves.peak[0], hub_peak + np.array([10, 11, 11, 0]))
    np.testing.assert_array_equal(curves.offpeak[0], hub_offpeak - np.array([10, 11, 11, 0]))
    np.testing.assert_array_equal(curves.peak[1], hub_peak + 5.0)
    assert curves.atc is None
    assert curves.nodes.tolist() == ["A", "B"]


def test_nodal_atc_is_hour_weighted_and_ignores_empty_blocks() -> None:
    basis = Basis(np.array([1]), np.full((1, 12, 2), 2.0), np.ones((1, 12, 2), dtype=np.int64))
    bounds = [dt.date(2027, 3, 13), dt.date(2027, 3, 15), dt.date(2027, 4, 1)]  # a weekend, then the rest
    hours = block_hours("PJM", bounds)
    curves = nodal_curves(
        bounds[:-1], np.array([np.nan, 60.0]), np.array([30.0, 40.0]), basis, block_hours=hours
    )
    assert curves.atc is not None
    assert curves.atc[0, 0] == pytest.approx(32.0)
    expected = (62.0 * hours[1, 0] + 42.0 * hours[1, 1]) / hours[1].sum()
    assert curves.atc[0, 1] == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="block_hours must have shape"):
        nodal_curves(bounds[:-1], np.zeros(2), np.zeros(2), basis, block_hours=hours[:1])


def test_a_thousand_nodes_in_one_call() -> None:
    calendar = hour_calendar("MISO", dt.date(2025, 6, 1), dt.date(2025, 8, 1))
    hub = hub_history(calendar, seed=4)
    rng = np.random.default_rng(9)
    nodes = 1000
    level = rng.normal(0.0, 5.0, nodes)
    summer = np.where(month_of(calendar) == 6, rng.normal(0.0, 2.0, nodes)[:, None], 0.0)
    prices = (hub + level[:, None] + summer + 2.0 * calendar.is_peak).ravel()
    names = np.repeat(np.array([f"MISO.N{i:04d}" for i in range(nodes)], dtype=object), len(calendar))
    order = rng.permutation(len(prices))
    basis = basis_table(
        "MISO",
        calendar.utc_start,
        hub,
        np.tile(calendar.utc_start, nodes)[order],
        prices[order],
        names[order],
    )
    assert len(basis.nodes) == nodes
    np.testing.assert_allclose(basis.spread[:, 5, OFFPEAK], level, atol=1e-9)
    np.testing.assert_allclose(basis.spread[:, 6, PEAK], level + summer[:, -1] + 2.0, atol=1e-9)

    bounds = [*month_starts(dt.date(2026, 12, 1), dt.date(2051, 1, 1)), dt.date(2051, 1, 1)]
    periods = len(bounds) - 1
    hub_peak, hub_offpeak = np.linspace(50, 90, periods), np.linspace(30, 60, periods)
    curves = nodal_curves(bounds[:-1], hub_peak, hub_offpeak, basis, block_hours=block_hours("MISO", bounds))
    assert curves.peak.shape == curves.offpeak.shape == (nodes, periods)
    july = np.array([d.month == 7 for d in bounds[:-1]])
    np.testing.assert_allclose(curves.peak[:, july], hub_peak[july] + basis.spread[:, 6, PEAK][:, None])
    assert curves.atc is not None
    assert np.isfinite(curves.atc).all()
