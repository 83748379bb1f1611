"""The H2O example served by the aiar server through its JVM bridge, against H2O's own scoring.

H2O's scores come live from a local H2O (the PyPI ``h2o`` package, on 127.0.0.1) scoring the same
rows with the same MOJO; the served answers (simple route, OIP v2, bus) must equal them. Then the
failure modes of the bridge: a jar that exits mid-request, and one that never starts.
"""

from __future__ import annotations

import csv
import json
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from generator.pipeline import server_config_for
from tests.platform.proc import free_port
from tests.platform.rabbitmq import RabbitNode
from tests.waiting import poll

from .bundles import bus_connection, prediction_bus
from .conftest import RunningServer
from .test_bus import drain, prepare, publish

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "bundles" / "h2o-quality-gbm"
DATASET = REPO / "bundles" / "datasets" / "quality_history.csv"
FEATURES = ("temperature", "pressure", "cycle_time")


def rows() -> list[dict[str, float]]:
    with DATASET.open() as f:
        data = [{k: float(r[k]) for k in FEATURES} for r in csv.DictReader(f)][:40:2]
    # and a few the training data never saw
    return [
        *data,
        {"temperature": 300.0, "pressure": 500.0, "cycle_time": 60.0},
        {"temperature": 180.0, "pressure": 1200.0, "cycle_time": 10.0},
    ]


def h2o_own_scores(data: list[dict[str, float]], mojo: Path = BUNDLE / "src" / "model.zip") -> list[dict[str, Any]]:
    """H2O's own predictions for ``data``: the MOJO imported into a local H2O, scored as a frame."""
    import h2o

    h2o.init(ip="127.0.0.1", port=free_port(), nthreads=1, max_mem_size="512M", bind_to_localhost=True, verbose=False)
    try:
        model = h2o.import_mojo(str(mojo))
        frame = h2o.H2OFrame({k: [r[k] for r in data] for k in FEATURES})
        table = model.predict(frame).as_data_frame(use_pandas=False, header=True)
    finally:
        h2o.cluster().shutdown()
    header, *values = table
    labels = header[1:]
    return [{"predict": v[0], "probabilities": dict(zip(labels, map(float, v[1:]), strict=True))} for v in values]


@pytest.fixture(scope="module")
def h2o_scores() -> list[dict[str, Any]]:
    """H2O's own predictions for ``rows()``."""
    pytest.importorskip("h2o")
    return h2o_own_scores(rows())


def h2o_config(**extra: Any) -> dict[str, Any]:
    """The server config the compiler writes for the example, run from the bundle's own src/."""
    config = server_config_for(BUNDLE, None).model_dump(mode="json")
    config["code"]["src_dir"] = str(BUNDLE / "src")
    config.update(extra)
    return config


