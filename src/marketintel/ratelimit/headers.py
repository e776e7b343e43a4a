"""A limiter's decision as HTTP response headers.

`Retry-After` (RFC 9110) on a refusal; `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` on
every response, in the three-field form of the IETF RateLimit header fields draft that clients and
gateways widely read. All are whole numbers: the limit and remaining rounded down, times rounded up, so a
client that waits as told is never refused for having waited a fraction too little.
"""

from __future__ import annotations

import math

from marketintel.ratelimit.models import Decision

# float noise (2.0000000000000004 s) must not cost a client a whole extra second
_EPSILON = 1e-9


def _whole_seconds_up(seconds: float) -> int:
    return math.ceil(seconds - _EPSILON)


def retry_after_header(decision: Decision) -> str:
    """`Retry-After` for a refused request: whole seconds until it would be admitted, at least 1."""
    return str(max(1, _whole_seconds_up(decision.retry_after_s)))


def ratelimit_headers(decision: Decision) -> dict[str, str]:
    """The `RateLimit-*` headers for any decision, with `Retry-After` added when it refused."""
    headers = {
        "RateLimit-Limit": str(math.floor(decision.limit)),
        "RateLimit-Remaining": str(max(0, math.floor(decision.remaining + _EPSILON))),
        "RateLimit-Reset": str(max(0, _whole_seconds_up(decision.reset_after_s))),
    }
    if not decision.allowed:
        headers["Retry-After"] = retry_after_header(decision)
    return headers
