"""JSON encoding and the Open Inference Protocol v2 mapping: pure functions, no I/O.

OIP v2 speaks in tensors; the models aiar serves take named, arbitrary JSON parameters. The mapping
(documented in CONTRACT.md) is: an input's ``name`` is the parameter name; ``BYTES`` elements are JSON
texts (or raw strings with ``parameters.content_type == "str"``); numeric and ``BOOL`` data is reshaped
to ``shape`` as nested lists; shape ``[]`` carries a scalar, and a ``BYTES`` input of shape ``[1]`` is
its single JSON value. The result comes back as one output named ``result``: a typed tensor when it
is a rectangular array of numbers or booleans, otherwise ``BYTES`` holding its JSON text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .config import Parameter

# numpy results (arrays and scalars) are common from scikit-learn models; orjson encodes arrays
# natively and `_default` turns numpy scalars and other array-likes into plain Python values.
_DUMP_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS

NUMERIC_DATATYPES = frozenset(
    {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64"}
)
Datatype = Literal[
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
]


class RequestError(ValueError):
    """A client mistake: becomes HTTP 400 or a dead-lettered message, with this text as the reason."""


def _default(value: Any) -> Any:
    for method in ("tolist", "item"):  # numpy scalars, pandas objects, array-likes
        convert = getattr(value, method, None)
        if callable(convert):
            return convert()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default, option=_DUMP_OPTIONS)


def loads(data: bytes | str) -> Any:
    return orjson.loads(data)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class RequestInput(_Strict):
    name: str
    shape: list[int] = Field(default_factory=list)
    datatype: Datatype
    parameters: dict[str, Any] = Field(default_factory=dict)
    data: Any


class InferenceRequest(_Strict):
    id: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    inputs: list[RequestInput]


def parse_infer_request(body: bytes) -> InferenceRequest:
    try:
        return InferenceRequest.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "/".join(str(part) for part in first["loc"]) or "body"
        raise RequestError(f"invalid inference request at {where}: {first['msg']}") from None


def _flatten(data: Any) -> list[Any]:
    if not isinstance(data, list):
        return [data]
    flat: list[Any] = []
    for item in data:
        flat.extend(_flatten(item))
    return flat


def _reshape(flat: list[Any], shape: Sequence[int]) -> Any:
    if len(shape) <= 1:
        return flat
    step = len(flat) // shape[0] if shape[0] else 0
    return [_reshape(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


def _decode_element(item: Any, raw: bool, name: str) -> Any:
    if not isinstance(item, str):
        raise RequestError(f"parameter {name!r}: BYTES data must be strings")
    if raw:
        return item
    try:
        return orjson.loads(item)
    except orjson.JSONDecodeError:
        raise RequestError(f"parameter {name!r}: BYTES element is not JSON text") from None


def tensor_value(tensor: RequestInput) -> Any:
    """The parameter value an OIP input tensor carries (see the module docstring)."""
    name = tensor.name
    if any(dim < 0 for dim in tensor.shape):
        raise RequestError(f"parameter {name!r}: negative dimension in shape {tensor.shape}")
    flat = _flatten(tensor.data)
    expected = math.prod(tensor.shape)  # prod([]) == 1: a scalar
    if len(flat) != expected:
        raise RequestError(f"parameter {name!r}: shape {tensor.shape} needs {expected} elements, got {len(flat)}")
    if tensor.datatype == "BYTES":
        raw = tensor.parameters.get("content_type") == "str"
        flat = [_decode_element(item, raw, name) for item in flat]
        if tensor.shape in ([], [1]):
            return flat[0]
    else:
        for item in flat:
            if isinstance(item, (dict, list, str)) or item is None:
                raise RequestError(f"parameter {name!r}: {tensor.datatype} data must be numbers")
        if not tensor.shape:
            return flat[0]
    return _reshape(flat, tensor.shape)


def oip_arguments(request: InferenceRequest, parameters: Sequence[Parameter]) -> dict[str, Any]:
    """Named parameter values from an inference request; every parameter must be given once."""
    values: dict[str, Any] = {}
    known = {p.name for p in parameters}
    for tensor in request.inputs:
        if tensor.name not in known:
            raise RequestError(f"unknown parameter {tensor.name!r}; expected {sorted(known)}")
        if tensor.name in values:
            raise RequestError(f"parameter {tensor.name!r} given more than once")
        values[tensor.name] = tensor_value(tensor)
    return values


def ordered_arguments(values: Any, parameters: Sequence[Parameter]) -> list[Any]:
    """predict()'s positional arguments from a JSON object of named parameters."""
    if not isinstance(values, dict):
        raise RequestError("the body must be a JSON object with the parameters by name")
    names = [p.name for p in parameters]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise RequestError(f"unknown parameter {unknown[0]!r}; expected {names}")
    missing = [name for name in names if name not in values]
    if missing:
        raise RequestError(f"missing parameter {missing[0]!r}")
    return [values[name] for name in names]


def _shape_of(value: Any) -> list[int] | None:
    """The shape of a rectangular nested list, or None when it is ragged or not a list."""
    if not isinstance(value, list):
        return []
    if not value:
        return None
    inner = [_shape_of(item) for item in value]
    first = inner[0]
    if first is None or any(shape != first for shape in inner):
        return None
    return [len(value), *first]


def _datatype_of(flat: list[Any]) -> str | None:
    if all(isinstance(item, bool) for item in flat):
        return "BOOL"
    if all(isinstance(item, int) and not isinstance(item, bool) for item in flat):
        return "INT64"
    if all(isinstance(item, (int, float)) and not isinstance(item, bool) for item in flat):
        return "FP64"
    return None


def infer_response(model: str, version: int, result: Any, request_id: str | None) -> dict[str, Any]:
    """The OIP v2 response body for one predict() result, given as plain JSON values."""
    plain = result
    shape = _shape_of(plain) if isinstance(plain, list) else None
    output: dict[str, Any]
    flat = _flatten(plain) if shape else []
    datatype = _datatype_of(flat) if shape else None
    if shape and datatype:
        output = {"name": "result", "datatype": datatype, "shape": shape, "data": flat}
    else:
        output = {"name": "result", "datatype": "BYTES", "shape": [1], "data": [dumps(plain).decode()]}
    body: dict[str, Any] = {"model_name": model, "model_version": str(version), "outputs": [output]}
    if request_id is not None:
        body["id"] = request_id
    return body