def assert_same(served: dict[str, Any], expected: dict[str, Any]) -> None:
    assert served["predict"] == expected["predict"]
    assert served["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-9)


def test_rest_and_oip_equal_h2o(start_server: Callable[..., RunningServer], h2o_scores: list[dict[str, Any]]) -> None:
    server = start_server(h2o_config())
    server.wait_ready()
    with server.client() as client:
        for row, expected in zip(rows(), h2o_scores, strict=True):
            response = client.post("/v2/models/h2o-quality-gbm/predict", json=row)
            assert response.status_code == 200, response.text
            assert_same(response.json(), expected)
            oip = client.post(
                "/v2/models/h2o-quality-gbm/infer",
                json={"inputs": [{"name": k, "shape": [], "datatype": "FP64", "data": [v]} for k, v in row.items()]},
            )
            assert oip.status_code == 200, oip.text
            assert_same(json.loads(oip.json()["outputs"][0]["data"][0]), expected)
        missing = client.post("/v2/models/h2o-quality-gbm/predict", json={"temperature": 1.0})
        assert missing.status_code == 400
        assert "pressure" in missing.json()["error"]
        metrics = client.get("/metrics").text
        assert 'aiar_predictions_total{channel="rest"}' in metrics


def test_concurrent_requests_are_pipelined(
    start_server: Callable[..., RunningServer], h2o_scores: list[dict[str, Any]]
) -> None:
    import asyncio

    server = start_server(h2o_config())
    server.wait_ready()

    async def many() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            calls = [client.post("/v2/models/h2o-quality-gbm/predict", json=row) for row in rows() * 10]
            return await asyncio.gather(*calls)

    responses = asyncio.run(many())
    for response, expected in zip(responses, h2o_scores * 10, strict=True):
        assert_same(response.json(), expected)


def test_bus_equals_h2o(
    rabbitmq: RabbitNode, start_server: Callable[..., RunningServer], h2o_scores: list[dict[str, Any]]
) -> None:
    bus = prediction_bus("h2o")
    prepare(rabbitmq, bus, "h2o.collector")
    server = start_server(h2o_config(message_bus=bus_connection(rabbitmq.port), prediction_bus=bus))
    server.wait_ready()
    publish(rabbitmq, "h2o.in", [json.dumps(r).encode() for r in rows()])
    poll("every bus result", lambda: rabbitmq.queue_depth("h2o.collector") >= len(rows()), timeout=60)
    results = {props.correlation_id: json.loads(body) for props, body in drain(rabbitmq, "h2o.collector")}
    for i, expected in enumerate(h2o_scores):
        message = results[str(i)]
        assert message["model"] == "h2o-quality-gbm"
        assert_same(message["result"], expected)


# --- a jar that misbehaves --------------------------------------------------------------------------

CRASHING = """
import java.io.*;

/** Answers pings; exits with code 3 on its first prediction (the aiar bridge must restart it). */
public class Crash {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        String line;
        while ((line = in.readLine()) != null) {
            String id = line.replaceAll(".*\\"id\\":(\\\\d+).*", "$1");
            if (line.contains("ping")) {
                System.out.println("{\\"id\\":" + id + ",\\"result\\":{\\"pong\\":true}}");
                System.out.flush();
            } else {
                System.err.println("crash: out of memory, pretending");
                System.exit(3);
            }
        }
    }
}
"""

NEVER_STARTS = """
public class Crash {
    public static void main(String[] args) {
        System.err.println("crash: cannot open the model");
        System.exit(2);
    }
}
"""


def build_jar(directory: Path, source: str) -> Path:
    directory.mkdir(parents=True)
    (directory / "Crash.java").write_text(textwrap.dedent(source))
    subprocess.run(["javac", "Crash.java"], cwd=directory, check=True)
    (directory / "manifest.txt").write_text("Main-Class: Crash\n")
    subprocess.run(["jar", "cfm", "predict.jar", "manifest.txt", "Crash.class"], cwd=directory, check=True)
    return directory


def crash_config(src: Path) -> dict[str, Any]:
    config = h2o_config()
    config["code"]["src_dir"] = str(src)
    config["model_file"] = None
    return config


def test_jar_that_exits_gives_errors_then_restarts(tmp_path: Path, start_server: Callable[..., RunningServer]) -> None:
    server = start_server(crash_config(build_jar(tmp_path / "crash", CRASHING)))
    server.wait_ready()
    row = rows()[0]
    with server.client() as client:
        response = client.post("/v2/models/h2o-quality-gbm/predict", json=row)
        assert response.status_code == 500
        assert "exited (code 3)" in response.json()["error"]
        # down until the restart (backoff 0.5 s): not ready, and predictions say why
        during = client.post("/v2/models/h2o-quality-gbm/predict", json=row)
        if during.status_code == 503:
            assert "JVM" in during.json()["error"]
            assert client.get("/v2/health/ready").status_code == 503
            assert "aiar_model_ready 0.0" in client.get("/metrics").text
    server.wait_ready(30)  # restarted: it answered a ping again
    assert "exited with code 3" in server.logs()
    with server.client() as client:
        assert "aiar_model_ready 1.0" in client.get("/metrics").text


def test_jar_that_never_starts_stays_not_ready(tmp_path: Path, start_server: Callable[..., RunningServer]) -> None:
    server = start_server(crash_config(build_jar(tmp_path / "never", NEVER_STARTS)))

    def explained() -> bool:
        server.check_alive()
        response = httpx.post(f"{server.url}/v2/models/h2o-quality-gbm/predict", json=rows()[0], timeout=5)
        return response.status_code == 503 and "did not start" in response.json()["error"]

    poll("a 503 that says the JVM did not start", explained, timeout=30)
    assert httpx.get(f"{server.url}/v2/health/ready").status_code == 503
    assert "aiar_model_ready 0.0" in httpx.get(f"{server.url}/metrics").text
    assert "cannot open the model" in server.logs()
