"""Prometheus gauges of data quality, in their own registry (`REGISTRY`) for the /metrics endpoint to expose.

Batch gauges hold the last batch's value per (source, market, run); source gauges the last measurement.
`marketintel_quality_gate_failed` is 1 while a gate's last evaluation failed: the series to alert on.
"""

from __future__ import annotations

import datetime as dt

from prometheus_client import CollectorRegistry, Gauge

from marketintel.quality.models import (
    COMPLETENESS,
    DUPLICATES,
    FRESHNESS,
    GAPS,
    OUT_OF_RANGE,
    SPIKES,
    STALE,
    CheckResult,
)

LABELS = ("source", "market", "run")


class QualityMetrics:
    """The quality gauges, registered in `registry` (tests pass a fresh one; the app uses `REGISTRY`)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

        def gauge(name: str, doc: str, labels: tuple[str, ...] = LABELS) -> Gauge:
            return Gauge(f"marketintel_quality_{name}", doc, labels, registry=registry)

        self.values: dict[str, Gauge] = {
            COMPLETENESS: gauge(
                "completeness_ratio", "Present / expected intervals in the last batch (0..1)"
            ),
            GAPS: gauge("gaps", "Missing (location, interval) pairs in the last batch"),
            DUPLICATES: gauge("duplicates", "(location, run, interval) keys repeated in the last batch"),
            OUT_OF_RANGE: gauge("out_of_range", "Prices outside the market's envelope in the last batch"),
            SPIKES: gauge("spikes", "Prices beyond the robust z-score threshold in the last batch"),
            FRESHNESS: gauge("freshness_seconds", "Now minus the end of the newest stored interval"),
            STALE: gauge("seconds_since_new_interval", "Now minus when the newest interval was learned"),
        }
        self.gate_failed = gauge(
            "gate_failed", "1 while the check's gate failed at its last evaluation", (*LABELS, "check")
        )
        self.last_checked = gauge("last_checked_timestamp_seconds", "When the source was last checked")

    def publish(self, source: str, market: str, results: list[CheckResult], now: dt.datetime) -> None:
        for result in results:
            run = result.run or ""
            gauge = self.values.get(result.check)
            if gauge is not None:
                gauge.labels(source, market, run).set(result.value)
            if result.gate:
                self.gate_failed.labels(source, market, run, result.check).set(0 if result.passed else 1)
            self.last_checked.labels(source, market, run).set(now.timestamp())


REGISTRY = CollectorRegistry()
METRICS = QualityMetrics(REGISTRY)
