"""The physical order facts are written in: by entity (market, run, location, time for prices).

Sources publish in feed order (every location for one interval, then the next interval), which spreads one
location's day across a whole market-day of rows. Writing each batch sorted by entity keeps a location-day
in one or two row groups, so the engine's min/max zone maps skip everything else on a read. The same sort
finds repeated entities in a batch as adjacent rows, for free.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from marketintel.store.coded import is_coded_text, is_text
from marketintel.store.models import Dataset


@dataclass(frozen=True)
class EntityOrder:
    indices: np.ndarray | None  # row order that sorts the batch by its entity columns; None: in order already
    repeats: bool  # whether some entity appears in more than one row
    encoded: dict[str, pa.DictionaryArray]  # text entity columns, dictionary-encoded on the way

    def sorted_for_insert(self, table: pa.Table) -> pa.Table:
        """The batch in entity order, text columns dictionary-encoded: taking integer codes is far cheaper
        than copying strings, and an engine scanning Arrow reads dictionary columns natively."""
        columns = []
        for name in table.column_names:
            column = self.encoded.get(name)
            if column is None:
                array = table.column(name).combine_chunks()
                column = pc.dictionary_encode(array) if is_text(array.type) else array
            columns.append(column if self.indices is None else column.take(self.indices))
        return pa.Table.from_arrays(columns, names=table.column_names)

    def take(self, table: pa.Table) -> pa.Table:
        """The batch in entity order."""
        return table if self.indices is None else table.take(self.indices)


def sort_key(column: pa.ChunkedArray, encoded: dict[str, pa.DictionaryArray], name: str) -> np.ndarray:
    """Integers that order like the column: ranks of the distinct values for text (coded on the way, unless
    it came coded: see store/coded.py), the values otherwise."""
    array = column.combine_chunks()
    if is_text(array.type) or is_coded_text(array.type):
        codes = array if is_coded_text(array.type) else pc.dictionary_encode(array)
        encoded[name] = codes
        # the rank of each value in sorted order (equal values, equal ranks), looked up through the codes
        ranks = pc.rank(codes.dictionary, "ascending", tiebreaker="dense").to_numpy().astype(np.int64)
        return ranks[codes.indices.to_numpy(zero_copy_only=False)]
    if pa.types.is_timestamp(array.type):
        return array.cast(pa.int64()).to_numpy(zero_copy_only=False)
    if pa.types.is_date32(array.type):
        return array.cast(pa.int32()).to_numpy(zero_copy_only=False)
    return array.to_numpy(zero_copy_only=False)


def sort_columns(dataset: Dataset) -> tuple[str, ...]:
    """The entity columns in sort order: for prices, run before location so a market-run stays together."""
    first = [c for c in ("market", "series_id", "curve_id", "run", "scenario_id") if c in dataset.entity]
    return (*first, *(c for c in dataset.entity if c not in first))


def entity_order(dataset: Dataset, table: pa.Table) -> EntityOrder:
    encoded: dict[str, pa.DictionaryArray] = {}
    keys = [sort_key(table.column(c), encoded, c) for c in sort_columns(dataset)]
    # a parser that emits entity order (CAISO's grid pivot does) spares the sort and the gather after it
    indices = None if ascending(keys) else np.lexsort(keys[::-1])  # lexsort's primary key is the last
    return EntityOrder(indices, _repeats(keys, indices), encoded)


def ascending(keys: list[np.ndarray]) -> bool:
    """Whether the rows are already sorted by `keys` (ties allowed): one pass over neighbours."""
    if len(keys[0]) < 2:
        return True
    later = np.zeros(len(keys[0]) - 1, dtype=bool)  # an earlier key already puts the next row after this
    same = np.ones(len(keys[0]) - 1, dtype=bool)  # every key so far equal between this row and the next
    for key in keys:
        later |= same & (key[:-1] < key[1:])
        same &= key[:-1] == key[1:]
        if later.all():
            return True
    return bool((later | same).all())


def _repeats(keys: list[np.ndarray], indices: np.ndarray | None) -> bool:
    """Whether two neighbours in sorted order have equal keys. The last key (time) tells nearly all
    neighbours apart, so it goes first and the others only compare the few pairs it leaves."""
    last, *others = reversed(keys)
    ordered = last if indices is None else last[indices]
    pairs = np.flatnonzero(ordered[1:] == ordered[:-1])  # neighbour i and i + 1, in sorted order
    at = (lambda i: i) if indices is None else (lambda i: indices[i])
    for key in others:
        if not len(pairs):
            break
        pairs = pairs[key[at(pairs)] == key[at(pairs + 1)]]
    return bool(len(pairs))
