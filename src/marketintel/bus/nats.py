"""The NATS JetStream bus (`nats://host:port`), usable from sync code.

Events go to a durable, file-backed stream (`PRICES` on `prices.>` by default) with a duplicate window, so
a re-published message id is dropped, not stored twice. `publish` waits for JetStream's ack and raises
`BusUnavailable` when none comes in time. Subscribers are pull consumers with explicit acks: a message not
acked within `ack_wait` is delivered again, up to `max_deliver` times; a durable consumer keeps its place
across restarts.

nats-py is asyncio-only; ingestion is sync. A `NatsBus` runs its own event loop in a daemon thread and every
sync call submits a coroutine there, bounded by a timeout. Async callers (the WebSocket gateway) await the
same coroutines from their own loop. Connecting fails fast: the first error of the first attempt ends it
(nats-py would otherwise retry for minutes); a failed connect is not retried for `retry_after` seconds. Once
connected, nats-py reconnects by itself; while it does, publishes fail at once instead of piling up in its
buffer (that buffer would send them later, beyond the caller's knowledge and the duplicate window).

`nats://host:port?stream=NAME&prefix=PREFIX` names the stream and puts every subject under `PREFIX.`
(tests use a unique one per run); subjects in events and subscriptions stay `prices.…`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import suppress
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig

from marketintel.bus.models import (
    ARROW,
    CONTENT_TYPE_HEADER,
    PRICES_SUBJECTS,
    SCHEMA_HEADER,
    SCHEMA_VERSION,
    Ack,
    BusUnavailable,
    Event,
    EventRejected,
    Received,
    check_pattern,
    check_subject,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_STREAM = "PRICES"
DUPLICATE_WINDOW = 120.0  # seconds: a re-publish within this of the first is dropped by JetStream
MAX_AGE = 7 * 86400.0  # seconds events stay in the stream: subscribers can be a week behind
FETCH_WAIT = 5.0  # longest single pull; longer waits loop, so close() is noticed
STREAM_EXISTS = 10058  # JetStream: "stream name already in use with a different configuration"


class _LoopThread:
    """An asyncio loop in a daemon thread, taking coroutines from any thread."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self.loop.close()


