"""Predictions over a real RabbitMQ: counted end to end, across a broker restart, with poison."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import pika
from pika.adapters.blocking_connection import BlockingChannel

from tests.platform.rabbitmq import RabbitNode
from tests.waiting import poll

from .bundles import (
    IRIS_PREDICT,
    base_config,
    bus_connection,
    iris,
    iris_model,
    prediction_bus,
    write_bundle,
)
from .conftest import RunningServer

EXCHANGE = "amq.topic"


@contextmanager
def channel(node: RabbitNode) -> Iterator[BlockingChannel]:
    connection = pika.BlockingConnection(node.parameters())
    try:
        ch = connection.channel()
        ch.confirm_delivery()
        yield ch
    finally:
        if connection.is_open:
            connection.close()


def prepare(node: RabbitNode, bus: dict[str, Any], collector: str) -> None:
    """Declare the input queue and a durable collector of the results before anything is sent."""
    with channel(node) as ch:
        ch.queue_declare(bus["queue"], durable=True)
        for key in bus["input_keys"]:
            ch.queue_bind(bus["queue"], EXCHANGE, routing_key=key)
        ch.queue_declare(collector, durable=True)
        ch.queue_bind(collector, EXCHANGE, routing_key=bus["output_keys"][0])


def publish(node: RabbitNode, key: str, bodies: list[bytes], **props: Any) -> None:
    with channel(node) as ch:
        for i, body in enumerate(bodies):
            properties = pika.BasicProperties(
                delivery_mode=2, correlation_id=props.get("cid", str(i)), reply_to=props.get("reply_to")
            )
            ch.basic_publish(EXCHANGE, key, body, properties)


def drain(node: RabbitNode, queue: str) -> list[tuple[Any, bytes]]:
    out: list[tuple[Any, bytes]] = []
    with channel(node) as ch:
        while True:
            method, properties, body = ch.basic_get(queue, auto_ack=True)
            if method is None or body is None:
                return out
            out.append((properties, cast(bytes, body)))  # pika's stubs say str: it is the bytes sent


def iris_server(
    tmp_path: Path,
    node: RabbitNode,
    start_server: Callable[..., RunningServer],
    bus: dict[str, Any],
    env: dict[str, str] | None = None,
) -> RunningServer:
    src = write_bundle(tmp_path / "bundle", IRIS_PREDICT)
    iris_model(tmp_path / "bundle" / "model.pkl")
    config = base_config(src, model_file="model.pkl", message_bus=bus_connection(node.port), prediction_bus=bus)
    server = start_server(config, env)
    server.wait_ready()
    return server


def test_n_in_n_out_across_a_broker_restart(
    tmp_path: Path, rabbitmq: RabbitNode, start_server: Callable[..., RunningServer]
) -> None:
    name = f"restart-{uuid.uuid4().hex[:8]}"
    bus = prediction_bus(name, prefetch=8)
    collector = f"{name}.collector"
    prepare(rabbitmq, bus, collector)
    # Slow predictions so that the restart really happens while messages are in flight.
    server = iris_server(tmp_path, rabbitmq, start_server, bus, {"AIAR_TEST_PREDICT_DELAY": "0.01"})
    rows = iris()[0].tolist()
    n = 300
    publish(
        rabbitmq, bus["input_keys"][0], [json.dumps({"features": [rows[i % len(rows)]]}).encode() for i in range(n)]
    )
    poll("the first results", lambda: rabbitmq.queue_depth(collector) >= 30, timeout=30)
    rabbitmq.restart()
    before = rabbitmq.queue_depth(collector)
    assert before < n, "the restart came too late to test anything"
    poll(f"{n} results", lambda: rabbitmq.queue_depth(collector) >= n, timeout=120, interval=0.5)
    time.sleep(1)  # anything redelivered after the restart lands too: count duplicates as well
    results = drain(rabbitmq, collector)
    ids = [props.correlation_id for props, _ in results]
    assert set(ids) == {str(i) for i in range(n)}, "a message was lost"
    expected_model = iris_model(tmp_path / "expected.pkl")
    for props, body in results:
        message = json.loads(body)
        i = int(props.correlation_id)
        assert message["model"] == "iris"
        assert message["version"] == 1
        assert message["result"] == expected_model.predict([rows[i % len(rows)]]).tolist()
    assert "reconnecting" in server.logs()
    assert rabbitmq.queue_depth(bus["dead_letter_queue"]) == 0


def test_poison_is_dead_lettered_and_the_consumer_goes_on(
    tmp_path: Path, rabbitmq: RabbitNode, start_server: Callable[..., RunningServer]
) -> None:
    name = f"poison-{uuid.uuid4().hex[:8]}"
    bus = prediction_bus(name, max_retries=2)
    collector = f"{name}.collector"
    prepare(rabbitmq, bus, collector)
    server = iris_server(tmp_path, rabbitmq, start_server, bus)
    key = bus["input_keys"][0]
    publish(rabbitmq, key, [b"{not json"], cid="bad-json")
    publish(rabbitmq, key, [b'{"wrong": 1}'], cid="missing")
    publish(rabbitmq, key, [b'{"features": "boom"}'], cid="raises")
    publish(rabbitmq, key, [json.dumps({"features": [[5.1, 3.5, 1.4, 0.2]]}).encode()], cid="good")
    poll("the good result", lambda: rabbitmq.queue_depth(collector) >= 1, timeout=30)
    poll("dead letters", lambda: rabbitmq.queue_depth(bus["dead_letter_queue"]) >= 3, timeout=30)
    dead = {props.correlation_id: props.headers for props, _ in drain(rabbitmq, bus["dead_letter_queue"])}
    assert set(dead) == {"bad-json", "missing", "raises"}
    assert "not valid JSON" in dead["bad-json"]["x-aiar-error"]
    assert "features" in dead["missing"]["x-aiar-error"]
    assert dead["raises"]["x-aiar-error-kind"] == "predict"
    assert dead["raises"]["x-aiar-retries"] == 2  # tried three times in all
    good = drain(rabbitmq, collector)
    assert [props.correlation_id for props, _ in good] == ["good"]
    assert json.loads(good[0][1])["result"] == [0]
    server.check_alive()


def test_reply_to_and_correlation_id(
    tmp_path: Path, rabbitmq: RabbitNode, start_server: Callable[..., RunningServer]
) -> None:
    name = f"reply-{uuid.uuid4().hex[:8]}"
    bus = prediction_bus(name)
    prepare(rabbitmq, bus, f"{name}.collector")
    iris_server(tmp_path, rabbitmq, start_server, bus)
    reply_queue = f"{name}.replies"
    with channel(rabbitmq) as ch:
        ch.queue_declare(reply_queue, durable=True)
    publish(
        rabbitmq,
        bus["input_keys"][0],
        [json.dumps({"features": [[6.3, 3.3, 6.0, 2.5]]}).encode()],
        cid="ask-1",
        reply_to=reply_queue,
    )
    poll("the reply", lambda: rabbitmq.queue_depth(reply_queue) >= 1, timeout=30)
    [(props, body)] = drain(rabbitmq, reply_queue)
    assert props.correlation_id == "ask-1"
    assert json.loads(body) == {"model": "iris", "version": 1, "result": [2]}
