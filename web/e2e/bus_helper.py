"""What the hub's E2E asks of the bus: publish one new price interval, and delete its private stream.

`python web/e2e/bus_helper.py publish URL MARKET LOCATION RUN LMP START` publishes the interval starting at
START (ISO-8601) the way ingestion does (PRICES rows, encoded as a price event);
`python web/e2e/bus_helper.py delete URL` removes the run's stream so E2E runs never pile up in NATS.
"""

from __future__ import annotations

import datetime as dt
import sys

import pyarrow as pa

from marketintel.bus.models import encode_prices
from marketintel.bus.nats import NatsBus
from marketintel.bus.service import open_bus
from marketintel.store.models import PRICES

MINUTES = {"RT5": 5, "RT15": 15}


def interval(market: str, location: str, run: str, lmp: float, start: dt.datetime) -> pa.Table:
    return pa.table(
        {
            "market": [market],
            "location": [location],
            "run": [run],
            "interval_start": [start],
            "interval_minutes": [MINUTES.get(run, 60)],
            "lmp": [lmp],
            "energy": [lmp - 1.0],
            "congestion": [0.75],
            "loss": [0.25],
            "knowledge_time": [dt.datetime.now(dt.UTC)],
            "source": ["e2e"],
            "source_file_sha256": [None],
        },
        schema=PRICES.schema,
    )


def main(argv: list[str]) -> None:
    command, url, *rest = argv
    bus = open_bus(url)
    try:
        if command == "publish":
            market, location, run, lmp, start = rest
            when = dt.datetime.fromisoformat(start.replace("Z", "+00:00"))
            for event in encode_prices(interval(market, location, run, float(lmp), when)):
                bus.publish(event, timeout=10)
        elif command == "delete" and isinstance(bus, NatsBus):
            bus.delete_stream()
    finally:
        bus.close()


if __name__ == "__main__":
    main(sys.argv[1:])
