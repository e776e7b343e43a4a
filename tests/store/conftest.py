from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from marketintel.store.service import TimeSeriesStore, open_timeseries
from tests.store.factories import instruments

ENGINES = ["duckdb", "chdb"]


def store_url(engine: str, tmp_path: Path) -> str:
    if engine == "duckdb":
        return f"duckdb:///{tmp_path / 'ts.duckdb'}"
    return f"chdb:///{tmp_path / 'chdb'}"


@pytest.fixture(params=ENGINES)
def empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TimeSeriesStore]:
    store = open_timeseries(store_url(request.param, tmp_path))
    yield store
    store.close()


@pytest.fixture
def store(empty_store: TimeSeriesStore) -> TimeSeriesStore:
    """A store with the test instruments registered."""
    empty_store.register_instruments(instruments())
    return empty_store
