"""``aiar status MODEL``: the model-level figures equal what the API server, the pod's own /metrics
(through the API server's proxy, served by the model's real image under podman) and RabbitMQ say."""

from __future__ import annotations

import json
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

import pika
import pytest

from generator.apply.model_status import prometheus_value
from tests.apply.harness import Stage, small_bundle
from tests.waiting import poll


def bus_bundle(root: Path) -> Path:
    bundle = small_bundle(root, "Watched")
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["input"]["prediction"].append(
        {"type": "MESSAGE_BUS", "payload": {"routingKeys": [{"name": "watched.in"}]}}
    )
    manifest["output"] = {
        "prediction": [{"type": "MESSAGE_BUS", "payload": {"routingKeys": [{"name": "watched.out"}]}}]
    }
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return bundle


def scrape(url: str, timeout: float = 120) -> str:
    def read() -> str:
        with urllib.request.urlopen(url, timeout=2) as response:
            return str(response.read().decode())

    return poll(f"{url} to answer", read, timeout=timeout, interval=0.5, retry_on=(OSError,))


@pytest.fixture
def docker_client(stage: Stage) -> Any:
    import docker  # type: ignore[import-untyped]

    client = docker.DockerClient(base_url=stage.platform.docker_host, version="1.41", timeout=300)
    yield client
    client.close()


def test_status_figures_match_their_sources(stage: Stage, tmp_path: Path, docker_client: Any) -> None:
    out = stage.generate([bus_bundle(tmp_path)], tmp_path / "out")
    stage.apply(out)
    index = json.loads((out / "index.json").read_text())
    ref = index["models"]["watched"]["images"]["predict"]["ref"]
    config = json.loads((out / "watched" / "server" / "model-server.json").read_text())
    queue = config["prediction_bus"]["queue"]

    # The model's real image, on podman's bridge network (the API server refuses to proxy to loopback).
    config_file = Path(tempfile.mkdtemp(dir=tmp_path)) / "model-server.json"
    config_file.write_text(json.dumps(config))
    config_file.chmod(0o644)
    config_file.parent.chmod(0o755)
    container = docker_client.containers.run(
        ref,
        detach=True,
        user="10001:10001",
        read_only=True,
        tmpfs={"/tmp": "rw"},
        volumes={str(config_file): {"bind": "/etc/aiar/model-server.json", "mode": "ro"}},
        labels={"aiar.test": "status"},
    )
    try:
        container.reload()
        address = next(iter(container.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]
        direct = scrape(f"http://{address}:8080/metrics")
        # The fake node's pod answers at the container's address: the status path is the real proxy.
        [pod] = stage.kube.list(stage.kube.resource("v1", "Pod"), stage.namespace, "app.kubernetes.io/instance=watched")
        path = stage.kube.resource("v1", "Pod").path(stage.namespace, pod["metadata"]["name"]) + "/status"
        stage.kube.request(
            "PATCH", path, body={"status": {"podIP": address, "podIPs": [{"ip": address}]}},
            content_type="application/merge-patch+json",
        )  # fmt: skip

        # RabbitMQ: the queue with two messages waiting (the container cannot reach the loopback broker).
        amqp = pika.BlockingConnection(pika.URLParameters(stage.platform.env()["AIAR_AMQP_URL"]))
        channel = amqp.channel()
        channel.confirm_delivery()  # each publish confirmed: the counts below are settled
        channel.queue_declare(queue, passive=False, durable=True, arguments={"x-queue-type": "classic"})
        channel.queue_purge(queue)
        for body in (b"1", b"2"):
            channel.basic_publish("", queue, body)
        declared = channel.queue_declare(queue, passive=True).method

        result = stage.aiar("status", "watched", "--out", out, "--env", stage.env_file, "-o", "json")
        assert result.exit_code == 0, result.stdout + result.stderr
        [status] = json.loads(result.stdout)["models"]
        live = stage.objects()["Deployment/watched"]

        assert status["model"] == "watched"
        assert status["state"] == "running"
        assert (
            status["version_deployed"]
            == status["version_generated"]
            == live["metadata"]["annotations"]["aiar.dev/model-version"]
        )
        assert status["replicas_desired"] == live["spec"]["replicas"]
        assert status["replicas_ready"] == live["status"]["readyReplicas"] == 1
        assert status["started_at"] == pod["status"]["startTime"]
        assert status["usage"]["source"] == "pod /metrics (API server proxy)"
        rss = prometheus_value(direct, "process_resident_memory_bytes")
        assert rss is not None
        assert abs(status["usage"]["memory_bytes"] - rss) < 0.25 * rss
        assert status["usage"]["cpu_cores"] >= 0
        assert status["cluster_url"] == f"http://watched.{stage.namespace}.svc:80"
        [q] = status["queues"]
        assert (q["name"], q["messages"], q["consumers"]) == (queue, declared.message_count, declared.consumer_count)
        assert q["messages"] == 2
        channel.queue_delete(queue)
        amqp.close()
    finally:
        container.remove(force=True)

    text = stage.aiar("status", "--out", out, "--env", stage.env_file)
    assert text.exit_code == 0
    assert "watched" in text.stdout
    assert "MEMORY" in text.stdout


def test_status_shows_the_last_training_and_the_schedule(stage: Stage, tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    import yaml

    from tests.apply.test_schedule_apply import scheduled

    now = datetime.now(UTC)
    learner = small_bundle(tmp_path, "Learner", training=True)
    sleeper = scheduled(tmp_path, "Sleeper", now + timedelta(hours=1), now - timedelta(hours=1))  # stopped now
    out = stage.generate([learner, sleeper], tmp_path / "out")
    stage.apply(out)
    # What the training Job's runtime stores beside the model file (tests/runtime/test_training.py
    # shows it does); kwok's pods run nothing, so it is put here.
    config = json.loads((out / "learner" / "server" / "model-server.json").read_text())
    bucket = yaml.safe_load(stage.env_file.read_text())["storage"]["bucket"]
    record = {"model": "learner", "version": 1, "mode": "historic", "trained_at": "2026-12-01T10:00:00+00:00",
              "model_file": config["model_key"], "stats": {"rows": 1}}  # fmt: skip
    prefix = config["model_key"].rpartition("/")[0]
    stage.platform.s3_client(bucket).put_object(
        Bucket=bucket, Key=f"{prefix}/training-stats.json", Body=json.dumps(record).encode()
    )

    result = stage.aiar("status", "--out", out, "--env", stage.env_file, "-o", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    statuses = {s["model"]: s for s in json.loads(result.stdout)["models"]}
    training = statuses["learner"]["training"]
    live_job = next(v for k, v in stage.objects().items() if k.startswith("Job/learner-train"))
    assert training["job"] == live_job["metadata"]["name"]
    assert training["state"] == "complete"
    assert training["completed_at"] == live_job["status"]["completionTime"]
    assert training["stats"] == {"rows": 1}
    assert training["trained_at"] == record["trained_at"]
    assert training["model_file"] == f"s3://{bucket}/{config['model_key']}"

    sleeping = statuses["sleeper"]
    assert sleeping["state"] == "stopped"
    assert sleeping["stopped_by"] == "schedule"
    assert sleeping["next_start"] is not None
    assert sleeping["next_start"] < sleeping["next_stop"]
