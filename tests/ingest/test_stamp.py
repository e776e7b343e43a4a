"""`stamp`: mapped rows become facts carrying when we learned them, the source and the file's hash."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pyarrow as pa

from marketintel.connectors.models import mapped_prices
from marketintel.ingest.service import stamp
from marketintel.store.coded import CODED_TEXT, decoded
from marketintel.store.models import PRICES

STARTS = [dt.datetime(2024, 11, 3, h, tzinfo=dt.UTC) for h in range(3)]


def test_every_row_is_stamped_with_the_same_time_source_and_hash_in_utc() -> None:
    mapped = mapped_prices(
        {
            "market": "CAISO",
            "location": pa.array(["A", "A", "B"]),
            "run": "DA",
            "interval_start": pa.array(STARTS, pa.timestamp("us", tz="UTC")),
            "interval_minutes": 60,
            "lmp": pa.array([1.0, 2.0, 3.0]),
            "energy": None,
            "congestion": None,
            "loss": None,
        }
    )
    learned = dt.datetime(2024, 11, 3, 1, 30, tzinfo=ZoneInfo("America/Los_Angeles"))  # PDT: 08:30Z
    facts = stamp(mapped, learned, "caiso-oasis", "ab" * 32)
    assert decoded(facts, PRICES.schema).schema == PRICES.schema
    # one text in every row: carried as codes into a single value, not a million copies
    assert facts.schema.field("source").type == facts.schema.field("source_file_sha256").type == CODED_TEXT
    assert len(facts.column("source").chunk(0).dictionary) == 1
    assert facts.select(mapped.column_names).equals(mapped)
    assert facts.column("knowledge_time").to_pylist() == [dt.datetime(2024, 11, 3, 8, 30, tzinfo=dt.UTC)] * 3
    assert facts.column("source").to_pylist() == ["caiso-oasis"] * 3
    assert facts.column("source_file_sha256").to_pylist() == ["ab" * 32] * 3


def test_an_empty_batch_stays_empty_with_the_facts_schema() -> None:
    empty = PRICES.schema.empty_table().select(list(PRICES.schema.names[:9]))
    facts = stamp(empty, dt.datetime(2024, 1, 1, tzinfo=dt.UTC), "miso-da", "00")
    assert facts.num_rows == 0
    assert decoded(facts, PRICES.schema).schema == PRICES.schema
