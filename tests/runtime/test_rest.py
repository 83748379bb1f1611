"""A real scikit-learn model served over REST by the runtime, as an image runs it."""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .bundles import ECHO_PREDICT, IRIS_PREDICT, base_config, iris, iris_model, write_bundle
from .conftest import RunningServer


def _direct_predict(src: Path, model: Any, rows: list[list[float]]) -> Any:
    spec = importlib.util.spec_from_file_location("iris_predict_direct", src / "predict.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.predict(model, rows)


def test_iris_over_rest(tmp_path: Path, start_server: Callable[..., RunningServer]) -> None:
    src = write_bundle(tmp_path / "bundle", IRIS_PREDICT)
    model = iris_model(tmp_path / "bundle" / "model.pkl")
    gate = tmp_path / "gate"
    config = base_config(src, model_file="model.pkl")
    server = start_server(config, {"AIAR_TEST_LOAD_GATE": str(gate)})
    rows = iris()[0][::10].tolist()
    with server.client() as http:
        # load() is blocked on the gate: live, but not ready, and predictions are refused.
        assert http.get("/v2/health/live").status_code == 200
        assert http.get("/v2/health/ready").json() == {"ready": False}
        assert http.get("/v2/health/ready").status_code == 503
        assert http.get("/v2/models/iris/ready").status_code == 503
        assert http.post("/v2/models/iris/predict", json={"features": rows}).status_code == 503
        gate.touch()
        server.wait_ready()
        assert http.get("/v2/models/iris/ready").json() == {"name": "iris", "ready": True}

        expected = _direct_predict(src, model, rows)
        simple = http.post("/v2/models/iris/predict", json={"features": rows})
        assert simple.status_code == 200
        assert simple.json() == expected

        infer = http.post(
            "/v2/models/iris/infer",
            json={
                "id": "req-1",
                "inputs": [
                    {
                        "name": "features",
                        "shape": [len(rows), 4],
                        "datatype": "FP64",
                        "data": [v for row in rows for v in row],
                    }
                ],
            },
        )
        assert infer.status_code == 200, infer.text
        body = infer.json()
        assert body["id"] == "req-1"
        assert body["model_name"] == "iris"
        # No declared type: the result is its JSON text, as the metadata says (typed: test_typed_serving.py)
        [output] = body["outputs"]
        assert (output["datatype"], output["shape"], output["parameters"]) == ("BYTES", [1], {"content_type": "json"})
        assert json.loads(output["data"][0]) == expected

        as_json = http.post(
            "/v2/models/iris/infer",
            json={"inputs": [{"name": "features", "shape": [1], "datatype": "BYTES", "data": [json.dumps(rows)]}]},
        )
        assert json.loads(as_json.json()["outputs"][0]["data"][0]) == expected

        metadata = http.get("/v2/models/iris").json()
        assert metadata["inputs"] == [{"name": "features", "datatype": "BYTES", "shape": [-1]}]
        assert metadata["outputs"] == [{"name": "result", "datatype": "BYTES", "shape": [1]}]
        assert metadata["versions"] == ["1"]


def test_errors_and_metrics(tmp_path: Path, start_server: Callable[..., RunningServer]) -> None:
    src = write_bundle(tmp_path / "bundle", IRIS_PREDICT)
    iris_model(tmp_path / "bundle" / "model.pkl")
    server = start_server(base_config(src, model_file="model.pkl"))
    server.wait_ready()
    with server.client() as http:
        missing = http.post("/v2/models/iris/predict", json={})
        assert missing.status_code == 400
        assert "features" in missing.json()["error"]
        unknown = http.post("/v2/models/iris/predict", json={"features": [], "extra": 1})
        assert unknown.status_code == 400
        assert "extra" in unknown.json()["error"]
        assert http.post("/v2/models/iris/predict", content=b"{nope").status_code == 400
        bad_shape = http.post(
            "/v2/models/iris/infer",
            json={"inputs": [{"name": "features", "shape": [2, 4], "datatype": "FP64", "data": [1.0]}]},
        )
        assert bad_shape.status_code == 400
        assert "features" in bad_shape.json()["error"]
        wrong_name = http.post(
            "/v2/models/iris/infer",
            json={"inputs": [{"name": "feature", "shape": [], "datatype": "FP64", "data": [1.0]}]},
        )
        assert wrong_name.status_code == 400
        assert "feature" in wrong_name.json()["error"]

        boom = http.post("/v2/models/iris/predict", json={"features": "boom"})
        assert boom.status_code == 500
        assert boom.json() == {"error": "predict() raised RuntimeError"}
        assert "Traceback" in server.logs()
        assert "secret detail" in server.logs()

        assert http.get("/v2/models/other/infer").status_code == 404
        assert http.get("/v2/models/iris/infer").status_code == 405

        metrics = http.get("/metrics").text
        assert 'aiar_http_requests_total{code="400",route="/v2/models/{m}/predict"}' in metrics
        assert 'aiar_prediction_errors_total{channel="rest",kind="predict"} 1.0' in metrics
        assert "aiar_http_request_duration_seconds_bucket" in metrics
        assert "aiar_model_load_seconds" in metrics

        from generator.runtime.config import ServerConfig
        from generator.runtime.openapi import openapi_document

        expected = openapi_document(ServerConfig.model_validate(base_config(src, model_file="model.pkl")))
        assert http.get("/openapi.json").json() == expected


class _Processor(BaseHTTPRequestHandler):
    """Doubles every input parameter and wraps the output; answers 500 for ``fail``."""

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if request["stage"] == "input":
            if request["data"].get("a") == "fail":
                self.send_response(500)
                self.end_headers()
                return
            answer: Any = {k: v * 2 for k, v in request["data"].items()}
        else:
            answer = {"wrapped": request["data"], "model": request["model"]}
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_data_processor(tmp_path: Path, start_server: Callable[..., RunningServer]) -> None:
    processor = ThreadingHTTPServer(("127.0.0.1", 0), _Processor)
    threading.Thread(target=processor.serve_forever, daemon=True).start()
    try:
        src = write_bundle(tmp_path / "bundle", ECHO_PREDICT)
        url = f"http://127.0.0.1:{processor.server_address[1]}/transform"
        server = start_server(
            base_config(src, slug="echo", parameters=("a", "b"), data_processor={"url": url, "timeout_s": 5})
        )
        server.wait_ready()
        with server.client() as http:
            answer = http.post("/v2/models/echo/predict", json={"a": 1, "b": "x"})
            assert answer.json() == {"wrapped": {"a": 2, "b": "xx"}, "model": "echo"}
            failed = http.post("/v2/models/echo/predict", json={"a": "fail", "b": 1})
            assert failed.status_code == 502
            assert "data processor (input)" in failed.json()["error"]
            assert "HTTP 500" in failed.json()["error"]
            # Still validated before the processor sees anything.
            assert http.post("/v2/models/echo/predict", json={"a": 1}).status_code == 400
    finally:
        processor.shutdown()


SLOW_PREDICT = """
import time


def predict(model, seconds):
    time.sleep(seconds)
    return seconds
"""


def test_a_slow_predict_does_not_stall_probes(tmp_path: Path, start_server: Callable[..., RunningServer]) -> None:
    src = write_bundle(tmp_path / "bundle", SLOW_PREDICT)
    server = start_server(base_config(src, slug="slow", parameters=("seconds",)))
    server.wait_ready()
    with server.client() as http:
        slow = threading.Thread(target=http.post, args=("/v2/models/slow/predict",), kwargs={"json": {"seconds": 1.5}})
        slow.start()
        time.sleep(0.2)
        started = time.perf_counter()
        assert http.get("/v2/health/live").status_code == 200
        assert time.perf_counter() - started < 0.5
        slow.join()
