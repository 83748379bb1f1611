"""Training against real servers: a CSV from S3 (moto), a bus buffer, and an online model."""

from __future__ import annotations

import hashlib
import json
import pickle
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.platform.rabbitmq import RabbitNode
from tests.waiting import poll

from .bundles import (
    IRIS_PREDICT,
    IRIS_TRAIN,
    ONLINE_PREDICT,
    ONLINE_TRAIN,
    base_config,
    bus_connection,
    iris,
    iris_csv,
    write_bundle,
)
from .conftest import S3_ENV, RunningServer, S3Server, run_runtime
from .test_bus import channel, drain, publish

HYPERPARAMETERS = {"max_iter": "300", "scale": "True"}


def stats_collector(node: RabbitNode, key: str) -> str:
    queue = f"{key}.collector"
    with channel(node) as ch:
        ch.queue_declare(queue, durable=True)
        ch.queue_bind(queue, "amq.topic", routing_key=key)
    return queue


def run_job(
    runtime_path: Path, config: dict[str, Any], workdir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    workdir.mkdir(parents=True, exist_ok=True)
    return run_runtime(runtime_path, "train", config, workdir, env, *args)


def finish(job: subprocess.Popen[bytes], workdir: Path, timeout: float = 120) -> None:
    assert job.wait(timeout) == 0, (workdir / "train.log").read_text()


def test_historic_training_from_s3_then_served(
    tmp_path: Path,
    s3: S3Server,
    rabbitmq: RabbitNode,
    runtime_path: Path,
    start_server: Callable[..., RunningServer],
) -> None:
    name = f"hist-{uuid.uuid4().hex[:8]}"
    csv_path = tmp_path / "train_data.csv"
    iris_csv(csv_path)
    s3.client().upload_file(str(csv_path), s3.bucket, f"datasets/{name}/train_data.csv")
    src = write_bundle(tmp_path / "bundle", IRIS_PREDICT, IRIS_TRAIN)
    model_key = f"models/{name}/1/model.pkl"
    config = base_config(
        src,
        model_file="model.pkl",
        model_key=model_key,
        storage={"endpoint_url": s3.endpoint, "bucket": s3.bucket},
        message_bus=bus_connection(rabbitmq.port),
        training={
            "historic": {
                "data_source": "STORAGE",
                "file_name": "train_data.csv",
                "dataset_key": f"datasets/{name}/train_data.csv",
            },
            "output_keys": [f"{name}.training.out"],
            "hyperparameters": HYPERPARAMETERS,
        },
    )
    stats_queue = stats_collector(rabbitmq, f"{name}.training.out")
    # The server starts first: not ready while the model is not in storage yet.
    server = start_server(config, S3_ENV)
    with server.client() as http:
        assert http.get("/v2/health/ready").status_code == 503
    finish(run_job(runtime_path, config, tmp_path / "job", env=S3_ENV), tmp_path / "job")

    stored = tmp_path / "stored.pkl"
    s3.client().download_file(s3.bucket, model_key, str(stored))
    model = pickle.loads(stored.read_bytes())
    [(_, body)] = drain(rabbitmq, stats_queue)
    stats = json.loads(body)
    assert stats["model"] == "iris"
    assert stats["mode"] == "historic"
    assert stats["stats"]["rows"] == 150
    assert stats["stats"]["scale"] == "True"
    # Stored with the model: its sha256 (for `aiar storage get`) and the training record beside it.
    head = s3.client().head_object(Bucket=s3.bucket, Key=model_key)
    assert head["Metadata"]["sha256"] == hashlib.sha256(stored.read_bytes()).hexdigest()
    record = json.loads(
        s3.client().get_object(Bucket=s3.bucket, Key=f"models/{name}/1/training-stats.json")["Body"].read()
    )
    assert record["stats"] == stats["stats"]
    assert record["mode"] == "historic"
    assert record["model_file"] == model_key
    assert record["trained_at"]

    server.wait_ready(timeout=30)
    rows = iris()[0][::7].tolist()
    with server.client() as http:
        answer = http.post("/v2/models/iris/predict", json={"features": rows})
    assert answer.json() == model.predict(rows).tolist()


def test_buffered_training_from_the_bus(tmp_path: Path, rabbitmq: RabbitNode, runtime_path: Path) -> None:
    name = f"buffer-{uuid.uuid4().hex[:8]}"
    src = write_bundle(tmp_path / "bundle", IRIS_PREDICT, IRIS_TRAIN)
    storage = tmp_path / "storage"
    model_key = f"models/{name}/1/model.pkl"
    buffer = 15
    config = base_config(
        src,
        model_file="model.pkl",
        model_key=model_key,
        storage={"endpoint_url": "", "bucket": "", "local_dir": str(storage)},
        message_bus=bus_connection(rabbitmq.port),
        training={
            "bus": {"input_keys": [f"{name}.train"], "queue": f"{name}.train", "buffer": buffer},
            "output_keys": [f"{name}.training.out"],
            "hyperparameters": HYPERPARAMETERS,
        },
    )
    stats_queue = stats_collector(rabbitmq, f"{name}.training.out")
    with channel(rabbitmq) as ch:  # bound before publishing, as the deployed queue would be
        ch.queue_declare(f"{name}.train", durable=True)
        ch.queue_bind(f"{name}.train", "amq.topic", routing_key=f"{name}.train")
    x, y = iris()
    picks = [*range(0, 150, 10), *range(5, 150, 10)]  # two buffers, all three classes in each
    records = [json.dumps({"features": x[i].tolist(), "label": int(y[i])}).encode() for i in picks]
    publish(rabbitmq, f"{name}.train", [b"not a record", *records])
    finish(run_job(runtime_path, config, tmp_path / "job", "--rounds", "2"), tmp_path / "job")

    stats = [json.loads(body) for _, body in drain(rabbitmq, stats_queue)]
    assert [s["records"] for s in stats] == [buffer, buffer]
    assert all(s["mode"] == "buffer" and s["stats"]["rows"] == buffer for s in stats)
    model = pickle.loads((storage / model_key).read_bytes())
    assert set(model.classes_.tolist()) == {0, 1, 2}
    record = json.loads((storage / f"models/{name}/1/training-stats.json").read_bytes())
    assert record["mode"] == "buffer"
    assert record["stats"] == stats[-1]["stats"]
    assert rabbitmq.queue_depth(f"{name}.train") == 0  # every record acked once trained


def test_online_model_changes_per_record(
    tmp_path: Path, rabbitmq: RabbitNode, start_server: Callable[..., RunningServer]
) -> None:
    name = f"online-{uuid.uuid4().hex[:8]}"
    src = write_bundle(tmp_path / "bundle", ONLINE_PREDICT, ONLINE_TRAIN)
    config = base_config(
        src,
        slug="mean",
        parameters=("x",),
        message_bus=bus_connection(rabbitmq.port),
        training={
            "bus": {"input_keys": [f"{name}.train"], "queue": f"{name}.train", "buffer": 1, "online": True},
            "output_keys": [f"{name}.training.out"],
            "hyperparameters": {},
        },
    )
    stats_queue = stats_collector(rabbitmq, f"{name}.training.out")
    server = start_server(config)
    server.wait_ready()
    seen = []
    with server.client() as http:

        def state() -> Any:
            return http.post("/v2/models/mean/predict", json={"x": 0}).json()

        assert state() == {"n": 0, "mean": None}
        for n, value in enumerate([1.0, 2.0, 6.0], start=1):
            publish(rabbitmq, f"{name}.train", [json.dumps({"x": value}).encode()])
            poll(f"update {n}", lambda n=n: state()["n"] == n, timeout=30)  # type: ignore[misc]
            seen.append(state()["mean"])
    assert seen == [1.0, 1.5, 3.0]
    stats = [json.loads(body) for _, body in drain(rabbitmq, stats_queue)]
    assert [s["records"] for s in stats] == [1, 2, 3]
    assert all(s["mode"] == "online" for s in stats)


def test_server_trains_from_the_bus_and_swaps_the_model_in(
    tmp_path: Path, rabbitmq: RabbitNode, runtime_path: Path, start_server: Callable[..., RunningServer]
) -> None:
    """In a cluster the training Job runs --historic-only; the prediction server consumes bus training."""
    name = f"swap-{uuid.uuid4().hex[:8]}"
    src = write_bundle(tmp_path / "bundle", IRIS_PREDICT, IRIS_TRAIN)
    storage = tmp_path / "storage"
    model_key = f"models/{name}/1/model.pkl"
    buffer = 15
    config = base_config(
        src,
        model_file="model.pkl",
        model_key=model_key,
        storage={"endpoint_url": "", "bucket": "", "local_dir": str(storage)},
        message_bus=bus_connection(rabbitmq.port),
        training={
            "bus": {"input_keys": [f"{name}.train"], "queue": f"{name}.train", "buffer": buffer},
            "output_keys": [],
            "hyperparameters": HYPERPARAMETERS,
        },
    )
    # The Job side: nothing stored to train from and --historic-only, so it must exit at once, not consume.
    job = run_job(runtime_path, config, tmp_path / "job", "--historic-only")
    finish(job, tmp_path / "job", timeout=60)

    server = start_server(config)
    with server.client() as http:
        assert http.get("/v2/health/ready").status_code != 200, "no model yet: not ready"
    x, y = iris()
    picks = range(0, 150, 10)
    publish(
        rabbitmq, f"{name}.train", [json.dumps({"features": x[i].tolist(), "label": int(y[i])}).encode() for i in picks]
    )
    server.wait_ready()
    rows = x[::7].tolist()
    with server.client() as http:
        answer = http.post("/v2/models/iris/predict", json={"features": rows}).json()
    trained = pickle.loads((storage / model_key).read_bytes())
    assert answer == trained.predict(rows).tolist()
    assert rabbitmq.queue_depth(f"{name}.train") == 0
