"""Third-party OIP clients against the model server, as an image runs it: Triton's ``tritonclient[http]``
and the KServe SDK's ``InferenceRESTClient``. Each reads the model's metadata and builds its request
from it alone: datatypes, shapes (``-1``: the batch), ``[1]`` for one value; typed outputs come back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnxruntime
import pytest

from .bundles import base_config, write_bundle
from .conftest import RunningServer
from .test_typed_serving import SCALE_PREDICT, onnx_config, onnx_src

NUMPY = {"FP32": np.float32, "FP64": np.float64, "INT32": np.int32, "INT64": np.int64, "BOOL": np.bool_}
ROWS = [[235.9, 892.7, 27.92], [262.0, 700.0, 41.0], [224.7, 954.8, 30.63], [240.0, 880.0, 29.5]]


def from_metadata(metadata: dict[str, Any], values: dict[str, Any]) -> list[tuple[str, str, np.ndarray]]:
    """(name, datatype, array) per input the metadata declares, the array shaped and typed by it."""
    built = []
    for tensor in metadata["inputs"]:
        datatype, declared = tensor["datatype"], tensor["shape"]
        if datatype == "BYTES":
            array = np.array([values[tensor["name"]]], dtype=np.object_)
        else:
            array = np.asarray(values[tensor["name"]], dtype=NUMPY[datatype])
        if -1 not in declared:
            array = array.reshape(declared)
        assert len(array.shape) == len(declared)
        assert all(d in (-1, s) for d, s in zip(declared, array.shape, strict=True))
        built.append((tensor["name"], datatype, array))
    return built


@pytest.fixture
def onnx_server(tmp_path: Path, start_server: Callable[..., RunningServer]) -> tuple[RunningServer, Path]:
    src = onnx_src(tmp_path)
    server = start_server(onnx_config(src))
    server.wait_ready()
    return server, src / "quality_model.onnx"


@pytest.fixture
def scale_server(tmp_path: Path, start_server: Callable[..., RunningServer]) -> RunningServer:
    src = write_bundle(tmp_path / "scale", SCALE_PREDICT)
    config = base_config(src, slug="scale", parameters=("factor", "options"))
    config["rest"]["parameters"][0]["tensor"] = {"datatype": "INT32", "shape": []}
    server = start_server(config)
    server.wait_ready()
    return server


def expected(model: Path) -> tuple[np.ndarray, np.ndarray]:
    session = onnxruntime.InferenceSession(str(model))
    labels, probabilities = session.run(None, {"features": np.array(ROWS, dtype=np.float32)})
    return labels, probabilities


def test_tritonclient(onnx_server: tuple[RunningServer, Path], scale_server: RunningServer) -> None:
    import tritonclient.http as triton

    server, model = onnx_server
    client = triton.InferenceServerClient(url=server.url.removeprefix("http://"))
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("onnx-quality")
    metadata = client.get_model_metadata("onnx-quality")
    inputs = []
    for name, datatype, array in from_metadata(metadata, {"features": ROWS}):
        tensor = triton.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array, binary_data=False)
        inputs.append(tensor)
    outputs = [triton.InferRequestedOutput(o["name"], binary_data=False) for o in metadata["outputs"]]
    result = client.infer("onnx-quality", inputs, outputs=outputs)
    labels, probabilities = expected(model)
    assert [label.decode() if isinstance(label, bytes) else label for label in result.as_numpy("label")] == list(labels)
    got = result.as_numpy("probabilities")
    assert got.dtype == np.float32
    assert got.shape == (len(ROWS), 2)
    np.testing.assert_array_equal(got, probabilities)
    # one value as the client sends it: np.array([x]), shape [1]; any JSON as BYTES
    scale = triton.InferenceServerClient(url=scale_server.url.removeprefix("http://"))
    meta = scale.get_model_metadata("scale")
    assert meta["inputs"][0] == {"name": "factor", "datatype": "INT32", "shape": [1]}
    factor = triton.InferInput("factor", [1], "INT32")
    factor.set_data_from_numpy(np.array([3], dtype=np.int32), binary_data=False)
    options = triton.InferInput("options", [1], "BYTES")
    options.set_data_from_numpy(np.array([json.dumps({"base": 2})], dtype=np.object_), binary_data=False)
    answer = scale.infer("scale", [factor, options], outputs=[triton.InferRequestedOutput("result", binary_data=False)])
    [text] = answer.as_numpy("result")
    assert json.loads(text) == {"scaled": 6, "type": "int"}


def test_kserve_inference_rest_client(onnx_server: tuple[RunningServer, Path], scale_server: RunningServer) -> None:
    from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

    server, model = onnx_server
    labels, probabilities = expected(model)

    async def run() -> None:
        client = InferenceRESTClient(RESTConfig(protocol="v2", retries=1, timeout=30))
        try:
            assert await client.is_server_live(server.url)
            assert await client.is_server_ready(server.url)
            assert await client.is_model_ready(server.url, "onnx-quality")
            metadata = httpx.get(f"{server.url}/v2/models/onnx-quality").json()  # the SDK has no metadata call
            inputs = []
            for name, datatype, array in from_metadata(metadata, {"features": ROWS}):
                tensor = InferInput(name, list(array.shape), datatype)
                tensor.set_data_from_numpy(array, binary_data=False)
                inputs.append(tensor)
            response = await client.infer(server.url, InferRequest("onnx-quality", inputs), model_name="onnx-quality")
            by_name = {output.name: output for output in response.outputs}
            assert by_name["probabilities"].datatype == "FP32"
            np.testing.assert_allclose(by_name["probabilities"].as_numpy(), probabilities, rtol=1e-6)
            assert [str(v) for v in by_name["label"].data] == list(labels)
            # a scalar as shape [1], and readiness of another model
            assert await client.is_model_ready(scale_server.url, "scale")
            factor = InferInput("factor", [1], "INT32")
            factor.set_data_from_numpy(np.array([4], dtype=np.int32), binary_data=False)
            options = InferInput("options", [1], "BYTES", [json.dumps({"base": 0.5})])
            answer = await client.infer(scale_server.url, InferRequest("scale", [factor, options]), model_name="scale")
            assert json.loads(answer.outputs[0].data[0]) == {"scaled": 2.0, "type": "int"}
        finally:
            await client.close()

    asyncio.run(run())
