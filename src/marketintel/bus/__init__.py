"""The streaming bus: every committed batch of prices published as events `prices.<MARKET>.<RUN>`.

`models` holds the event and its encoding (Arrow IPC or compact JSON, schema versioned, deterministic
message ids); `memory` the in-process bus (the default, `memory://`); `nats` the NATS JetStream engine
(`nats://host:port`: a durable stream, acks, redelivery, de-duplication by message id); `service` opens a
bus from its URL and holds the ingest glue, `BusPublisher`, which goes through the metadata outbox so a
bus that is down never loses an event nor holds up ingestion.
"""
