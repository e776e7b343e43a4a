"""Nodal forward curves: a hub's curve plus each node's basis, the historical node-minus-hub spread by
calendar month and block.

Basis. Node and hub prices are averaged to UTC hours (any finer resolution is fine), paired on the hours
both have, and the spread node − hub is averaged per node over each calendar month (local, by the forward
clock) × block (PEAK, OFFPEAK). A month × block without history falls back to the node's average spread
of that block over all months, then to its average over all its hours, then to 0. All nodes at once, on
a dense node × hour grid (bincounts and one matrix product); nothing loops over nodes.

Nodal curve. Node value = hub value + the node's basis for the period's calendar month and block; the
periods are those of the hub curve (the forward grid's cells, each inside one calendar month).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from marketintel.curves.calendar import HOUR, classify_hours

MONTHS = 12
PEAK, OFFPEAK = 0, 1  # block columns, as in smooth.py
NO_HOUR = np.iinfo(np.int64).min  # the epoch hour of a missing timestamp

Column = np.ndarray | pa.Array | pa.ChunkedArray | pl.Series


@dataclass(frozen=True, eq=False)
class Basis:
    """Each node's spread to the hub, by calendar month (Jan = 0) and block (PEAK, OFFPEAK)."""

    nodes: np.ndarray  # (k,) node names, sorted
    spread: np.ndarray  # (k, 12, 2) float64 mean node − hub in price units, fallbacks filled in
    observations: np.ndarray  # (k, 12, 2) int64 paired hours behind each; 0 = a fallback

    def __post_init__(self) -> None:
        k = len(self.nodes)
        for name in ("spread", "observations"):
            if np.shape(getattr(self, name)) != (k, MONTHS, 2):
                raise ValueError(f"Basis.{name} must have shape {(k, MONTHS, 2)}")

    def index(self, node: object) -> int:
        """The row of `node` in `nodes`, `spread` and the nodal curves."""
        at = int(np.searchsorted(self.nodes, node))
        if at == len(self.nodes) or self.nodes[at] != node:
            raise KeyError(f"no basis for node {node!r}")
        return at


def _numpy(values: Column) -> np.ndarray:
    # Through polars: zero-copy from arrow, and unlike pyarrow's own conversions it does not import pandas.
    return values if isinstance(values, np.ndarray) else pl.Series(values).to_numpy()


