"""The SDK's HTTP: retries, Retry-After, give-up, 404 as not-published — against a real local server."""

from __future__ import annotations

import time

import pytest

from marketintel.connectors.fetch import Fetcher, FetchError, NotPublished, RateLimit
from tests.connectors.localsource import Reply, local_source


def fast_fetcher(**kwargs: float) -> Fetcher:
    return Fetcher(requests_per_second=1000, backoff_initial=0.01, backoff_max=0.05, timeout=5, **kwargs)


def test_transient_failures_are_retried_until_the_file_comes() -> None:
    with local_source() as source:
        source.serve("/f.csv", Reply(503), Reply(500), b"a,b\n1,2\n")
        payload = fast_fetcher().get(f"{source.base_url}/f.csv", name="f.csv")
        assert payload.content == b"a,b\n1,2\n"
        assert payload.name == "f.csv"
        assert len(payload.sha256) == 64
        assert source.requests == ["/f.csv"] * 3


def test_429_waits_as_long_as_retry_after_says() -> None:
    with local_source() as source:
        source.serve("/f.csv", Reply(429, headers={"Retry-After": "1"}), b"ok")
        started = time.monotonic()
        assert fast_fetcher().get(f"{source.base_url}/f.csv", name="f").content == b"ok"
        assert time.monotonic() - started >= 0.95


def test_gives_up_after_the_attempts_and_says_why() -> None:
    with local_source() as source:
        source.serve("/f.csv", Reply(503))
        with pytest.raises(FetchError, match=r"HTTP 503 after 3 attempts"):
            fast_fetcher(attempts=3).get(f"{source.base_url}/f.csv", name="f")
        assert len(source.requests) == 3


def test_404_means_not_published_and_is_not_retried() -> None:
    with local_source() as source:
        with pytest.raises(NotPublished):
            fast_fetcher().get(f"{source.base_url}/missing.csv", name="missing.csv")
        assert source.requests == ["/missing.csv"]


def test_403_is_a_failure_without_retries() -> None:
    with local_source() as source:
        source.serve("/f.csv", Reply(403, b"forbidden"))
        with pytest.raises(FetchError, match="HTTP 403") as caught:
            fast_fetcher().get(f"{source.base_url}/f.csv", name="f")
        assert caught.value.status == 403
        assert len(source.requests) == 1


def test_connection_refused_is_retried_then_reported() -> None:
    with local_source() as source:
        closed = source.base_url
    with pytest.raises(FetchError, match="ConnectError after 2 attempts"):
        fast_fetcher(attempts=2).get(f"{closed}/f.csv", name="f")


def test_rate_limit_spaces_requests() -> None:
    limit = RateLimit(per_second=20)
    started = time.monotonic()
    for _ in range(5):
        limit.wait()
    assert time.monotonic() - started >= 4 / 20 * 0.9


def test_headers_are_sent_and_secret_parameters_masked_in_the_recorded_url() -> None:
    with local_source() as source:
        source.serve("/api?zone=FR&securityToken=s3cret", b"<xml/>")
        payload = fast_fetcher().get(
            f"{source.base_url}/api?zone=FR&securityToken=s3cret",
            name="fr.xml",
            headers={"Referer": "https://example.org/spot/"},
            secret_params={"securityToken"},
        )
        assert source.headers[0]["referer"] == "https://example.org/spot/"
        assert payload.url == f"{source.base_url}/api?zone=FR&securityToken=REDACTED"


def test_an_empty_204_means_not_published() -> None:
    with local_source() as source:
        source.serve("/prices?date=2030-01-01", Reply(204))
        with pytest.raises(NotPublished, match="204"):
            fast_fetcher().get(f"{source.base_url}/prices?date=2030-01-01", name="p.json")
