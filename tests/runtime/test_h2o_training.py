"""H2O training with the example's real ``train.jar`` (``bundles/h2o-quality-trained``), on real servers.

The Job trains from a CSV in moto's S3 and uploads the MOJO; the prediction server then serves it,
and its answers must equal H2O's own scoring of that MOJO. Buffered bus training retrains beside
serving and swaps each new MOJO in with no request failing meanwhile. A jar that refuses its
hyperparameters fails the Job with its own message and uploads nothing.
"""

from __future__ import annotations

import csv
import json
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from generator.pipeline import server_config_for
from generator.runtime.jartrain import run_jar
from generator.runtime.training import TrainingError
from tests.platform.rabbitmq import RabbitNode
from tests.waiting import poll

from .bundles import bus_connection
from .conftest import S3_ENV, RunningServer, S3Server
from .test_bus import channel, drain, publish
from .test_h2o import DATASET, FEATURES, assert_same, build_jar, h2o_own_scores, rows
from .test_training import finish, run_job, stats_collector

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "bundles" / "h2o-quality-trained"
SLUG = "h2o-quality-trained"


def trained_config(name: str, storage: dict[str, Any], **training: Any) -> dict[str, Any]:
    """The compiler's server config for the example, pointed at this test's storage and bus."""
    config = server_config_for(BUNDLE, None).model_dump(mode="json")
    config["code"]["src_dir"] = str(BUNDLE / "src")
    # the bridge jar aiar ships into the image when the bundle gives none
    config["jvm"]["jar"] = str(REPO / "generator" / "jars" / "h2o-predict.jar")
    config["model_key"] = f"models/{name}/1/model.zip"
    config["storage"] = storage
    config["training"].update(training)
    return config


def historic_config(name: str, s3: S3Server, **training: Any) -> dict[str, Any]:
    """The example's config training from the dataset, uploaded to moto's S3 under this test's name."""
    dataset_key = f"datasets/{name}/quality_history.csv"
    s3.client().upload_file(str(DATASET), s3.bucket, dataset_key)
    return trained_config(
        name,
        {"endpoint_url": s3.endpoint, "bucket": s3.bucket},
        historic={"data_source": "STORAGE", "file_name": "quality_history.csv", "dataset_key": dataset_key},
        bus=None,
        **training,
    )