def _epoch_hours(instants: Column) -> np.ndarray:
    """UTC epoch hour (floor) of each timestamp, int64; NO_HOUR where the timestamp is missing."""
    instants = _numpy(instants)
    if not np.issubdtype(instants.dtype, np.datetime64):
        raise TypeError(f"instants must be UTC timestamps, not {instants.dtype}")
    return np.where(np.isnat(instants), NO_HOUR, instants.astype("datetime64[s]").astype(np.int64) // HOUR)


def _floats(values: Column) -> np.ndarray:
    return np.asarray(_numpy(values), dtype=float)  # nulls arrive as NaN, dropped with the other non-finite


def _factorise(nodes: Column) -> tuple[np.ndarray, np.ndarray]:
    """(code of each row's node, the distinct node names sorted): code i names names[i]."""
    if not isinstance(nodes, pa.Array | pa.ChunkedArray):
        nodes = pl.Series(nodes).to_arrow()
    if isinstance(nodes, pa.Array):
        nodes = pa.chunked_array([nodes])
    if nodes.null_count:
        raise ValueError(f"{nodes.null_count} node names are null")
    if not pa.types.is_dictionary(nodes.type):
        nodes = pc.dictionary_encode(nodes)  # hashing: several times faster than sorting strings
    nodes = nodes.unify_dictionaries()
    if not nodes.num_chunks:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    dictionary = nodes.chunk(0).dictionary
    text = pa.types.is_string(dictionary.type) or pa.types.is_large_string(dictionary.type)
    names = np.array(dictionary.to_pylist(), dtype=object if text else None)  # a few thousand at most
    codes = np.concatenate([_numpy(c.indices).astype(np.int64) for c in nodes.chunks])
    seen = np.flatnonzero(np.bincount(codes, minlength=len(names)))
    order = seen[np.argsort(names[seen], kind="stable")]
    rank = np.zeros(len(names), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank[codes], names[order]


def _filled(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mean spreads (k, 12, 2) with the fallbacks: block over all months, then all hours, then 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        by_month = sums / counts
        by_block = sums.sum(axis=1) / counts.sum(axis=1)  # (k, 2)
        overall = sums.sum(axis=(1, 2)) / counts.sum(axis=(1, 2))  # (k,)
    by_block = np.where(np.isfinite(by_block), by_block, np.nan_to_num(overall)[:, None])
    return np.where(counts > 0, by_month, by_block[:, None, :])


def basis_table(
    market: str,
    hub_instants: Column,
    hub_prices: Column,
    node_instants: Column,
    node_prices: Column,
    nodes: Column,
) -> Basis:
    """Each node's basis from history. The hub's prices come as `hub_prices` at `hub_instants`; the
    nodes' as one long table: `node_prices[i]` of node `nodes[i]` at `node_instants[i]`. Instants are UTC
    timestamps (numpy datetime64, arrow or polars); node names are strings or integers. Works on a dense
    node × hour grid spanning the nodes' history: ~40 bytes per node-hour at peak (1,000 nodes × 1 year:
    ~350 MB), so give a few years at most."""
    node_hour, node_price = _epoch_hours(node_instants), _floats(node_prices)
    codes, names = _factorise(nodes)
    if not len(node_hour) == len(node_price) == len(codes):
        raise ValueError(f"{len(node_hour)} node instants, {len(node_price)} prices, {len(codes)} nodes")
    keep = np.isfinite(node_price) & (node_hour != NO_HOUR)
    shape = (len(names), MONTHS, 2)
    if not keep.any():
        return Basis(names, np.zeros(shape), np.zeros(shape, dtype=np.int64))
    node_hour, node_price, codes = node_hour[keep], node_price[keep], codes[keep]

    # Hourly means on one grid of hours, hub and nodes alike.
    first = int(node_hour.min())
    span = int(node_hour.max()) - first + 1
    hub_hour, hub_price = _epoch_hours(hub_instants), _floats(hub_prices)
    if len(hub_hour) != len(hub_price):
        raise ValueError(f"{len(hub_hour)} hub instants but {len(hub_price)} hub prices")
    on_grid = np.isfinite(hub_price) & (hub_hour >= first) & (hub_hour < first + span)
    hub_at = hub_hour[on_grid] - first
    with np.errstate(invalid="ignore", divide="ignore"):
        hub = np.bincount(hub_at, hub_price[on_grid], span) / np.bincount(hub_at, minlength=span)
        at = codes * span + (node_hour - first)
        node = np.bincount(at, node_price, len(names) * span) / np.bincount(at, minlength=len(names) * span)
    spread = node.reshape(len(names), span) - hub  # NaN where either has no price
    paired = np.isfinite(spread)

    # Sum over each calendar month × block: a (span, 24) one-hot matrix product.
    month, is_peak = classify_hours(market, ((first + np.arange(span)) * HOUR).astype("datetime64[s]"))
    cell = (month.astype(np.intp) - 1) * 2 + np.where(is_peak, PEAK, OFFPEAK)
    one_hot = np.zeros((span, MONTHS * 2))
    one_hot[np.arange(span), cell] = 1.0
    sums = (np.where(paired, spread, 0.0) @ one_hot).reshape(shape)
    counts = np.rint(paired.astype(float) @ one_hot).astype(np.int64).reshape(shape)
    return Basis(nodes=names, spread=_filled(sums, counts), observations=counts)


@dataclass(frozen=True, eq=False)
class NodalCurves:
    """PEAK, OFFPEAK (and ATC) curves of every node of a basis, over the hub curve's periods."""

    nodes: np.ndarray  # (k,) as in the basis
    peak: np.ndarray  # (k, n)
    offpeak: np.ndarray  # (k, n)
    atc: np.ndarray | None  # (k, n), when block hours were given


def nodal_curves(
    period_starts: Sequence[dt.date],
    hub_peak: np.ndarray,
    hub_offpeak: np.ndarray,
    basis: Basis,
    *,
    block_hours: np.ndarray | None = None,
) -> NodalCurves:
    """Every node's curve: the hub's PEAK and OFFPEAK values of the periods starting at `period_starts`
    plus the node's basis of the period's calendar month. With `block_hours` ((n, 2) PEAK and OFFPEAK
    hours, as `calendar.block_hours` gives) also the hour-weighted ATC; a block without hours adds nothing,
    whatever its value (NaN too)."""
    hub_peak, hub_offpeak = np.asarray(hub_peak, dtype=float), np.asarray(hub_offpeak, dtype=float)
    n = len(period_starts)
    if hub_peak.shape != (n,) or hub_offpeak.shape != (n,):
        raise ValueError(f"hub_peak {hub_peak.shape} and hub_offpeak {hub_offpeak.shape} must be ({n},)")
    month = np.fromiter((d.month - 1 for d in period_starts), dtype=np.intp, count=n)
    peak = hub_peak + basis.spread[:, month, PEAK]
    offpeak = hub_offpeak + basis.spread[:, month, OFFPEAK]
    atc = None
    if block_hours is not None:
        hours = np.asarray(block_hours, dtype=float)
        if hours.shape != (n, 2):
            raise ValueError(f"block_hours must have shape ({n}, 2), not {hours.shape}")
        weighted = np.where(hours[:, PEAK] > 0, peak * hours[:, PEAK], 0.0) + np.where(
            hours[:, OFFPEAK] > 0, offpeak * hours[:, OFFPEAK], 0.0
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            atc = weighted / hours.sum(axis=1)
    return NodalCurves(nodes=basis.nodes, peak=peak, offpeak=offpeak, atc=atc)
