"""Data quality: checks of every ingested batch and source, recorded, exported as gauges and gated."""

from marketintel.quality.metrics import METRICS, REGISTRY, QualityMetrics
from marketintel.quality.models import CHECKS, FILE_COVERAGE, PRICE_BOUNDS, CheckResult, Gates
from marketintel.quality.service import QualityMonitor, RecordedCheck

__all__ = [
    "CHECKS",
    "FILE_COVERAGE",
    "METRICS",
    "PRICE_BOUNDS",
    "REGISTRY",
    "CheckResult",
    "Gates",
    "QualityMetrics",
    "QualityMonitor",
    "RecordedCheck",
]
