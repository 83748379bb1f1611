"""A model whose only input is the bus is ready only while the bus is connected; while the broker is
away, each retry is one log line, no traceback."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.platform.proc import free_port
from tests.platform.rabbitmq import RabbitNode

from .bundles import base_config, bus_connection, prediction_bus, write_bundle
from .conftest import RunningServer

# A bus-only model's predict() gets the whole message object.
BUS_PREDICT = "def predict(model, message):\n    return message\n"


def bus_only(src: Path, port: int, name: str) -> dict[str, object]:
    config = base_config(src, slug=name)
    config["rest"] = None  # no REST_API input in the manifest: the bus is the model's only input
    config["message_bus"] = bus_connection(port)
    config["prediction_bus"] = prediction_bus(name)
    return config


def test_without_a_broker_a_bus_only_model_is_not_ready(
    tmp_path: Path, start_server: Callable[..., RunningServer]
) -> None:
    src = write_bundle(tmp_path / "bundle", BUS_PREDICT)
    server = start_server(bus_only(src, free_port(), "lonely"))
    deadline = time.monotonic() + 30
    while "reconnecting" not in server.logs():
        server.check_alive()
        assert time.monotonic() < deadline, server.logs()
        time.sleep(0.2)
    time.sleep(3)  # a few retries
    answer = httpx.get(f"{server.url}/v2/health/ready", timeout=5)
    assert answer.status_code == 503
    assert httpx.get(f"{server.url}/v2/health/live", timeout=5).status_code == 200
    logs = server.logs()
    assert "Traceback" not in logs
    retries = [line for line in logs.splitlines() if "reconnecting" in line]
    assert len(retries) >= 2
    assert all("bus connection lost" in line for line in retries)


def test_with_the_broker_it_becomes_ready(
    tmp_path: Path, start_server: Callable[..., RunningServer], rabbitmq: RabbitNode
) -> None:
    src = write_bundle(tmp_path / "bundle", BUS_PREDICT)
    server = start_server(bus_only(src, rabbitmq.port, "connected"))
    server.wait_ready(timeout=60)
