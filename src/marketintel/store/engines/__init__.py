"""Time-series engines behind one interface: DuckDB (default) and ClickHouse (server or chdb)."""
