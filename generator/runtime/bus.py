"""RabbitMQ plumbing shared by every consumer: connecting, declaring, consuming, reconnecting.

Each consumer owns one blocking pika connection on its own thread (pika connections are not
thread-safe). Channels run in confirm mode, so ``basic_publish`` returns only once the broker has the
message; handlers ack their input after that, which gives at-least-once delivery end to end.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel
from pika.exchange_type import ExchangeType
from pika.spec import BasicProperties

from .config import BusConnection

log = logging.getLogger("aiar.bus")
T = TypeVar("T")

PERSISTENT = 2  # AMQP delivery mode: written to disk by the broker
# A queue's prefetch count is an AMQP short.
MAX_PREFETCH = 65535
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0
DEPTH_EVERY_S = 5.0
"""How often a consumer measures its queue's backlog (for ``aiar_bus_queue_messages``)."""


def connection_parameters(config: BusConnection) -> pika.ConnectionParameters:
    credentials = pika.PlainCredentials(
        os.environ.get(config.username_env, "guest"), os.environ.get(config.password_env, "guest")
    )
    return pika.ConnectionParameters(
        host=config.host,
        port=config.port,
        virtual_host=config.vhost,
        credentials=credentials,
        heartbeat=config.heartbeat_s,
        blocked_connection_timeout=60,
        socket_timeout=10,
        connection_attempts=1,  # retries are ours, with backoff and a stop signal
    )


def backoff_delays(first: float = BACKOFF_FIRST_S, cap: float = BACKOFF_MAX_S) -> Any:
    """Exponential delays with full jitter, bounded by ``cap``: reconnecting clients don't stampede."""
    delay = first
    while True:
        # jitter for reconnect backoff, not cryptography
        yield random.uniform(delay / 2, delay)  # noqa: S311
        delay = min(cap, delay * 2)


def json_properties(correlation_id: str | None = None, headers: Mapping[str, Any] | None = None) -> BasicProperties:
    return BasicProperties(
        content_type="application/json",
        delivery_mode=PERSISTENT,
        correlation_id=correlation_id,
        headers=dict(headers) if headers else None,
    )


def declare_exchange(channel: BlockingChannel, exchange: str) -> None:
    # amq.* exchanges always exist and may not be declared; any other one is ours to create.
    if exchange and not exchange.startswith("amq."):
        # types-pika declares the enum members as str; the call itself is right.
        topic: Any = ExchangeType.topic
        channel.exchange_declare(exchange, exchange_type=topic, durable=True)


def declare_queue(channel: BlockingChannel, queue: str, exchange: str = "", keys: tuple[str, ...] = ()) -> None:
    channel.queue_declare(queue, durable=True)  # survives a broker restart, with persistent messages
    for key in keys:
        channel.queue_bind(queue, exchange, routing_key=key)


@dataclass(frozen=True)
class Delivery:
    """One received message, with the fields pika types as optional made definite."""

    tag: int
    routing_key: str
    properties: BasicProperties
    body: bytes


class Handler(Protocol):
    def on_connected(self, channel: BlockingChannel) -> None:
        """Declare what the handler publishes to; forget any state tied to the old connection."""

    def handle(self, channel: BlockingChannel, delivery: Delivery) -> None:
        """Process one message and settle it (ack, reject) on ``channel``."""


