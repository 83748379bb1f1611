"""The pure parts of the runtime: the OIP mapping, config loading, the OpenAPI document, storage."""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from generator.runtime import codec
from generator.runtime.bus import backoff_delays
from generator.runtime.codec import RequestError, ResultError
from generator.runtime.config import Output, Parameter, ServerConfig, TensorType
from generator.runtime.openapi import openapi_document
from generator.runtime.server import load_config
from generator.runtime.storage import LocalStorage, StorageError
from generator.runtime.training import TrainingError, records_csv
from generator.runtime.typed import Signature

PARAMS = (Parameter(name="x", position=1), Parameter(name="options", position=2))


def infer(*inputs: dict[str, Any]) -> codec.InferenceRequest:
    return codec.parse_infer_request(json.dumps({"inputs": list(inputs)}).encode())


@pytest.mark.parametrize(
    ("tensor", "value"),
    [
        ({"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]}, [[1, 2], [3, 4]]),
        ({"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [[1, 2], [3, 4]]}, [[1, 2], [3, 4]]),
        ({"name": "x", "shape": [3], "datatype": "INT64", "data": [1, 2, 3]}, [1, 2, 3]),
        ({"name": "x", "shape": [1], "datatype": "INT64", "data": [7]}, 7),  # one value, as clients send it
        ({"name": "x", "shape": [], "datatype": "FP64", "data": [0.5]}, 0.5),
        ({"name": "x", "shape": [1], "datatype": "BYTES", "data": ['{"a": [1, 2]}']}, {"a": [1, 2]}),
        ({"name": "x", "shape": [2], "datatype": "BYTES", "data": ["1", '"s"']}, [1, "s"]),
        (
            {"name": "x", "shape": [1], "datatype": "BYTES", "data": ["plain"], "parameters": {"content_type": "str"}},
            "plain",
        ),
        ({"name": "x", "shape": [0], "datatype": "FP32", "data": []}, []),
        ({"name": "x", "shape": [2], "datatype": "BYTES", "data": ["plain", "{nope"]}, ["plain", "{nope"]),  # not JSON
    ],
)
def test_tensor_values(tensor: dict[str, Any], value: Any) -> None:
    assert codec.tensor_value(infer(tensor).inputs[0]) == value


@pytest.mark.parametrize(
    ("tensor", "message"),
    [
        ({"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [1]}, "needs 4 elements, got 1"),
        ({"name": "x", "shape": [1], "datatype": "BYTES", "data": [3]}, "must be strings"),
        ({"name": "x", "shape": [1], "datatype": "INT32", "data": ["1"]}, "must be integers"),
        ({"name": "x", "shape": [-1], "datatype": "INT32", "data": [1]}, "negative dimension"),
    ],
)
def test_tensor_errors_name_the_parameter(tensor: dict[str, Any], message: str) -> None:
    with pytest.raises(RequestError, match=message) as caught:
        codec.tensor_value(infer(tensor).inputs[0])
    assert "'x'" in str(caught.value)


def test_request_shape_errors() -> None:
    with pytest.raises(RequestError, match="inputs"):
        codec.parse_infer_request(b'{"inputs": 3}')
    with pytest.raises(RequestError, match="datatype"):
        codec.parse_infer_request(b'{"inputs": [{"name": "x", "shape": [], "datatype": "X", "data": 1}]}')
    x = {"name": "x", "shape": [], "datatype": "INT8", "data": [1]}
    with pytest.raises(RequestError, match="more than once"):
        Signature(PARAMS).oip_arguments(infer(x, x))
    with pytest.raises(RequestError, match="unknown parameter 'y'"):
        Signature(PARAMS).oip_arguments(infer({**x, "name": "y"}))


def test_arguments_follow_positions() -> None:
    assert codec.ordered_arguments({"options": {"k": 1}, "x": 2}, PARAMS) == [2, {"k": 1}]
    with pytest.raises(RequestError, match="missing parameter 'options'"):
        codec.ordered_arguments({"x": 2}, PARAMS)
    with pytest.raises(RequestError, match="JSON object"):
        codec.ordered_arguments([1, 2], PARAMS)


def test_infer_response_types() -> None:
    typed = Signature(PARAMS, (Output(name="result", tensor=TensorType(datatype="FP64", shape=(-1, 2))),))
    numbers = codec.infer_response("m", 2, typed.output_tensors([[1.5, 2], [3, 4]], typed.outputs), "id-1")
    assert numbers == {
        "model_name": "m",
        "model_version": "2",
        "id": "id-1",
        "outputs": [{"name": "result", "datatype": "FP64", "shape": [2, 2], "data": [1.5, 2, 3, 4]}],
    }
    with pytest.raises(ResultError, match="not the declared FP64"):
        typed.output_tensors([[1, 2, 3]], typed.outputs)
    untyped = Signature(PARAMS)  # without a declared type the result is always its JSON text, as declared
    for other in ({"a": 1}, [[1], [2, 3]], [[1.5, 2], [3, 4]], "text", 3, None, []):
        [output] = untyped.output_tensors(other, untyped.outputs)
        assert (output["datatype"], output["shape"]) == ("BYTES", [1])
        assert json.loads(output["data"][0]) == other


def test_numpy_results_encode() -> None:
    import numpy as np

    assert json.loads(codec.dumps({"a": np.arange(3), "b": np.float32(0.5), "c": np.int64(2)})) == {
        "a": [0, 1, 2],
        "b": 0.5,
        "c": 2,
    }


def _config(**extra: Any) -> dict[str, Any]:
    return {
        "model": {
            "name": "Injection Model",
            "slug": "injection-model",
            "version": 3,
            "type": "PYTHON",
            "description": "PCA",
        },
        "rest": {"parameters": [{"name": "json_data", "position": 1, "description": "d"}]},
        **extra,
    }


def test_config_loading(tmp_path: Path) -> None:
    path = tmp_path / "model-server.json"
    path.write_text(json.dumps(_config(storage={"endpoint_url": "http://s3", "bucket": "b"})))
    config = load_config(path)
    assert config.storage
    assert config.storage.local_dir is None
    assert config.code.src_dir == "/app/src"
    path.write_text(json.dumps(_config(surprise=1)))
    with pytest.raises(ValidationError, match="surprise"):
        load_config(path)


def test_openapi_document() -> None:
    config = ServerConfig.model_validate(_config())
    document = openapi_document(config)
    assert document == openapi_document(config)  # pure
    assert document["openapi"].startswith("3.")
    assert document["info"] == {"title": "Injection Model", "version": "3", "description": "PCA"}
    predict = document["paths"]["/v2/models/injection-model/predict"]["post"]
    schema = predict["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["json_data"]
    assert schema["additionalProperties"] is False
    assert set(predict["responses"]) == {"200", "400", "500", "502", "503"}
    inputs = document["components"]["schemas"]["InferenceRequest"]["properties"]["inputs"]
    assert inputs["items"]["properties"]["name"]["enum"] == ["json_data"]
    assert json.dumps(document, sort_keys=True)  # JSON-able as it is


def test_local_storage(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "bucket")
    source = tmp_path / "model.bin"
    source.write_bytes(b"weights")
    assert not storage.exists("models/m/1/model.bin")
    storage.upload(source, "models/m/1/model.bin")
    assert storage.exists("models/m/1/model.bin")
    storage.download("models/m/1/model.bin", tmp_path / "out" / "model.bin")
    assert (tmp_path / "out" / "model.bin").read_bytes() == b"weights"
    with pytest.raises(StorageError, match="escapes"):
        storage.exists("../outside")


def test_backoff_is_bounded() -> None:
    delays = list(itertools.islice(backoff_delays(0.5, 30), 20))
    assert delays[0] <= 0.5
    assert max(delays) <= 30
    assert delays[-1] >= 15


def test_bus_records_as_csv_for_h2o() -> None:
    records: list[dict[str, Any]] = [
        {"temperature": 241.5, "label": "NOK"},
        {"label": "OK, really", "temperature": None, "pressure": 880, "ok": True},
        {"tags": ["a", "b"], "label": 'say "hi"'},
    ]
    rows = list(csv.reader(io.StringIO(records_csv(records).decode())))
    assert rows == [
        ["temperature", "label", "pressure", "ok", "tags"],  # every key, first seen first
        ["241.5", "NOK", "", "", ""],
        ["", "OK, really", "880", "true", ""],  # null and missing: empty (NA for H2O)
        ["", 'say "hi"', "", "", '["a","b"]'],
    ]


@pytest.mark.parametrize("key", ["", "#comment", 'say "x"', "two\nlines"])
def test_bus_record_keys_h2o_cannot_read_fail_the_training(key: str) -> None:
    with pytest.raises(TrainingError, match="cannot be CSV column names"):
        records_csv([{"label": "OK", key: 1.0}])


def test_values_decoded_from_an_oip_request_are_checked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from generator.runtime import typed

    batch = Parameter(name="rows", position=1, tensor=TensorType(datatype="FP32", shape=(-1, 2)))
    signature = Signature((batch,))
    checks: list[int] = []
    real = typed._check_elements

    def counted(name: str, datatype: str, flat: list[Any]) -> None:
        checks.append(len(flat))
        real(name, datatype, flat)

    monkeypatch.setattr(typed, "_check_elements", counted)
    values = signature.oip_arguments(infer({"name": "rows", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]}))
    assert signature.arguments(values) == [[[1, 2], [3, 4]]]
    assert checks == [4], "decoding checked the tensor; putting the arguments in order did not again"
    other = Signature((batch,))  # e.g. the signature of a model swapped in since: checked afresh
    assert other.arguments(values) == [[[1, 2], [3, 4]]]
    assert checks == [4, 4]
    with pytest.raises(RequestError, match="FP32"):
        signature.arguments({"rows": [[1, "a"]]})  # a plain object (the simple route) is always checked


@pytest.mark.parametrize("result", [[0], {"a": [1.5, None]}, "text", 3, [[1, 2], [3, 4]], {"1": True}])
def test_an_undeclared_output_is_the_results_json_text_as_predict_gave_it(result: Any) -> None:
    typed = Signature(PARAMS, (Output(name="result", tensor=TensorType(datatype="FP64", shape=(-1, 2))),))
    for signature in (Signature(PARAMS), typed):
        encoded = codec.dumps_result(result)
        try:
            expected = signature.output_tensors(codec.loads(encoded), signature.outputs)
        except ResultError as exc:
            with pytest.raises(ResultError, match=re.escape(str(exc))):
                signature.output_tensors_json(encoded, signature.outputs)
        else:
            assert signature.output_tensors_json(encoded, signature.outputs) == expected


_JSON_LEAF = (
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=3)
)
_JSONISH = st.recursive(
    _JSON_LEAF,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
    max_leaves=6,
)
_TENSOR: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {
        "name": st.text(max_size=3) | st.integers(),
        "datatype": st.sampled_from(["FP64", "INT64", "BYTES", "fp64", 3, {}, [], None]),
    },
    optional={
        "shape": st.lists(st.integers(0, 3) | st.booleans() | st.floats(0, 3) | st.text(max_size=1), max_size=3),
        "data": _JSONISH,
        "parameters": st.dictionaries(st.text(max_size=3), _JSON_LEAF, max_size=2) | _JSON_LEAF,
        "extra": _JSON_LEAF,
    },
)
_REQUEST = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=3) | st.integers() | st.none(),
        "parameters": st.dictionaries(st.text(max_size=3), _JSON_LEAF, max_size=2) | _JSON_LEAF,
        "inputs": st.lists(_TENSOR | _JSON_LEAF, max_size=3) | _JSON_LEAF,
        "outputs": st.lists(st.fixed_dictionaries({"name": st.text(max_size=3)}), max_size=2) | _JSON_LEAF,
        "other": _JSON_LEAF,
    },
)


@settings(max_examples=400, deadline=None)
@given(_REQUEST)
def test_the_fast_path_of_an_infer_request_gives_what_validation_gives(document: dict[str, Any]) -> None:
    body = json.dumps(document).encode()
    fast = codec._plain_request(json.loads(body))
    try:
        validated: codec.InferenceRequest | str = codec._validated_request(json.loads(body))
    except RequestError as exc:
        validated = str(exc)
    if fast is not None:  # taken only where validation accepts the request and changes nothing
        assert fast == validated
    if isinstance(validated, str):
        with pytest.raises(RequestError) as refused:
            codec.parse_infer_request(body)
        assert str(refused.value) == validated
    else:
        assert codec.parse_infer_request(body) == validated


def test_what_oip_clients_send_takes_the_fast_path() -> None:
    tensor = {"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1.0, 2.0], "parameters": {}}
    for document in ({"inputs": [tensor]}, {"id": "7", "parameters": {"a": 1}, "inputs": [tensor, tensor]}):
        fast = codec._plain_request(document)
        assert fast is not None
        assert fast == codec._validated_request(document)
    assert codec._plain_request({"inputs": [{**tensor, "shape": [1.0, 2]}]}) is None  # coerced: validated
    assert codec._plain_request({"inputs": [tensor], "outputs": [{"name": "y"}]}) is None


# Signatures the quick path meets: untyped, typed (a batch of rows, a scalar), and one with a JSON Schema.
_QUICK_SIGNATURES = (
    Signature((Parameter(name="x", position=1),)),
    Signature(
        (
            Parameter(name="x", position=1, tensor=TensorType(datatype="FP32", shape=(-1, 2))),
            Parameter(name="n", position=2, tensor=TensorType(datatype="INT64")),
        )
    ),
    Signature((Parameter(name="x", position=1, json_schema={"type": "array"}),)),
)
_NUMERIC_LEAF = (
    st.integers(-(2**64), 2**64)
    | st.floats(width=64)
    | st.booleans()
    | st.sampled_from([0, 1, 2.0, 1e39, -129, 255, 256])
)


@st.composite
def _quick_tensor(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly coherent tensors (the data as long as the shape says, of the datatype), some not."""
    name = draw(st.sampled_from(["x", "x", "n", "y"]))
    shape = draw(st.lists(st.integers(0, 3), min_size=1, max_size=2) | st.lists(st.integers(-1, 3), max_size=3))
    if name == "x" and draw(st.booleans()):  # as the typed signature's x: rows of two
        shape = [draw(st.integers(0, 3)), 2]
    size = max(0, math.prod(shape))
    datatypes = ["FP64", "FP32", "FP16", "INT64", "UINT8", "INT8", "BOOL", "BYTES", "fp64"]
    likely = {"x": "FP32", "n": "INT64"}.get(name, "FP64")  # the typed signature's
    datatype = draw(st.sampled_from([likely, likely, *datatypes]))
    element: st.SearchStrategy[Any] = st.booleans() if datatype == "BOOL" else st.integers(-3, 300)
    if datatype.startswith("FP"):
        element |= st.floats(-1e5, 1e5)
    data: list[Any] = draw(
        st.lists(element | st.just(2.0), min_size=size, max_size=size) | st.lists(_NUMERIC_LEAF, max_size=4)
    )
    if draw(st.integers(0, 9)) == 5:  # nested rows, or an odd shape value
        data = [data]
    odd: list[Any] = list(shape)
    if draw(st.integers(0, 9)) == 5:
        odd.append(draw(st.sampled_from([2**31, True, 1.0, "2"])))
    tensor: dict[str, Any] = {"name": name, "shape": odd, "datatype": datatype, "data": data}
    if draw(st.integers(0, 9)) == 5:
        tensor[draw(st.sampled_from(["parameters", "extra"]))] = {}
    return tensor


@st.composite
def _quick_request(draw: st.DrawFn) -> dict[str, Any]:
    document: dict[str, Any] = {"inputs": draw(st.lists(_quick_tensor(), min_size=1, max_size=2))}
    if draw(st.booleans()):
        document["id"] = draw(st.text(max_size=2))
    if draw(st.integers(0, 9)) == 5:
        document[draw(st.sampled_from(["id", "outputs", "parameters"]))] = draw(st.sampled_from([[], {}, 3]))
    return document


_QUICK_REQUEST = _quick_request()


def _full_path(signature: Signature, body: bytes) -> tuple[str | None, dict[str, Any]] | str:
    try:
        request = codec.parse_infer_request(body)
        return request.id, dict(signature.oip_arguments(request))
    except RequestError as exc:
        return str(exc)


@settings(max_examples=1000, deadline=None)
@given(_QUICK_REQUEST, st.sampled_from(_QUICK_SIGNATURES))
def test_the_quick_path_of_an_infer_request_gives_what_the_full_path_gives(
    document: dict[str, Any], signature: Signature
) -> None:
    body = json.dumps(document, allow_nan=False).encode() if _finite(document) else b""
    if not body:
        return
    quick = signature.quick_arguments(codec.infer_document(body))
    if quick is not None:  # taken only where the full path accepts the request, with the same values
        assert (quick[0], dict(quick[1])) == _full_path(signature, body)


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return value == value and abs(value) != float("inf")
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


@pytest.mark.parametrize(
    ("signature", "tensors", "expected"),
    [
        (
            0,
            [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [5.1, 3.5, 1.4, 0.2]}],
            {"x": [[5.1, 3.5, 1.4, 0.2]]},
        ),
        (0, [{"name": "x", "shape": [1], "datatype": "INT64", "data": [7]}], {"x": 7}),
        (0, [{"name": "x", "shape": [3], "datatype": "BOOL", "data": [True, False, True]}], {"x": [True, False, True]}),
        (
            1,
            [
                {"name": "n", "shape": [1], "datatype": "INT64", "data": [3]},
                {"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [1, 2.5, 3, 4]},
            ],
            {"x": [[1, 2.5], [3, 4]], "n": 3},
        ),
    ],
)
def test_what_oip_clients_send_takes_the_quick_path(
    signature: int, tensors: list[dict[str, Any]], expected: dict[str, Any]
) -> None:
    body = json.dumps({"id": "r1", "inputs": tensors}).encode()
    chosen = _QUICK_SIGNATURES[signature]
    quick = chosen.quick_arguments(codec.infer_document(body))
    assert quick is not None
    assert (quick[0], dict(quick[1])) == ("r1", expected) == _full_path(chosen, body)


@pytest.mark.parametrize(
    "tensor",
    [
        {"name": "x", "shape": [2, 2], "datatype": "FP64", "data": [[1, 2], [3, 4]]},  # nested: decoded in full
        {"name": "x", "shape": [2], "datatype": "BYTES", "data": ["a", "b"]},
        {"name": "x", "shape": [1], "datatype": "INT64", "data": [1.5]},
        {"name": "x", "shape": [1], "datatype": "UINT8", "data": [-5]},
        {"name": "x", "shape": [10000000, 0], "datatype": "FP64", "data": []},
        {"name": "x", "shape": [2, 2], "datatype": "FP64", "data": [1, 2, 3]},
        {"name": "x", "shape": [1], "datatype": "FP64", "data": [1], "parameters": {}},
        {"name": "x", "shape": [1, 1, 1], "datatype": "FP64", "data": [1]},
        {"name": "y", "shape": [1], "datatype": "FP64", "data": [1]},
    ],
)
def test_anything_else_goes_the_full_way(tensor: dict[str, Any]) -> None:
    body = json.dumps({"inputs": [tensor]}).encode()
    assert _QUICK_SIGNATURES[0].quick_arguments(codec.infer_document(body)) is None


@pytest.mark.parametrize("result", [[0], {"a": [1.5, None]}, 'té"xt\n', 3, [[1, 2], [3, 4]]])
@pytest.mark.parametrize("request_id", [None, "r-1", 'q"\\'])
def test_the_response_body_is_the_encoded_response_whichever_way_it_is_written(
    result: Any, request_id: str | None
) -> None:
    typed = Signature(PARAMS, (Output(name="y", tensor=TensorType(datatype="FP64", shape=(-1, 2))),))
    for signature in (Signature(PARAMS), Signature(PARAMS, (Output(name="other"),)), typed):
        encoded = codec.dumps_result(result)
        try:
            tensors = signature.output_tensors_json(encoded, signature.outputs)
        except ResultError:
            continue
        expected = codec.dumps(codec.infer_response("iris", 3, tensors, request_id))
        assert signature.response_json("iris", 3, encoded, signature.outputs, request_id) == expected
        assert json.loads(expected)["outputs"] == tensors
