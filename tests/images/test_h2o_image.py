"""The H2O example's image, built on the local platform: its answers equal H2O's own scoring.

H2O's scores come live from a local H2O (the PyPI ``h2o`` package on 127.0.0.1) scoring the same
rows with the bundle's MOJO (:func:`tests.runtime.test_h2o.h2o_own_scores`); the container's answers
on the simple REST route, on OIP v2 and on the message bus (the platform's RabbitMQ) must equal them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.platform.testenv import Platform
from tests.runtime.test_h2o import assert_same, h2o_own_scores, rows
from tests.waiting import poll

from .conftest import Compiled, build_image, logs, prediction_bus, serving

pytestmark = pytest.mark.platform

SLUG = "h2o-quality-gbm"


@dataclass(frozen=True)
class Served:
    url: str
    container: Any
    ref: str


@pytest.fixture(scope="module")
def expected() -> list[dict[str, Any]]:
    return h2o_own_scores(rows())


@pytest.fixture(scope="module")
def served(docker_client: Any, compiled: Compiled, platform: Platform) -> Iterator[Served]:
    ref = build_image(docker_client, compiled, SLUG)
    with serving(docker_client, ref, environment=platform.runtime_credentials(), config=compiled.config(SLUG)) as (
        url,
        container,
    ):
        yield Served(url, container, ref)


def test_the_jre_is_complete_in_the_image(docker_client: Any, served: Served) -> None:
    """The JRE copied from the Java image has no link left pointing outside it (e.g. to /etc/java-17-openjdk)."""
    dangling = docker_client.containers.run(
        served.ref, entrypoint=["find", "/opt/java", "-xtype", "l"], remove=True, user="10001:10001"
    )
    assert dangling.decode().split() == []
    version = docker_client.containers.run(
        served.ref, entrypoint=["java", "-version"], remove=True, stdout=False, stderr=True
    )
    assert b"openjdk" in version.lower()


def test_rest_and_oip_equal_h2o(served: Served, expected: list[dict[str, Any]]) -> None:
    with httpx.Client(base_url=served.url, timeout=30) as client:
        for row, score in zip(rows(), expected, strict=True):
            response = client.post(f"/v2/models/{SLUG}/predict", json=row)
            assert response.status_code == 200, response.text
            assert_same(response.json(), score)
            oip = client.post(
                f"/v2/models/{SLUG}/infer",
                json={"inputs": [{"name": k, "shape": [], "datatype": "FP64", "data": [v]} for k, v in row.items()]},
            )
            assert oip.status_code == 200, oip.text
            assert_same(json.loads(oip.json()["outputs"][0]["data"][0]), score)
        missing = client.post(f"/v2/models/{SLUG}/predict", json={"temperature": 1.0})
        assert missing.status_code == 400
        assert "pressure" in missing.json()["error"]
        assert client.get(f"/v2/models/{SLUG}/ready").json() == {"name": SLUG, "ready": True}
        assert 'aiar_predictions_total{channel="rest"}' in client.get("/metrics").text


def test_bus_equals_h2o(served: Served, compiled: Compiled, platform: Platform, expected: list[dict[str, Any]]) -> None:
    run = uuid.uuid4().hex
    with prediction_bus(platform, json.loads(compiled.config(SLUG).read_text())) as bus:
        for i, row in enumerate(rows()):
            bus.publish(json.dumps(row).encode(), f"{run}-{i}")
        results: dict[str, Any] = {}

        def collected() -> bool:
            while True:  # everything that arrived, then a pause
                method, properties, body = bus.channel.basic_get(bus.collector, auto_ack=True)
                if method is None or properties is None or body is None:
                    return len(results) >= len(expected)
                if str(properties.correlation_id).startswith(run):
                    results[str(properties.correlation_id)] = json.loads(body)

        poll(
            "every bus result",
            collected,
            timeout=60,
            diagnostics=lambda: f"{len(results)} of {len(expected)} bus results:\n{logs(served.container)}",
        )
    assert len(results) == len(expected), f"{len(results)} of {len(expected)} bus results:\n{logs(served.container)}"
    for i, score in enumerate(expected):
        message = results[f"{run}-{i}"]
        assert (message["model"], message["version"]) == (SLUG, 1)
        assert_same(message["result"], score)
