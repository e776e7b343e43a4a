"""Buckets as the gateway builds them, and decisions as HTTP headers."""

from __future__ import annotations

import pytest

from marketintel.config import load_settings
from marketintel.ratelimit.headers import ratelimit_headers, retry_after_header
from marketintel.ratelimit.models import Bucket, Decision
from marketintel.ratelimit.service import TenantBuckets


def refused(retry_after_s: float) -> Decision:
    return Decision(False, limit=1, remaining=0.2, retry_after_s=retry_after_s, reset_after_s=retry_after_s)


@pytest.mark.parametrize(
    ("retry_after_s", "header"),
    [(0.0, "1"), (0.001, "1"), (1.0, "1"), (1.0000000000000002, "1"), (1.3, "2"), (59.01, "60")],
)
def test_retry_after_is_whole_seconds_rounded_up_and_at_least_one(retry_after_s: float, header: str) -> None:
    assert retry_after_header(refused(retry_after_s)) == header


def test_ratelimit_headers_on_an_admitted_and_a_refused_request() -> None:
    admitted = Decision(True, limit=100, remaining=41.7, retry_after_s=0.0, reset_after_s=0.583)
    assert ratelimit_headers(admitted) == {
        "RateLimit-Limit": "100",
        "RateLimit-Remaining": "41",
        "RateLimit-Reset": "1",
    }
    assert ratelimit_headers(refused(0.8)) == {
        "RateLimit-Limit": "1",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "1",
        "Retry-After": "1",
    }


def test_the_gateway_buckets_come_from_the_settings() -> None:
    settings = load_settings(rate_general_per_s=100.0, rate_exports_per_s=1.0)
    buckets = TenantBuckets.from_settings(settings)
    assert buckets.general == Bucket("general", rate_per_s=100.0, capacity=100.0)
    assert buckets.exports == Bucket("exports", rate_per_s=1.0, capacity=1.0)
    # a rate under one a second still lets one request through
    assert Bucket.per_second("exports", 0.2).capacity == 1.0


@pytest.mark.parametrize(
    ("name", "rate", "capacity", "error"),
    [
        ("", 1, 1, "name"),
        ("ex:ports", 1, 1, "name"),
        ("exports", 0, 1, "rate_per_s"),
        ("exports", 1, 0.5, "capacity"),
    ],
)
def test_a_bucket_that_cannot_work_is_refused(name: str, rate: float, capacity: float, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Bucket(name, rate, capacity)
