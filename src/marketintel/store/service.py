"""Opening the time-series store: the one place where a URL picks an engine."""

from __future__ import annotations

from urllib.parse import urlsplit

from marketintel.config import ConfigError, url_path
from marketintel.store.engines.base import StoreSummary, TimeSeriesStore, WriteResult

__all__ = ["StoreSummary", "TimeSeriesStore", "WriteResult", "open_timeseries"]


def open_timeseries(url: str, *, create: bool = True) -> TimeSeriesStore:
    """The store behind `url` (duckdb:///file, chdb:///dir, clickhouse://host:port/db), schema ensured."""
    scheme = urlsplit(url).scheme
    store: TimeSeriesStore
    if scheme == "duckdb":
        from marketintel.store.engines.duckdb_engine import DuckDBStore

        store = DuckDBStore(url_path(url))
    elif scheme == "chdb":
        from marketintel.store.engines.clickhouse_engine import ChdbStore

        store = ChdbStore(url_path(url))
    elif scheme in ("clickhouse", "clickhouses"):
        from marketintel.store.engines.clickhouse_engine import ClickHouseServerStore

        store = ClickHouseServerStore(url)
    else:
        raise ConfigError(f"MARKETINTEL_TIMESERIES_URL: no time-series engine for {scheme}://")
    if create:
        store.create_schema()
    return store