def java_children(server: RunningServer) -> list[int]:
    """The JVMs the server runs (its child processes running java)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes().split(b"\0")[0]
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[1]) == server.process.pid and command.endswith(b"java"):
            found.append(int(stat.parent.name))
    return found


def dataset_rows() -> list[dict[str, str]]:
    with DATASET.open() as f:
        return list(csv.DictReader(f))


def served_scores(server: RunningServer) -> list[dict[str, Any]]:
    with server.client() as http:
        answers = [http.post(f"/v2/models/{SLUG}/predict", json=row) for row in rows()]
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    return [a.json() for a in answers]


def test_historic_training_job_then_served(
    tmp_path: Path, s3: S3Server, rabbitmq: RabbitNode, runtime_path: Path, start_server: Callable[..., RunningServer]
) -> None:
    name = f"h2o-hist-{uuid.uuid4().hex[:8]}"
    config = historic_config(name, s3, output_keys=[f"{name}.training.out"])
    config["message_bus"] = bus_connection(rabbitmq.port)
    stats_queue = stats_collector(rabbitmq, f"{name}.training.out")
    server = start_server(config, S3_ENV)
    with server.client() as http:
        assert http.get("/v2/health/ready").status_code == 503  # nothing trained yet
    finish(run_job(runtime_path, config, tmp_path / "job", "--historic-only", env=S3_ENV), tmp_path / "job", 300)

    mojo = tmp_path / "stored.zip"
    s3.client().download_file(s3.bucket, config["model_key"], str(mojo))
    [(_, body)] = drain(rabbitmq, stats_queue)
    stats = json.loads(body)
    assert stats["model"] == SLUG
    assert stats["mode"] == "historic"
    assert stats["stats"]["rows"] == len(dataset_rows())

    server.wait_ready(timeout=120)
    for served, expected in zip(served_scores(server), h2o_own_scores(rows(), mojo), strict=True):
        assert_same(served, expected)


def test_bus_training_swaps_the_mojo_without_a_failed_request(
    tmp_path: Path, rabbitmq: RabbitNode, start_server: Callable[..., RunningServer]
) -> None:
    name = f"h2o-bus-{uuid.uuid4().hex[:8]}"
    storage = tmp_path / "storage"
    buffer = 120
    config = trained_config(
        name,
        {"endpoint_url": "", "bucket": "", "local_dir": str(storage)},
        historic=None,
        bus={"input_keys": [f"{name}.train"], "queue": f"{name}.train", "buffer": buffer},
        output_keys=[f"{name}.training.out"],
    )
    config["message_bus"] = bus_connection(rabbitmq.port)
    stats_queue = stats_collector(rabbitmq, f"{name}.training.out")
    with channel(rabbitmq) as ch:
        ch.queue_declare(f"{name}.train", durable=True)
        ch.queue_bind(f"{name}.train", "amq.topic", routing_key=f"{name}.train")
    server = start_server(config)

    records = dataset_rows()
    # Records as a producer sends them: numbers as numbers, the label as text.
    first = [{k: float(r[k]) for k in FEATURES} | {"label": r["label"]} for r in records[:buffer]]
    # A buffer H2O refuses (one label only): reported, dropped, and the consumer goes on.
    constant = [r | {"label": "OK"} for r in first]
    publish(rabbitmq, f"{name}.train", [json.dumps(r).encode() for r in constant + first])
    server.wait_ready(timeout=180)
    poll("the stats of both first buffers", lambda: rabbitmq.queue_depth(stats_queue) >= 2, timeout=60)
    [(_, refused), (_, trained)] = drain(rabbitmq, stats_queue)
    report = json.loads(refused)
    assert report["stats"] is None
    assert report["records"] == buffer
    assert report["error"].startswith("train.jar: ")
    assert "constant" in report["error"].lower()
    assert json.loads(trained)["stats"]["rows"] == buffer
    assert len(java_children(server)) == 1  # no second JVM from the loader's own poll
    model_path = storage / config["model_key"]
    first_mojo = tmp_path / "first.zip"
    first_mojo.write_bytes(model_path.read_bytes())
    for served, expected in zip(served_scores(server), h2o_own_scores(rows(), first_mojo), strict=True):
        assert_same(served, expected)

    # A second buffer with the labels flipped: a visibly different model, swapped in under load.
    flipped = [r | {"label": "OK" if r["label"] == "NOK" else "NOK"} for r in first]
    failures: list[str] = []
    done = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            while not done.is_set():
                answer = http.post(f"/v2/models/{SLUG}/predict", json=rows()[0])
                if answer.status_code != 200:
                    failures.append(f"{answer.status_code} {answer.text}")

    clients = [threading.Thread(target=load) for _ in range(2)]
    for client in clients:
        client.start()
    try:
        publish(rabbitmq, f"{name}.train", [json.dumps(r).encode() for r in flipped])
        poll("the second training's stats", lambda: rabbitmq.queue_depth(stats_queue) >= 1, timeout=180)
        second_expected = None

        def swapped() -> bool:
            nonlocal second_expected
            if second_expected is None:
                second_mojo = tmp_path / "second.zip"
                second_mojo.write_bytes(model_path.read_bytes())
                second_expected = h2o_own_scores(rows(), second_mojo)
            return bool(served_scores(server)[0]["predict"] == second_expected[0]["predict"])

        poll("the retrained MOJO served", swapped, timeout=60)
    finally:
        done.set()
        for client in clients:
            client.join()
    assert failures == []
    assert second_expected is not None
    for served, expected in zip(served_scores(server), second_expected, strict=True):
        assert_same(served, expected)
    stats = [json.loads(body) for _, body in drain(rabbitmq, stats_queue)]
    assert [(s["mode"], s["records"], s["stats"]["rows"]) for s in stats] == [("buffer", buffer, buffer)]
    # the replaced JVM is closed after its grace period: one JVM serves
    poll("one JVM left after the swap", lambda: len(java_children(server)) == 1, timeout=30)


def test_refused_hyperparameters_fail_the_job_and_upload_nothing(
    tmp_path: Path, s3: S3Server, runtime_path: Path
) -> None:
    name = f"h2o-bad-{uuid.uuid4().hex[:8]}"
    config = historic_config(name, s3, output_keys=[], hyperparameters={"response": "label", "ntrees": "many"})
    job = run_job(runtime_path, config, tmp_path / "job", "--historic-only", env=S3_ENV)
    assert job.wait(300) != 0
    log = (tmp_path / "job" / "train.log").read_text()
    assert "historic training failed: train.jar: hyperparameter 'ntrees' must be a number" in log
    listed = s3.client().list_objects_v2(Bucket=s3.bucket, Prefix=f"models/{name}/")
    assert listed.get("KeyCount", 0) == 0


# --- a train.jar that breaks the contract -----------------------------------------------------------

DIES = """
public class Crash {
    public static void main(String[] args) {
        System.err.println("out of memory while parsing");
        System.exit(137);
    }
}
"""

SILENT = """
public class Crash {
    public static void main(String[] args) throws Exception {
        System.in.readAllBytes();
        System.err.println("done, but says nothing");
    }
}
"""


HANGS = """
public class Crash {
    public static void main(String[] args) throws Exception {
        System.in.readAllBytes();
        Thread.sleep(600_000);
    }
}
"""

FLOODS = """
public class Crash {
    public static void main(String[] args) throws Exception {
        System.in.readAllBytes();
        var raw = new java.io.FileOutputStream(java.io.FileDescriptor.out);
        java.io.PrintStream out = new java.io.PrintStream(raw, false);
        String junk = "x".repeat(1023) + "\\n";
        for (int i = 0; i < 50 * 1024; i++) out.print(junk);
        out.println("{\\"stats\\": {\\"ok\\": true}}");
        out.flush();
    }
}
"""

ODD_ERROR = """
public class Crash {
    public static void main(String[] args) throws Exception {
        System.in.readAllBytes();
        System.out.println("{\\"error\\": {\\"why\\": [\\"line one\\\\nforged log line\\", \\"%s\\"]}}");
    }
}
""" % ("y" * 3000)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (DIES, "train.jar exited with code 137; its last stderr line: out of memory while parsing"),
        (SILENT, 'train.jar exited 0 without its {"stats": ...} line on stdout'),
        (HANGS, "train.jar did not finish within 3s; it was killed"),
    ],
    ids=["dies", "silent", "hangs"],
)
def test_a_jar_that_breaks_the_contract_is_a_training_error(tmp_path: Path, source: str, message: str) -> None:
    jar = build_jar(tmp_path / "jar", source) / "predict.jar"
    with pytest.raises(TrainingError) as caught:
        run_jar(["java", "-jar", str(jar)], str(tmp_path), {"dataset": "x.csv", "model_path": "m.zip"}, 3)
    assert str(caught.value) == message


def test_a_jar_error_is_shown_on_one_bounded_line(tmp_path: Path) -> None:
    jar = build_jar(tmp_path / "jar", ODD_ERROR) / "predict.jar"
    with pytest.raises(TrainingError) as caught:
        run_jar(["java", "-jar", str(jar)], str(tmp_path), {}, 30)
    message = str(caught.value)
    assert message.startswith('train.jar: {"why":["line one')
    assert "\n" not in message
    assert message.endswith("...")
    assert len(message) < 1100


def test_a_jar_flooding_stdout_still_gives_its_stats(tmp_path: Path) -> None:
    jar = build_jar(tmp_path / "jar", FLOODS) / "predict.jar"
    assert run_jar(["java", "-jar", str(jar)], str(tmp_path), {}, 60) == {"ok": True}
