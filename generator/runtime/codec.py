"""JSON encoding and the Open Inference Protocol v2 mapping: pure functions, no I/O.

OIP v2 speaks in tensors; the models aiar serves take named parameters, arbitrary JSON unless the
manifest declares their type (:mod:`.typed`). The mapping of an undeclared parameter (documented in
CONTRACT.md) is: an input's ``name`` is the parameter name; ``BYTES`` elements are JSON texts, or plain
strings when they are not JSON (always with ``parameters.content_type == "str"``); numeric and ``BOOL``
data is reshaped to ``shape`` as nested lists; shapes ``[]`` and ``[1]`` carry one value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple, cast, get_args

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .config import Datatype, Parameter

# numpy results (arrays and scalars) are common from scikit-learn models; orjson encodes arrays
# natively and `_default` turns numpy scalars and other array-likes into plain Python values.
_DUMP_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS

NUMERIC_DATATYPES = frozenset(
    {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64"}
)


class RequestError(ValueError):
    """A client mistake: becomes HTTP 400 or a dead-lettered message, with this text as the reason."""


class ResultError(ValueError):
    """predict() returned what JSON cannot carry (NaN, Infinity): a 500 that says so, never a silent null."""


MAX_RANK = 32
"""Deepest tensor accepted; OIP models rarely pass 8. Bounds recursion and nesting before any work."""
MAX_DIMENSION = 2**31 - 1

# The integer datatypes' ranges, and the largest finite value of the float ones.
INT_RANGES = {
    "INT8": (-(2**7), 2**7 - 1), "INT16": (-(2**15), 2**15 - 1), "INT32": (-(2**31), 2**31 - 1),
    "INT64": (-(2**63), 2**63 - 1), "UINT8": (0, 2**8 - 1), "UINT16": (0, 2**16 - 1),
    "UINT32": (0, 2**32 - 1), "UINT64": (0, 2**64 - 1),
}  # fmt: skip
FLOAT_MAX = {"FP16": 65504.0, "FP32": 3.4028234663852886e38, "FP64": math.inf}


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


def _non_finite(value: Any, depth: int = 0) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if depth > 256:
        return False
    if isinstance(value, dict):
        return any(_non_finite(v, depth + 1) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_non_finite(v, depth + 1) for v in value)
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars
    return callable(tolist) and _non_finite(tolist(), depth + 1)


def dumps_result(value: Any) -> bytes:
    """predict()'s result as JSON; NaN and Infinity (which JSON cannot carry, and orjson writes as
    ``null``) raise :class:`ResultError`. Only a result whose JSON holds a ``null`` is walked."""
    data = dumps(value)
    if b"null" in data and _non_finite(value):
        raise ResultError("predict() returned NaN or Infinity, which JSON cannot carry")
    return data


def loads(data: bytes | str) -> Any:
    return orjson.loads(data)


# The request's parts are named tuples, immutable like a frozen dataclass but built 2-3x faster (a
# frozen dataclass sets each field through object.__setattr__): a few us of every OIP request.
class RequestInput(NamedTuple):
    name: str
    shape: list[int]
    datatype: Datatype
    parameters: dict[str, Any]
    data: Any


class RequestOutput(NamedTuple):
    name: str
    parameters: dict[str, Any]


class InferenceRequest(NamedTuple):
    """An OIP v2 inference request, checked (see :func:`parse_infer_request`)."""

    id: str | None
    parameters: dict[str, Any]
    inputs: list[RequestInput]
    outputs: list[RequestOutput]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _InputModel(_Strict):
    name: str
    shape: list[int] = Field(default_factory=list)
    datatype: Datatype
    parameters: dict[str, Any] = Field(default_factory=dict)
    data: Any


class _OutputModel(_Strict):
    name: str
    parameters: dict[str, Any] = Field(default_factory=dict)


class _RequestModel(_Strict):
    """What a request may hold, and the messages for what it may not."""

    id: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    inputs: list[_InputModel]
    outputs: list[_OutputModel] = Field(default_factory=list)


def parse_infer_request(body: bytes) -> InferenceRequest:
    return infer_request(infer_document(body))


def infer_document(body: bytes) -> Any:
    """An inference request's body as plain JSON data (not yet checked as a request)."""
    try:
        # orjson first: strict JSON (no NaN or Infinity tokens, which pydantic's parser would take)
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise RequestError(
            "the body is not JSON (NaN and Infinity are not JSON; the binary tensor data extension is not supported)"
        ) from None


def infer_request(document: Any) -> InferenceRequest:
    """The inference request ``document`` holds, or the :class:`RequestError` saying what is wrong."""
    return _plain_request(document) or _validated_request(document)


