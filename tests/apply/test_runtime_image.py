"""The example's images, applied for real, then run with podman against the local RabbitMQ and S3.

Pods never execute on the fake nodes, so this is where the built image proves it works: the training
image trains from a dataset in S3 and stores the model; the prediction image loads it and answers
on REST and on the bus.
"""

from __future__ import annotations

import csv
import io
import json
import socket
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.apply.harness import Stage
from tests.conftest import REPO
from tests.waiting import poll, wait_http

pytestmark = pytest.mark.platform

EXAMPLE = REPO / "bundles" / "quality-classifier"


def _dataset() -> bytes:
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(["temperature", "pressure", "cycle_time", "label"])
    for i in range(60):
        hot = i % 2 == 0
        writer.writerow([240 + i % 7 if hot else 200 + i % 5, 1100 + i, 30 + i % 3, "NOK" if hot else "OK"])
    return rows.getvalue().encode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def docker_client(stage: Stage) -> Iterator[Any]:
    import docker  # type: ignore[import-untyped]

    client = docker.DockerClient(base_url=stage.platform.docker_host, version="1.41")
    yield client
    client.close()


def _run(client: Any, image: str, config: Path, env: dict[str, str], *args: str) -> Any:
    return client.containers.run(
        image,
        list(args),
        detach=True,
        network_mode="host",
        environment=env,
        volumes={str(config): {"bind": "/etc/aiar/model-server.json", "mode": "ro"}},
        labels={"aiar.test": "apply"},
    )


def test_example_applies_twice_and_its_image_serves(stage: Stage, tmp_path: Path, docker_client: Any) -> None:
    import pika

    out = stage.generate([EXAMPLE], tmp_path / "out")
    stage.apply(out)
    before = stage.versions()
    again = stage.apply(out)
    assert (again["built"], again["pushed"], again["changed"]) == (0, 0, [])
    assert stage.versions() == before
    code, plan = stage.plan(out)
    assert (code, plan["changes"]) == (0, [])

    index = json.loads((out / "index.json").read_text())["models"]["quality-classifier"]["images"]
    config_file = out / "quality-classifier/server/model-server.json"
    config = json.loads(config_file.read_text())
    env = stage.platform.runtime_credentials()
    bucket = config["storage"]["bucket"]
    s3 = stage.platform.s3_client(bucket)
    s3.put_object(Bucket=bucket, Key=config["training"]["historic"]["dataset_key"], Body=_dataset())

    trainer = _run(docker_client, index["train"]["ref"], config_file, env)
    try:
        assert trainer.wait(timeout=180)["StatusCode"] == 0, trainer.logs().decode()
    finally:
        trainer.remove(force=True)
    assert s3.head_object(Bucket=bucket, Key=config["model_key"])["ContentLength"] > 0

    port = _free_port()
    server = _run(docker_client, index["predict"]["ref"], config_file, env, "--port", str(port))
    try:
        base = f"http://127.0.0.1:{port}"

        def alive() -> None:
            server.reload()
            assert server.status == "running", server.logs().decode()

        wait_http(f"{base}/v2/health/ready", timeout=120, alive=alive, diagnostics=lambda: server.logs().decode())

        request = urllib.request.Request(
            f"{base}/v2/models/quality-classifier/predict",
            method="POST",
            data=json.dumps({"temperature": 245, "pressure": 1150, "cycle_time": 31}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            rest_answer = json.loads(response.read())
        assert "NOK" in json.dumps(rest_answer), rest_answer

        connection = pika.BlockingConnection(pika.URLParameters(stage.platform.amqp_url))
        try:
            channel = connection.channel()
            reply = str(channel.queue_declare("", exclusive=True).method.queue)
            correlation = uuid.uuid4().hex
            channel.basic_publish(
                "amq.topic",
                config["prediction_bus"]["input_keys"][0],
                json.dumps({"temperature": 205, "pressure": 1120, "cycle_time": 30}).encode(),
                pika.BasicProperties(reply_to=reply, correlation_id=correlation, content_type="application/json"),
            )

            def answered() -> Any:
                method, properties, body = channel.basic_get(reply, auto_ack=True)
                if method is None or properties is None or body is None:
                    return None
                return json.loads(body) if properties.correlation_id == correlation else None

            answer = poll(
                "the bus reply", answered, timeout=60, interval=0.2, diagnostics=lambda: server.logs().decode()
            )
            assert "OK" in json.dumps(answer), answer
        finally:
            connection.close()
    finally:
        server.remove(force=True)