@dataclass
class Consumer:
    """Consume ``queue`` (bound to ``keys`` on ``exchange``) until ``stop`` is set, reconnecting."""

    name: str
    config: BusConnection
    queue: str
    keys: tuple[str, ...]
    handler: Handler
    prefetch: int
    stop: threading.Event = field(default_factory=threading.Event)
    connected: threading.Event = field(default_factory=threading.Event)
    on_depth: Callable[[int], None] | None = None
    """Called with the queue's ready messages (its backlog) on connecting, then every ``DEPTH_EVERY_S``."""
    _was_connected: bool = field(default=False, init=False)

    def run(self) -> None:
        delays = backoff_delays()
        while not self.stop.is_set():
            try:
                self._session()
            except (pika.exceptions.AMQPError, OSError) as exc:
                if self._was_connected:  # a fresh outage starts again from the shortest delay
                    delays, self._was_connected = backoff_delays(), False
                delay = next(delays)
                log.warning(
                    "%s: bus connection lost (%s); reconnecting in %.1fs", self.name, exc.__class__.__name__, delay
                )
                self.stop.wait(delay)

    def _session(self) -> None:
        connection = pika.BlockingConnection(connection_parameters(self.config))
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            declare_exchange(channel, self.config.exchange)
            declare_queue(channel, self.queue, self.config.exchange, self.keys)
            channel.basic_qos(prefetch_count=min(self.prefetch, MAX_PREFETCH))
            self.handler.on_connected(channel)
            self._was_connected = True
            self.connected.set()
            log.info("%s: consuming %s", self.name, self.queue)
            measured = self._measure(channel, 0.0)
            for method, properties, body in channel.consume(self.queue, inactivity_timeout=0.5):
                if self.stop.is_set():
                    break
                measured = self._measure(channel, measured)
                if method is None:  # inactivity tick: lets us notice the stop signal
                    continue
                assert method.delivery_tag is not None and properties is not None
                self.handler.handle(
                    channel, Delivery(method.delivery_tag, method.routing_key or "", properties, body or b"")
                )
            channel.cancel()
        finally:
            self.connected.clear()
            if connection.is_open:
                with contextlib.suppress(pika.exceptions.AMQPError):
                    connection.close()

    def _measure(self, channel: BlockingChannel, last: float) -> float:
        """The backlog, by a passive declare (one round trip), at most every ``DEPTH_EVERY_S``."""
        now = time.monotonic()
        if self.on_depth is None or (last and now - last < DEPTH_EVERY_S):
            return last
        count = channel.queue_declare(self.queue, durable=True, passive=True).method.message_count
        if count is not None:
            self.on_depth(int(count))
        return now

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name=f"bus-{self.name}", daemon=True)
        thread.start()
        return thread


def publish_json(
    channel: BlockingChannel,
    exchange: str,
    keys: tuple[str, ...],
    body: bytes,
    correlation_id: str | None = None,
) -> None:
    """Publish to every key; returns once the broker confirmed each (confirm mode)."""
    properties = json_properties(correlation_id)
    for key in keys:
        channel.basic_publish(exchange, key, body, properties)


def run_heartbeating(channel: BlockingChannel, work: Callable[[], T]) -> T:
    """Run ``work`` on a thread while this (blocking) connection keeps answering heartbeats.

    A blocking pika connection only services heartbeats when it is called; a training run of
    minutes would otherwise get the connection closed by the broker, and with it every unacked
    record redelivered, to be trained on again, forever.
    """
    outcome: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:  # re-raised below, on the consumer's thread
            failure.append(exc)

    worker = threading.Thread(target=target, name="heartbeating-work", daemon=True)
    worker.start()
    while worker.is_alive():
        channel.connection.process_data_events(time_limit=1)
        worker.join(0.05)
    if failure:
        raise failure[0]
    return outcome[0]


class Publisher:
    """A connection used only to publish (training statistics from the training Job)."""

    def __init__(self, config: BusConnection) -> None:
        self.config = config
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None

    def publish(self, keys: tuple[str, ...], body: bytes) -> None:
        for attempt in range(3):
            try:
                if self._channel is None or not self._channel.is_open:
                    self._connection = pika.BlockingConnection(connection_parameters(self.config))
                    self._channel = self._connection.channel()
                    self._channel.confirm_delivery()
                    declare_exchange(self._channel, self.config.exchange)
                publish_json(self._channel, self.config.exchange, keys, body)
                return
            except (pika.exceptions.AMQPError, OSError):
                self._channel = None
                if attempt == 2:
                    raise
                threading.Event().wait(BACKOFF_FIRST_S * 2**attempt)

    def close(self) -> None:
        if self._connection is not None and self._connection.is_open:
            self._connection.close()
