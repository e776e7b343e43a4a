"""HTTP for every connector: timeouts, retries with backoff, 429/Retry-After, a per-source rate limit."""

from __future__ import annotations

import datetime as dt
import email.utils
import threading
import time
from collections.abc import Callable, Collection, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from marketintel.connectors.models import RawPayload

RETRIED_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def redact_query(url: str, secret_params: Collection[str]) -> str:
    """`url` with the values of the named query parameters replaced by REDACTED."""
    if not secret_params:
        return url
    parts = urlsplit(url)
    query = [(k, "REDACTED" if k in secret_params and v else v) for k, v in parse_qsl(parts.query, True)]
    return urlunsplit(parts._replace(query=urlencode(query)))


class FetchError(RuntimeError):
    """A fetch that failed for good (after retries, or with a status that retrying cannot fix)."""

    def __init__(self, url: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{url}: {message}")
        self.url = url
        self.status = status


class NotPublished(FetchError):
    """The source has not published this file (yet): a 404, not a failure of ours."""


class _RetryableStatus(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def retry_after_seconds(response: httpx.Response, now: Callable[[], float] = time.time) -> float | None:
    """Seconds the server asked us to wait: Retry-After as a number or an HTTP date."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now())


class RateLimit:
    """At most `per_second` requests per second from this process, across threads."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            time.sleep(delay)


class Fetcher:
    def __init__(
        self,
        *,
        requests_per_second: float = 1.0,
        attempts: int = 5,
        timeout: float = 30.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.client = client or httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            follow_redirects=True,
            headers={"user-agent": "254carbon-marketintel/0.1"},
        )
        self.rate_limit = RateLimit(requests_per_second)
        self.attempts = attempts
        self.backoff = wait_exponential_jitter(multiplier=backoff_initial, max=backoff_max)

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, _RetryableStatus):
            asked = retry_after_seconds(error.response)
            if asked is not None:
                return asked
        return float(self.backoff(state))

    def get(
        self,
        url: str,
        *,
        name: str,
        headers: Mapping[str, str] | None = None,
        secret_params: Collection[str] = (),
    ) -> RawPayload:
        """The file at `url`; NotPublished on 404 or an empty 204, FetchError once retries are spent.
        Query parameters named in `secret_params` (API tokens) are masked in the payload's recorded URL."""
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda e: isinstance(e, _RetryableStatus | httpx.TransportError)),
            reraise=True,
        )
        try:
            response = retrying(self._get_once, url, headers or {})
        except _RetryableStatus as exc:
            raise FetchError(
                url,
                f"HTTP {exc.response.status_code} after {self.attempts} attempts",
                exc.response.status_code,
            ) from None
        except httpx.TransportError as exc:
            raise FetchError(url, f"{type(exc).__name__} after {self.attempts} attempts: {exc}") from None
        return RawPayload(
            name=name,
            content=response.content,
            fetched_at=dt.datetime.now(dt.UTC),
            url=redact_query(url, secret_params),
        )

    def _get_once(self, url: str, headers: Mapping[str, str]) -> httpx.Response:
        self.rate_limit.wait()
        response = self.client.get(url, headers=dict(headers))
        if response.status_code in RETRIED_STATUS:
            raise _RetryableStatus(response)
        if response.status_code == 404:
            raise NotPublished(url, "not published (HTTP 404)", 404)
        if response.status_code == 204:  # some APIs (Nord Pool) answer "no data yet" with an empty 204
            raise NotPublished(url, "not published (HTTP 204, no content)", 204)
        if response.status_code >= 400:
            raise FetchError(url, f"HTTP {response.status_code}", response.status_code)
        return response

    def close(self) -> None:
        self.client.close()
