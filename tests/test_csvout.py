from __future__ import annotations

import datetime as dt

import pyarrow as pa

from marketintel.csvout import table_csv

US = pa.timestamp("us", tz="UTC")


def test_timestamps_are_utc_iso_with_z_and_missing_values_are_empty() -> None:
    table = pa.table(
        {
            "interval_start": pa.array([dt.datetime(2024, 11, 3, 7, tzinfo=dt.UTC)], US),
            "knowledge_time": pa.array([dt.datetime(2024, 11, 3, 7, 5, 30, 250, tzinfo=dt.UTC)], US),
            "local": pa.array(
                [dt.datetime(2024, 11, 3, 7, tzinfo=dt.UTC)], pa.timestamp("us", tz="America/Chicago")
            ),
            "location": ["A,B"],
            "energy": pa.array([None], pa.float64()),
        }
    )
    assert table_csv(table).decode() == (
        "interval_start,knowledge_time,local,location,energy\n"
        '2024-11-03T07:00:00Z,2024-11-03T07:05:30.000250Z,2024-11-03T07:00:00Z,"A,B",\n'
    )
