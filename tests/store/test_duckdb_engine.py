"""What only the DuckDB engine does: its file layout and how it runs reads."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa

from marketintel.store.engines.duckdb_engine import BLOCK_SIZE, PARSED_STATEMENTS, DuckDBStore
from marketintel.store.models import PRICES
from tests.store.factories import LEARNED, T0, instruments, prices

END = T0 + dt.timedelta(days=1)


def open_store(tmp_path: Path) -> DuckDBStore:
    store = DuckDBStore(tmp_path / "ts.duckdb")
    store.create_schema()
    store.register_instruments(instruments())
    return store


def test_a_new_file_has_small_blocks(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    try:
        size = store.query("SELECT block_size FROM pragma_database_size()").column("block_size")[0].as_py()
        assert size == BLOCK_SIZE
    finally:
        store.close()


def test_revisions_are_stored_in_entity_order(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    try:
        locations = ("INDIANA.HUB", "AMIL.BGS6", "ILLINOIS.HUB")
        store.write_prices(prices(locations=locations, count=4))
        # a feed delivers a correction interval by interval, every location at each
        later = LEARNED + dt.timedelta(hours=1)
        feed = pa.concat_tables(
            [
                prices(
                    locations=locations,
                    start=T0 + dt.timedelta(minutes=5 * i),
                    count=1,
                    base=90.0 + i,
                    learned=later,
                )
                for i in range(4)
            ]
        )
        assert store.write_prices(feed).written == 12
        stored = store.query(
            f"SELECT location, interval_start FROM {PRICES.name} "
            f"WHERE knowledge_time = TIMESTAMPTZ '{later.isoformat()}' ORDER BY rowid"
        )
        keys = stored.select(["location", "interval_start"]).to_pylist()
        assert len(keys) == 12
        assert keys == sorted(keys, key=lambda k: (k["location"], k["interval_start"]))
    finally:
        store.close()


def test_reads_from_several_threads_each_bind_their_own_values(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    try:
        store.write_prices(prices(locations=("INDIANA.HUB", "ILLINOIS.HUB"), count=12))

        def first_lmp(location: str) -> float:
            read = store.prices(market="MISO", run="RT5", start=T0, end=END, locations=[location])
            assert read.num_rows == 12
            return float(read.column("lmp")[0].as_py())

        wanted = ["INDIANA.HUB", "ILLINOIS.HUB"] * 50
        with ThreadPoolExecutor(4) as pool:
            got = list(pool.map(first_lmp, wanted))
        assert got == [30.0 if w == "INDIANA.HUB" else 30.01 for w in wanted]
    finally:
        store.close()


def test_statements_parsed_once_are_a_bounded_set(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    try:
        store.write_prices(prices(count=3))
        for n in range(1, PARSED_STATEMENTS + 10):  # each read's text differs (n location markers)
            names = ["INDIANA.HUB"] + [f"NOWHERE.{i}" for i in range(n)]
            assert store.prices(market="MISO", run="RT5", start=T0, end=END, locations=names).num_rows == 3
        assert 0 < len(store._local.parsed) <= PARSED_STATEMENTS
    finally:
        store.close()