def _validated_request(document: Any) -> InferenceRequest:
    try:
        model = _RequestModel.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "/".join(str(part) for part in first["loc"]) or "body"
        raise RequestError(f"invalid inference request at {where}: {first['msg']}") from None
    return InferenceRequest(
        model.id,
        model.parameters,
        [RequestInput(t.name, t.shape, t.datatype, t.parameters, t.data) for t in model.inputs],
        [RequestOutput(o.name, o.parameters) for o in model.outputs],
    )


_DATATYPES = frozenset(get_args(Datatype))
_REQUEST_KEYS = frozenset({"id", "parameters", "inputs", "outputs"})
_INPUT_KEYS = frozenset({"name", "shape", "datatype", "parameters", "data"})


def _plain_request(document: Any) -> InferenceRequest | None:
    """The request that validation would give, built without it when every field has its exact type
    already (what OIP clients send); None for anything else, which is then validated (coercions,
    and the messages of what is wrong). pydantic takes about 6 us of a small request's 7 here."""
    if type(document) is not dict or not document.keys() <= _REQUEST_KEYS:
        return None
    request_id, parameters = document.get("id"), document.get("parameters", {})
    inputs, outputs = document.get("inputs"), document.get("outputs", [])
    if not (request_id is None or type(request_id) is str) or type(parameters) is not dict:
        return None
    if type(inputs) is not list or type(outputs) is not list or outputs:
        return None  # named outputs are rare: validated
    built = []
    for tensor in inputs:
        if type(tensor) is not dict or not tensor.keys() <= _INPUT_KEYS or "data" not in tensor:
            return None
        name, shape, datatype = tensor.get("name"), tensor.get("shape", []), tensor.get("datatype")
        tensor_parameters = tensor.get("parameters", {})
        if type(name) is not str or type(datatype) is not str or datatype not in _DATATYPES:
            return None
        if type(tensor_parameters) is not dict:
            return None
        if type(shape) is not list or any(type(dim) is not int for dim in shape):
            return None
        built.append(RequestInput(name, shape, cast(Datatype, datatype), tensor_parameters, tensor["data"]))
    return InferenceRequest(request_id, parameters, built, [])


def flatten(data: Any, max_depth: int = MAX_RANK) -> list[Any]:
    """The leaves of nested lists, in order; iterative, and refusing nesting deeper than ``max_depth``.
    Data holding no list (what OIP clients send: row-major, flat) is returned as it is, not copied."""
    if not isinstance(data, list):
        return [data]
    if list not in set(map(type, data)):
        return data
    flat: list[Any] = []
    stack: list[tuple[list[Any], int]] = [(data, 0)]
    while stack:
        items, index = stack.pop()
        while index < len(items):
            item = items[index]
            index += 1
            if isinstance(item, list):
                if len(stack) + 1 >= max_depth:
                    raise RequestError(f"data nested deeper than {max_depth} levels")
                stack.append((items, index))
                items, index = item, 0
            else:
                flat.append(item)
    return flat


