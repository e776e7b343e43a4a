"""Downloads: data as files (CSV, Parquet), through the downloads channel."""
