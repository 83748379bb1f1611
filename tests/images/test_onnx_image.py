"""The ONNX example's image (no predict.py: onnxruntime runs the graph), built on the local platform:
its answers on the simple route, OIP v2 and the message bus equal onnxruntime's own on the same rows."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import onnxruntime
import pytest

from tests.conftest import REPO
from tests.platform.testenv import Platform
from tests.waiting import poll

from .conftest import Compiled, assert_holds_bytecode, build_image, logs, prediction_bus, serving

pytestmark = pytest.mark.platform

SLUG = "onnx-quality"
ROWS = [[235.9, 892.7, 27.92], [262.0, 700.0, 41.0], [224.7, 954.8, 30.63]]


def own() -> dict[str, Any]:
    session = onnxruntime.InferenceSession(str(REPO / "bundles" / SLUG / "src" / "quality_model.onnx"))
    labels, probabilities = session.run(None, {"features": np.array(ROWS, dtype=np.float32)})
    return {"label": labels.tolist(), "probabilities": probabilities.tolist()}


@pytest.fixture(scope="module")
def served(docker_client: Any, compiled: Compiled, platform: Platform) -> Iterator[tuple[str, Any]]:
    requirements = (compiled.out / SLUG / "build" / "requirements.txt").read_text()
    assert "onnxruntime==" in requirements
    assert "scikit-learn" not in requirements  # the graph needs no scikit-learn to run
    ref = build_image(docker_client, compiled, SLUG)
    with serving(docker_client, ref, environment=platform.runtime_credentials(), config=compiled.config(SLUG)) as up:
        yield up


def test_the_venv_holds_its_bytecode(docker_client: Any, served: tuple[str, Any]) -> None:
    _, container = served
    assert_holds_bytecode(docker_client, container.image.id, 1000)  # onnxruntime, numpy, the server's own packages


def test_rest_and_oip_equal_onnxruntime(served: tuple[str, Any]) -> None:
    url, _ = served
    expected = own()
    with httpx.Client(base_url=url, timeout=30) as client:
        assert client.post(f"/v2/models/{SLUG}/predict", json={"features": ROWS}).json() == expected
        metadata = client.get(f"/v2/models/{SLUG}").json()
        assert metadata["inputs"] == [{"name": "features", "datatype": "FP32", "shape": [-1, 3]}]
        tensor = {"name": "features", "shape": [3, 3], "datatype": "FP32", "data": [v for row in ROWS for v in row]}
        outputs = client.post(f"/v2/models/{SLUG}/infer", json={"inputs": [tensor]}).json()["outputs"]
        by_name = {o["name"]: o for o in outputs}
        assert by_name["label"]["data"] == expected["label"]
        assert by_name["probabilities"]["shape"] == [3, 2]
        assert by_name["probabilities"]["data"] == [p for row in expected["probabilities"] for p in row]
        wrong = client.post(f"/v2/models/{SLUG}/predict", json={"features": [[1, 2]]})
        assert wrong.status_code == 400
        assert "features" in wrong.json()["error"]


def test_bus_equals_onnxruntime(served: tuple[str, Any], compiled: Compiled, platform: Platform) -> None:
    _, container = served
    run = uuid.uuid4().hex
    with prediction_bus(platform, json.loads(compiled.config(SLUG).read_text())) as bus:
        bus.publish(json.dumps({"features": ROWS}).encode(), run)
        results: list[Any] = []

        def collected() -> bool:
            method, properties, body = bus.channel.basic_get(bus.collector, auto_ack=True)
            if method is not None and properties is not None and body is not None and properties.correlation_id == run:
                results.append(json.loads(body))
            return bool(results)

        poll("the bus result", collected, timeout=60, diagnostics=lambda: logs(container))
    assert results[0]["model"] == SLUG
    assert results[0]["result"] == own()