def reshape(flat: list[Any], shape: Sequence[int]) -> Any:
    if len(shape) <= 1:
        return flat
    if len(shape) == 2:  # a batch of rows, the usual tensor: no recursion
        step = shape[1]
        if shape[0] == 1:  # one row, the usual request
            return [flat]
        return [flat[i : i + step] for i in range(0, shape[0] * step, step)] if step else [[] for _ in range(shape[0])]
    step = len(flat) // shape[0] if shape[0] else 0
    return [reshape(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


def _decode_element(item: Any, raw: bool, name: str) -> Any:
    if not isinstance(item, str):
        raise RequestError(f"parameter {name!r}: BYTES data must be strings")
    if raw:
        return item
    try:
        return orjson.loads(item)
    except orjson.JSONDecodeError:
        return item  # a plain string, as any OIP client sends text


def check_shape(name: str, shape: Sequence[int]) -> None:
    """Bound the work a shape asks for before any of it is done: rank, dimensions, and the nested lists
    a reshape would build (``[10000000, 0]`` holds no element yet asks for ten million lists)."""
    if len(shape) > MAX_RANK:
        raise RequestError(f"parameter {name!r}: shape of rank {len(shape)}; at most {MAX_RANK}")
    if not shape:
        return
    if min(shape) < 0:
        raise RequestError(f"parameter {name!r}: negative dimension in shape {list(shape)}")
    if max(shape) > MAX_DIMENSION:
        raise RequestError(f"parameter {name!r}: dimension over {MAX_DIMENSION} in shape")
    lists, outer = 0, 1
    for dim in shape[:-1]:
        outer *= dim
        lists += outer
        if lists > MAX_DIMENSION:
            break
    if lists > max(math.prod(shape), 1024):
        raise RequestError(f"parameter {name!r}: shape {list(shape)} asks for {lists} nested lists around its elements")


def check_numbers(name: str, datatype: str, flat: list[Any]) -> None:
    """Each element is what its datatype says: ``true``/``false`` for BOOL, an integer in range for the
    integer types, a finite number in range for the float types."""
    if not _plainly_valid(datatype, flat):
        _check_each(name, datatype, flat)


def _check_each(name: str, datatype: str, flat: list[Any]) -> None:
    """:func:`check_numbers` element by element, naming the first element that is not valid."""
    if datatype == "BOOL":
        if not all(isinstance(item, bool) for item in flat):
            raise RequestError(f"parameter {name!r}: BOOL data must be true or false")
        return
    if datatype in INT_RANGES:
        low, high = INT_RANGES[datatype]
        for item in flat:
            # 2.0 is an integer in JSON (and to JSON Schema); 1.5 and true are not
            integral = isinstance(item, float) and item.is_integer()
            if not (isinstance(item, int) or integral) or isinstance(item, bool):
                raise RequestError(f"parameter {name!r}: {datatype} data must be integers, got {item!r:.40}")
            if not low <= item <= high:
                raise RequestError(f"parameter {name!r}: {item} is out of {datatype}'s range [{low}, {high}]")
        return
    limit = FLOAT_MAX[datatype]
    for item in flat:
        if not isinstance(item, (int, float)) or isinstance(item, bool):
            raise RequestError(f"parameter {name!r}: {datatype} data must be numbers, got {item!r:.40}")
        if not -limit <= item <= limit or (isinstance(item, float) and not math.isfinite(item)):
            raise RequestError(f"parameter {name!r}: {item} is out of {datatype}'s range")


_NUMBERS = frozenset({int, float})


def _plainly_valid(datatype: str, flat: list[Any]) -> bool:
    """Whether ``flat`` is valid as ``datatype`` by checks in C over the whole list (the element types,
    then min and max against the range); False means undecided: :func:`_check_each` decides, and
    names the offending element."""
    if not flat:
        return True
    types = set(map(type, flat))
    if datatype == "BOOL":
        return types == {bool}
    if datatype in INT_RANGES:
        low, high = INT_RANGES[datatype]
        return types == {int} and low <= min(flat) and max(flat) <= high
    if not types <= _NUMBERS:
        return False
    limit = FLOAT_MAX[datatype]
    try:  # a NaN or an infinity makes the sum non-finite, as does an overflow: then undecided
        if not math.isfinite(sum(flat)):
            return False
        # every element finite: in FP64's range (JSON integers are 64-bit), the others' to compare
        return limit == math.inf or (-limit <= min(flat) and max(flat) <= limit)
    except OverflowError:  # an integer too large for a float
        return False


def plainly_valid(datatype: str, data: list[Any]) -> bool:
    """Whether ``data`` is a flat list of valid ``datatype`` elements, decided by whole-list checks
    (False: undecided, a nested list included)."""
    return datatype in NUMERIC_DATATYPES and _plainly_valid(datatype, data)


def tensor_value(tensor: RequestInput) -> Any:
    """The parameter value an OIP input tensor carries (see the module docstring)."""
    name = tensor.name
    check_shape(name, tensor.shape)
    flat = flatten(tensor.data, max(len(tensor.shape), 1))
    expected = math.prod(tensor.shape)  # prod([]) == 1: a scalar
    if len(flat) != expected:
        raise RequestError(f"parameter {name!r}: shape {tensor.shape} needs {expected} elements, got {len(flat)}")
    if tensor.datatype == "BYTES":
        raw = tensor.parameters.get("content_type") == "str"
        flat = [_decode_element(item, raw, name) for item in flat]
    else:
        check_numbers(name, tensor.datatype, flat)
    if tensor.shape in ([], [1]):
        # One value: clients send a scalar as shape [1] (numpy's np.array([x])); it reaches predict()
        # as the value, as it would through the simple route.
        return flat[0]
    return reshape(flat, tensor.shape)


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


def shape_of(value: Any, depth: int = 0) -> list[int] | None:
    """The shape of a rectangular nested list (``[]``: not a list), or None when it is ragged or nested
    deeper than :data:`MAX_RANK`."""
    if not isinstance(value, list):
        return []
    if depth >= MAX_RANK:
        return None
    if not value:
        return [0]
    inner = [shape_of(item, depth + 1) for item in value]
    first = inner[0]
    if first is None or any(shape != first for shape in inner):
        return None
    return [len(value), *first]


def infer_response(model: str, version: int, outputs: list[dict[str, Any]], request_id: str | None) -> dict[str, Any]:
    """The OIP v2 response body around its output tensors."""
    body: dict[str, Any] = {"model_name": model, "model_version": str(version), "outputs": outputs}
    if request_id is not None:
        body["id"] = request_id
    return body
