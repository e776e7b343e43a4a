"""Opening a limiter from its URL, and the errors that name what is wrong. No Redis needed here."""

from __future__ import annotations

import pytest

from marketintel.config import ConfigError
from marketintel.ratelimit.models import Bucket, RateLimiterUnavailable
from marketintel.ratelimit.service import MemoryRateLimiter, open_ratelimiter
from tests.helpers import free_port


def test_memory_url_opens_an_in_process_limiter_of_its_own() -> None:
    first, second = open_ratelimiter("memory://"), open_ratelimiter("memory://")
    assert isinstance(first, MemoryRateLimiter)
    exports = Bucket("exports", rate_per_s=1, capacity=1)
    assert first.acquire("acme", exports).allowed
    assert second.acquire("acme", exports).allowed  # a separate process's limit, as it were


def test_an_unknown_scheme_is_a_config_error_naming_the_variable() -> None:
    with pytest.raises(
        ConfigError, match=r"MARKETINTEL_RATELIMIT_URL='memcached://h'.*memory:// or redis://"
    ):
        open_ratelimiter("memcached://h")


def test_a_malformed_redis_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"MARKETINTEL_RATELIMIT_URL.*Port"):
        open_ratelimiter("redis://127.0.0.1:sixthousand/0")


def test_an_unreachable_redis_is_an_error_at_start_naming_its_url_not_its_password() -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    with pytest.raises(
        RateLimiterUnavailable, match=r"Redis at redis://:\*\*\*@127\.0\.0\.1:\d+/0 unreachable"
    ) as err:
        open_ratelimiter(url)
    assert "hunter2" not in str(err.value)
