"""Per-tenant rate limiting: token buckets, in this process or shared between replicas through Redis.

`models` holds the bucket, the decision and the limiter interface; `memory` the in-process engine (the
default, `memory://`); `redis` the shared engine (`redis://host:port/db`, one atomic Lua script per
request, fails open to a local limit when Redis is down); `service` opens a limiter from its URL and
names the gateway's buckets; `headers` turns a decision into `Retry-After` and `RateLimit-*`.
"""