class NatsBus:
    def __init__(
        self,
        servers: str = "nats://127.0.0.1:4222",
        *,
        stream: str = DEFAULT_STREAM,
        prefix: str = "",
        duplicate_window: float = DUPLICATE_WINDOW,
        max_age: float = MAX_AGE,
        connect_timeout: float = 1.0,
        publish_timeout: float = 1.0,
        retry_after: float = 2.0,
        url: str | None = None,
    ) -> None:
        if prefix:
            check_pattern(prefix)
        self.url = url or servers
        self.servers = servers
        self.stream, self.prefix = stream, prefix
        self.duplicate_window, self.max_age = duplicate_window, max_age
        self.connect_timeout, self.publish_timeout, self.retry_after = (
            connect_timeout,
            publish_timeout,
            retry_after,
        )
        self._loop = _LoopThread(f"nats-bus-{stream}")
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._stream_ready = False
        self._connect_lock: asyncio.Lock | None = None  # made in the bus loop, where it is used
        self._retry_at = 0.0
        self._last_error = ""
        self.closed = self._closing = False

    @classmethod
    def from_url(cls, url: str, **options: Any) -> NatsBus:
        """`nats://host:port[?stream=NAME&prefix=PREFIX]`."""
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        unknown = sorted(set(query) - {"stream", "prefix"})
        if unknown:
            raise ValueError(f"{url}: unknown option(s) {', '.join(unknown)}; known: stream, prefix")
        servers = urlunsplit(parts._replace(query="", fragment=""))
        return cls(
            servers,
            stream=query.get("stream") or DEFAULT_STREAM,
            prefix=query.get("prefix", ""),
            url=url,
            **options,
        )

    @property
    def where(self) -> str:
        return urlsplit(self.servers).netloc.rsplit("@", 1)[-1]  # host:port, never credentials

    def _wire(self, subject: str) -> str:
        return f"{self.prefix}.{subject}" if self.prefix else subject

    def _local(self, subject: str) -> str:
        return subject.removeprefix(f"{self.prefix}.") if self.prefix else subject

    # --- calls from sync code -------------------------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T], budget: float) -> T:
        """Run `coro` in the bus loop, waiting at most `budget` seconds; a timeout is BusUnavailable."""
        if self.closed:
            coro.close()
            raise BusUnavailable(f"NATS bus to {self.where} is closed")
        future = self._loop.submit(asyncio.wait_for(coro, budget))
        try:
            return future.result(budget + 1.0)  # the extra second only guards against a wedged loop
        except TimeoutError:
            future.cancel()
            raise BusUnavailable(f"NATS at {self.where}: no answer within {budget:.1f}s") from None

    def publish(self, event: Event, timeout: float | None = None) -> Ack:
        """Publish and wait for JetStream's ack, `timeout` seconds at most (connecting included)."""
        budget = timeout if timeout is not None else self.connect_timeout + self.publish_timeout
        return self._call(self._publish(event, time.monotonic() + budget), budget)

    def subscribe(
        self,
        subject: str = PRICES_SUBJECTS,
        *,
        durable: str | None = None,
        ack_wait: float = 30.0,
        max_deliver: int = 5,
        deliver_new: bool = False,
        batch: int = 16,
    ) -> NatsSubscription:
        """A pull consumer on `subject` (wildcards allowed). `durable` names a consumer that keeps its
        place across restarts; without it the consumer is ephemeral. `deliver_new`: only events published
        from now on, else everything the stream still holds."""
        subscription = NatsSubscription(self, subject, durable, ack_wait, max_deliver, deliver_new, batch)
        budget = self.connect_timeout + self.publish_timeout
        self._call(subscription._bind(time.monotonic() + budget), budget)
        return subscription

    def delete_stream(self) -> None:
        """Delete the stream and everything in it (tests; operators resetting a bus)."""
        budget = self.connect_timeout + self.publish_timeout
        self._call(self._delete_stream(time.monotonic() + budget), budget)

    def close(self) -> None:
        if self.closed:
            return
        self._closing = True
        if self._nc is not None:
            with suppress(Exception):
                self._call(self._nc.close(), 2.0)
        self.closed = True
        self._loop.stop()

    def __enter__(self) -> NatsBus:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- in the bus loop ------------------------------------------------------------------------------

    async def _connection(self, deadline: float) -> JetStreamContext:
        if self._connect_lock is None:
            self._connect_lock = asyncio.Lock()
        async with self._connect_lock:
            if self._nc is not None and self._nc.is_closed:
                self._nc = self._js = None
            if self._nc is None:
                await self._connect(deadline)
            elif not self._nc.is_connected:
                raise BusUnavailable(f"NATS at {self.where}: connection lost, reconnecting")
            assert self._js is not None
            if not self._stream_ready:
                await self._ensure_stream(self._js)
            return self._js

    async def _connect(self, deadline: float) -> None:
        now = time.monotonic()
        if now < self._retry_at:
            raise BusUnavailable(f"{self._last_error} (next attempt in {self._retry_at - now:.1f}s)")
        loop = asyncio.get_running_loop()
        first_error: asyncio.Future[Exception] = loop.create_future()
        connecting = True

        async def on_error(exc: Exception) -> None:
            if connecting and not first_error.done():
                first_error.set_result(exc)
            elif not connecting:
                log.debug("nats error", extra={"bus": self.where, "error": str(exc)})

        async def on_disconnect() -> None:
            if not (connecting or self._closing):  # a failed connect and closing "disconnect" too
                log.warning("nats connection lost", extra={"bus": self.where})

        async def on_reconnect() -> None:
            self._stream_ready = False  # the server may have come back without the stream
            log.info("nats reconnected", extra={"bus": self.where})

        nc = Client()
        wait = max(min(self.connect_timeout, deadline - now), 0.01)
        connect = asyncio.ensure_future(
            nc.connect(
                self.servers,
                name="marketintel",
                connect_timeout=wait,  # nats-py annotates int; it is seconds, fractions work
                allow_reconnect=True,
                max_reconnect_attempts=-1,  # once connected, ride out server restarts
                reconnect_time_wait=self.retry_after,
                error_cb=on_error,
                disconnected_cb=on_disconnect,
                reconnected_cb=on_reconnect,
            )
        )
        try:
            await asyncio.wait({connect, first_error}, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # the caller gave up: leave no client retrying in the background
            await _abandon(connect, nc)
            raise
        if connect.done() and not connect.cancelled() and connect.exception() is None:
            connecting = False
            self._nc, self._js, self._stream_ready = nc, nc.jetstream(timeout=self.publish_timeout), False
            return
        if connect.done() and not connect.cancelled():
            error: BaseException = connect.exception() or RuntimeError("connect failed")
        elif first_error.done():
            error = first_error.result()
        else:
            error = TimeoutError(f"no answer within {wait:.1f}s")
        await _abandon(connect, nc)
        self._last_error = f"NATS at {self.where} unreachable: {type(error).__name__}: {error}"
        self._retry_at = time.monotonic() + self.retry_after
        raise BusUnavailable(self._last_error)

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        config = StreamConfig(
            name=self.stream,
            subjects=[self._wire(PRICES_SUBJECTS)],
            storage=StorageType.FILE,
            duplicate_window=self.duplicate_window,
            max_age=self.max_age,
        )
        try:
            try:
                await js.add_stream(config)
            except nats.js.errors.BadRequestError as exc:
                if exc.err_code != STREAM_EXISTS:
                    raise
                await js.update_stream(config)  # ours, under an older configuration
        except (nats.errors.Error, OSError) as exc:
            # a stream we cannot create (JetStream off, subjects taken) will not take events until fixed
            raise BusUnavailable(f"NATS at {self.where}: stream {self.stream}: {exc}") from None
        self._stream_ready = True

    async def _publish(self, event: Event, deadline: float) -> Ack:
        check_subject(event.subject)
        js = await self._connection(deadline)
        headers = {
            **event.headers,
            SCHEMA_HEADER: str(event.schema_version),
            CONTENT_TYPE_HEADER: event.content_type,
        }
        remaining = max(deadline - time.monotonic(), 0.01)
        subject = self._wire(event.subject)
        try:
            ack = await js.publish(
                subject, event.payload, timeout=remaining, stream=self.stream, headers=headers
            )
        except nats.errors.MaxPayloadError as exc:
            raise EventRejected(f"{event.subject}: {len(event.payload):,} bytes: {exc}") from None
        except nats.js.errors.NoStreamResponseError:
            self._stream_ready = False  # deleted under us? re-created on the next call
            raise BusUnavailable(f"NATS at {self.where}: no stream took {subject}") from None
        except (TimeoutError, nats.js.errors.ServiceUnavailableError) as exc:
            raise BusUnavailable(
                f"NATS at {self.where}: no ack for {subject} within {remaining:.1f}s"
            ) from exc
        except nats.js.errors.APIError as exc:
            raise EventRejected(f"JetStream refused {subject}: {exc}") from None
        except (nats.errors.Error, OSError) as exc:
            raise BusUnavailable(f"NATS at {self.where}: {type(exc).__name__}: {exc}") from None
        return Ack(ack.stream, ack.seq or 0, bool(ack.duplicate))

    async def _delete_stream(self, deadline: float) -> None:
        js = await self._connection(deadline)
        with suppress(nats.js.errors.NotFoundError):
            await js.delete_stream(self.stream)
        self._stream_ready = False


async def _abandon(connect: asyncio.Future[None], nc: Client) -> None:
    """Stop a connect attempt: nats-py would otherwise go on retrying it for ever."""
    connect.cancel()
    with suppress(asyncio.CancelledError, Exception):
        await connect
    with suppress(Exception):
        await nc.close()


class NatsSubscription:
    """A pull consumer read from sync code (`get`, iteration) or async code (`async for`)."""

    def __init__(
        self,
        bus: NatsBus,
        pattern: str,
        durable: str | None,
        ack_wait: float,
        max_deliver: int,
        deliver_new: bool,
        batch: int,
    ) -> None:
        check_pattern(pattern)
        self.pattern, self.durable = pattern, durable
        self._bus = bus
        self._consumer: dict[str, Any] = {
            "ack_policy": AckPolicy.EXPLICIT,
            "ack_wait": ack_wait,
            "max_deliver": max_deliver,
            "deliver_policy": DeliverPolicy.NEW if deliver_new else DeliverPolicy.ALL,
            # the server removes an ephemeral consumer nobody pulls from; a durable one stays
            "inactive_threshold": None if durable else 300.0,
        }
        self._batch = batch
        self._sub: JetStreamContext.PullSubscription | None = None
        self._buffer: deque[Msg] = deque()  # fetched, not yet handed out (touched by the reader only)
        self.closed = False

    async def _bind(self, deadline: float) -> JetStreamContext.PullSubscription:
        js = await self._bus._connection(deadline)
        if self._sub is None:
            try:
                self._sub = await js.pull_subscribe(
                    self._bus._wire(self.pattern),
                    durable=self.durable,
                    stream=self._bus.stream,
                    config=ConsumerConfig(**self._consumer),  # fresh: nats-py fills it in
                )
            except (nats.errors.Error, OSError) as exc:
                raise BusUnavailable(f"NATS at {self._bus.where}: subscribe {self.pattern}: {exc}") from None
        return self._sub

    async def _fetch(self, wait: float) -> list[Msg]:
        sub = await self._bind(time.monotonic() + self._bus.connect_timeout)
        try:
            return await sub.fetch(self._batch, timeout=wait)
        except TimeoutError:  # nothing arrived in `wait`
            return []
        except (nats.errors.Error, OSError) as exc:
            # the consumer may be gone (an ephemeral one the server reaped): bind afresh next time
            self._sub = None
            with suppress(Exception):
                await sub.unsubscribe()
            raise BusUnavailable(f"NATS at {self._bus.where}: fetch {self.pattern}: {exc}") from None

    def _received(self, msg: Msg) -> Received:
        headers = dict(msg.headers or {})
        event = Event(
            self._bus._local(msg.subject),
            msg.data,
            headers.get(CONTENT_TYPE_HEADER, ARROW),
            int(headers.get(SCHEMA_HEADER, SCHEMA_VERSION)),
            headers,
        )

        def settle(kind: str) -> concurrent.futures.Future[Any]:
            return self._bus._loop.submit(
                msg.ack_sync(self._bus.publish_timeout) if kind == "ack" else msg.nak()
            )

        return Received(event, msg.metadata.num_delivered or 1, settle, self._bus.publish_timeout + 1.0)

    def get(self, timeout: float | None = None) -> Received | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._buffer:
            if self.closed:
                return None
            wait = FETCH_WAIT if deadline is None else min(deadline - time.monotonic(), FETCH_WAIT)
            if wait < 0.01:
                return None
            self._buffer.extend(self._bus._call(self._fetch(wait), wait + self._bus.connect_timeout))
        return self._received(self._buffer.popleft())

    def __iter__(self) -> Iterator[Received]:
        while (received := self.get()) is not None:
            yield received

    def __aiter__(self) -> AsyncIterator[Received]:
        return self

    async def __anext__(self) -> Received:
        while not self._buffer:
            if self.closed:
                raise StopAsyncIteration
            future = self._bus._loop.submit(self._fetch(FETCH_WAIT))
            self._buffer.extend(await asyncio.wrap_future(future))
        return self._received(self._buffer.popleft())

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        sub, self._sub = self._sub, None
        if sub is not None and not self._bus.closed:
            with suppress(Exception):
                self._bus._call(sub.unsubscribe(), 2.0)

    def __enter__(self) -> NatsSubscription:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
