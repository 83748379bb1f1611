"""The queue figures of a status, read from the platform's RabbitMQ: one connection for every model,
and a broker that cannot be reached tried once, not once per model."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import pika
import pytest

from generator.apply.model_status import AmqpQueues, Queue
from generator.environment import load_environment
from generator.runtime.config import ServerConfig
from tests.platform.proc import free_port
from tests.platform.testenv import Platform

pytestmark = pytest.mark.platform

REAL_CONNECTION = pika.BlockingConnection
NO_CONFIG = cast(ServerConfig, None)
"""The model's config: the reader takes the queue names it is given and reads nothing of it."""


class _SecretOnly:
    """The API server's answer for the broker's credentials Secret (the only object the reader reads)."""

    def __init__(self, username: str, password: str) -> None:
        self.data = {
            k: base64.b64encode(v.encode()).decode() for k, v in (("username", username), ("password", password))
        }
        self.reads = 0

    def get(self, _: str, key: Any) -> dict[str, Any]:
        self.reads += 1
        assert key.kind == "Secret"
        return {"data": self.data}


def _session(platform: Platform, platform_env: Path, port: int | None = None) -> tuple[Any, _SecretOnly]:
    env = load_environment(platform_env).env
    assert env.message_bus is not None
    if port is not None:
        env = env.model_copy(update={"message_bus": env.message_bus.model_copy(update={"port": port})})
    url = urlsplit(platform.amqp_url)
    kube = _SecretOnly(unquote(url.username or "guest"), unquote(url.password or "guest"))
    return SimpleNamespace(env=env, out=SimpleNamespace(namespace="aiar-test"), kube=kube), kube


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every connection the reader opens (the real pika class, counted)."""
    opened: list[Any] = []

    def counted(params: Any) -> Any:
        opened.append(params)
        connection = REAL_CONNECTION(params)
        opened[-1] = connection
        return connection

    monkeypatch.setattr(pika, "BlockingConnection", counted)
    return opened


@pytest.fixture
def queues(platform: Platform) -> Iterator[list[str]]:
    """Two queues on the broker holding 1 and 2 messages, and the name of one that does not exist."""
    names = [f"status-{uuid.uuid4().hex[:8]}-{i}" for i in range(3)]
    admin = REAL_CONNECTION(pika.URLParameters(platform.amqp_url))  # the test's own, not counted
    channel = admin.channel()
    try:
        channel.confirm_delivery()
        for i, name in enumerate(names[1:]):
            channel.queue_declare(name, durable=False)
            for _ in range(i + 1):
                channel.basic_publish("", name, b"x")
        yield names
    finally:
        for name in names[1:]:
            channel.queue_delete(name)
        admin.close()


def test_one_connection_reads_every_models_queues(
    platform: Platform, platform_env: Path, connections: list[Any], queues: list[str]
) -> None:
    missing, one, two = queues
    session, kube = _session(platform, platform_env)
    with AmqpQueues(session) as read:
        # the missing queue first: the broker closes that channel, the connection serves the others
        found = [*read(NO_CONFIG, [(missing, "train")]), *read(NO_CONFIG, [(one, "predict"), (two, "predict")])]
        assert len(connections) == 1
        assert connections[0].is_open
    assert not connections[0].is_open, "closed with the context"
    assert kube.reads == 1
    assert found == [
        Queue(missing, "train", error="no such queue (nothing has consumed it yet)"),
        Queue(one, "predict", 1, 0),
        Queue(two, "predict", 2, 0),
    ]


def test_a_connection_lost_between_two_models_is_opened_again(
    platform: Platform, platform_env: Path, connections: list[Any], queues: list[str]
) -> None:
    _, one, two = queues
    session, _ = _session(platform, platform_env)
    with AmqpQueues(session) as read:
        assert read(NO_CONFIG, [(one, "predict")]) == [Queue(one, "predict", 1, 0)]
        connections[0].close()  # gone under the reader, as a broker restart or a missed heartbeat leaves it
        assert read(NO_CONFIG, [(two, "predict")]) == [Queue(two, "predict", 2, 0)]
        assert read(NO_CONFIG, [(one, "predict")]) == [Queue(one, "predict", 1, 0)]
    assert len(connections) == 2
    assert not any(connection.is_open for connection in connections)


def test_an_unreachable_broker_is_tried_once(platform: Platform, platform_env: Path, connections: list[Any]) -> None:
    session, _ = _session(platform, platform_env, port=free_port())  # nothing listens there
    with AmqpQueues(session) as read:
        found = [queue for model in range(4) for queue in read(NO_CONFIG, [(f"q{model}", "predict")])]
    assert len(connections) == 1
    assert [q.error for q in found] == ["broker unreachable: AMQPConnectionError"] * 4
    assert all(q.messages is None for q in found)
