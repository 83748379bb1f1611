"""Typed parameters and outputs, and an ONNX model served without code, over REST as an image runs it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import REPO

from .bundles import IRIS_PREDICT, base_config, iris, iris_model, write_bundle
from .conftest import RunningServer

ONNX_BUNDLE = REPO / "bundles" / "onnx-quality"

SCALE_PREDICT = """
def predict(model, factor, options):
    return {"scaled": factor * options["base"], "type": type(factor).__name__}
"""


def typed_iris_config(src: Path) -> dict[str, Any]:
    config = base_config(src, model_file="model.pkl")
    config["rest"]["parameters"][0]["tensor"] = {"datatype": "FP64", "shape": [-1, 4]}
    config["rest"]["outputs"] = [{"name": "result", "tensor": {"datatype": "INT64", "shape": [-1]}}]
    return config


def onnx_config(src: Path) -> dict[str, Any]:
    config = base_config(src, slug="onnx-quality", model_file="quality_model.onnx")
    config["runner"] = "onnx"
    return config


def test_declared_types_are_metadata_checks_and_typed_outputs(
    tmp_path: Path, start_server: Callable[..., RunningServer]
) -> None:
    src = write_bundle(tmp_path / "bundle", IRIS_PREDICT)
    model = iris_model(tmp_path / "bundle" / "model.pkl")
    server = start_server(typed_iris_config(src))
    server.wait_ready()
    rows = iris()[0][::30].tolist()
    expected = model.predict(rows).tolist()
    with server.client() as http:
        metadata = http.get("/v2/models/iris").json()
        assert metadata["inputs"] == [{"name": "features", "datatype": "FP64", "shape": [-1, 4]}]
        assert metadata["outputs"] == [{"name": "result", "datatype": "INT64", "shape": [-1]}]
        tensor = {
            "name": "features",
            "shape": [len(rows), 4],
            "datatype": "FP64",
            "data": [v for row in rows for v in row],
        }
        body = http.post("/v2/models/iris/infer", json={"inputs": [tensor]}).json()
        assert body["outputs"] == [{"name": "result", "datatype": "INT64", "shape": [len(rows)], "data": expected}]
        # one row, as [1, 4]: stays a batch of one (the declared rank), not a scalar
        one = http.post("/v2/models/iris/infer", json={"inputs": [{**tensor, "shape": [1, 4], "data": rows[0]}]})
        assert one.json()["outputs"][0]["data"] == expected[:1]
        for wrong, message in [
            ({**tensor, "datatype": "FP32"}, "parameter 'features' is FP64, got FP32"),
            ({**tensor, "shape": [len(rows) * 4]}, "does not fit the declared [-1, 4]"),
            ({**tensor, "datatype": "BYTES", "data": [json.dumps(rows)], "shape": [1]}, "'features' is FP64"),
        ]:
            answer = http.post("/v2/models/iris/infer", json={"inputs": [wrong]})
            assert answer.status_code == 400
            assert message in answer.json()["error"]
        assert http.post("/v2/models/iris/predict", json={"features": rows}).json() == expected
        bad = http.post("/v2/models/iris/predict", json={"features": [[1, 2, 3]]})
        assert bad.status_code == 400
        assert "parameter 'features': expected FP64 of shape [-1, 4]" in bad.json()["error"]
        assert "features" in http.post("/v2/models/iris/predict", json={"features": [["a"] * 4]}).json()["error"]
        document = http.get("/openapi.json").json()
        schema = document["paths"]["/v2/models/iris/predict"]["post"]["requestBody"]["content"]["application/json"]
        features = schema["schema"]["properties"]["features"]
        assert features["items"] == {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4}


def test_scalars_and_json_schemas(tmp_path: Path, start_server: Callable[..., RunningServer]) -> None:
    src = write_bundle(tmp_path / "bundle", SCALE_PREDICT)
    config = base_config(src, slug="scale", parameters=("factor", "options"))
    config["rest"]["parameters"][0]["tensor"] = {"datatype": "INT32", "shape": []}
    config["rest"]["parameters"][1]["json_schema"] = {
        "type": "object",
        "required": ["base"],
        "properties": {"base": {"type": "number", "minimum": 0}},
    }
    server = start_server(config)
    server.wait_ready()
    with server.client() as http:
        metadata = http.get("/v2/models/scale").json()
        assert metadata["inputs"][0] == {"name": "factor", "datatype": "INT32", "shape": [1]}
        factor = {"name": "factor", "shape": [1], "datatype": "INT32", "data": [3]}  # np.array([3])
        options = {"name": "options", "shape": [1], "datatype": "BYTES", "data": ['{"base": 2}']}
        body = http.post("/v2/models/scale/infer", json={"inputs": [factor, options]}).json()
        assert json.loads(body["outputs"][0]["data"][0]) == {"scaled": 6, "type": "int"}
        assert http.post("/v2/models/scale/predict", json={"factor": 3, "options": {"base": 1.5}}).json() == {
            "scaled": 4.5,
            "type": "int",
        }
        for values, message in [
            ({"factor": 1.5, "options": {"base": 1}}, "parameter 'factor'"),
            ({"factor": [3], "options": {"base": 1}}, "parameter 'factor': expected INT32 of shape [], one value"),
            ({"factor": 3, "options": {"base": -1}}, "parameter 'options' at /base: -1 is less than the minimum of 0"),
            ({"factor": 3, "options": {}}, "parameter 'options': 'base' is a required property"),
        ]:
            answer = http.post("/v2/models/scale/predict", json=values)
            assert answer.status_code == 400, answer.text
            assert message in answer.json()["error"]
        too_big = http.post("/v2/models/scale/infer", json={"inputs": [{**factor, "data": [2**31]}, options]})
        assert too_big.status_code == 400
        assert "out of INT32's range" in too_big.json()["error"]


def onnx_src(tmp_path: Path) -> Path:
    shutil.copytree(ONNX_BUNDLE, tmp_path / "onnx-quality")
    return tmp_path / "onnx-quality" / "src"


def test_onnx_model_without_code(tmp_path: Path, start_server: Callable[..., RunningServer]) -> None:
    import numpy as np
    import onnxruntime

    src = onnx_src(tmp_path)
    assert not (src / "predict.py").exists()
    server = start_server(onnx_config(src))
    server.wait_ready()
    rows = [[235.9, 892.7, 27.92], [262.0, 700.0, 41.0], [224.7, 954.8, 30.63]]
    session = onnxruntime.InferenceSession(str(src / "quality_model.onnx"))
    labels, probabilities = session.run(None, {"features": np.array(rows, dtype=np.float32)})
    with server.client() as http:
        metadata = http.get("/v2/models/onnx-quality").json()
        assert metadata["inputs"] == [{"name": "features", "datatype": "FP32", "shape": [-1, 3]}]
        assert metadata["outputs"] == [
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, 2]},
        ]
        tensor = {"name": "features", "shape": [3, 3], "datatype": "FP32", "data": [v for row in rows for v in row]}
        body = http.post("/v2/models/onnx-quality/infer", json={"inputs": [tensor]}).json()
        label, probability = body["outputs"]
        assert label == {"name": "label", "datatype": "BYTES", "shape": [3], "data": labels.tolist()}
        assert (probability["datatype"], probability["shape"]) == ("FP32", [3, 2])
        assert probability["data"] == probabilities.ravel().tolist()
        only = http.post("/v2/models/onnx-quality/infer", json={"inputs": [tensor], "outputs": [{"name": "label"}]})
        assert [o["name"] for o in only.json()["outputs"]] == ["label"]
        simple = http.post("/v2/models/onnx-quality/predict", json={"features": rows}).json()
        assert simple == {"label": labels.tolist(), "probabilities": probabilities.tolist()}
        wrong = http.post("/v2/models/onnx-quality/infer", json={"inputs": [{**tensor, "datatype": "FP64"}]})
        assert wrong.status_code == 400
        assert "'features' is FP32, got FP64" in wrong.json()["error"]
        document = http.get("/openapi.json").json()
        response = document["components"]["schemas"]["InferenceResponse"]["properties"]["outputs"]["items"]
        assert [choice["properties"]["name"]["const"] for choice in response["oneOf"]] == ["label", "probabilities"]
