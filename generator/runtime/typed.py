"""Declared types: what a model takes and returns, and requests and results checked against it.

A parameter may declare an OIP tensor type (``datatype`` and ``shape``) or a JSON Schema; an output
may declare a tensor type. The declarations come from the config (the manifest's), or for an ONNX
model from its graph. Undeclared parameters take any JSON value; an undeclared output is JSON text.
Pure functions and data, no I/O.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

from . import codec
from .codec import RequestError, ResultError
from .config import DEFAULT_OUTPUTS, Output, Parameter, ServerConfig, TensorType

_QUICK_REQUEST_KEYS = frozenset({"id", "inputs"})


class Checked(dict[str, Any]):
    """Parameter values, by name, already checked against ``signature`` (decoding an OIP request
    checks each tensor as it decodes it): :meth:`Signature.arguments` only puts them in order, rather
    than checking every value, a whole batch for a typed tensor, a second time."""

    __slots__ = ("signature",)

    def __init__(self, signature: Signature) -> None:
        super().__init__()
        self.signature = signature


def fits(declared: Sequence[int], shape: Sequence[int]) -> bool:
    """Whether ``shape`` is one of ``declared``'s (``-1``: any length); a declared scalar (``()``)
    also takes ``[1]``, the shape every OIP client gives one value."""
    if not declared:
        return list(shape) in ([], [1])
    return len(declared) == len(shape) and all(d in (-1, s) for d, s in zip(declared, shape, strict=True))


def shape_text(shape: Sequence[int]) -> str:
    return "[" + ", ".join("-1" if d < 0 else str(d) for d in shape) + "]"


def metadata_shape(tensor: TensorType) -> list[int]:
    """The shape OIP metadata declares: a scalar is ``[1]``, what clients send for one value."""
    return list(tensor.shape) or [1]


def _check_elements(name: str, datatype: str, flat: list[Any]) -> None:
    if datatype == "BYTES":
        if not all(isinstance(item, str) for item in flat):
            raise RequestError(f"parameter {name!r}: BYTES data must be strings")
        return
    codec.check_numbers(name, datatype, flat)


class _SchemaCheck:
    """One parameter's JSON Schema, compiled once (jsonschema is imported only by a model that has one)."""

    def __init__(self, name: str, schema: Mapping[str, Any]) -> None:
        from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

        self.name = name
        self.validator = Draft202012Validator(dict(schema))

    def __call__(self, value: Any) -> None:
        error = next(iter(self.validator.iter_errors(value)), None)
        if error is not None:
            where = "".join(f"/{part}" for part in error.absolute_path)
            at = f" at {where}" if where else ""
            raise RequestError(f"parameter {self.name!r}{at}: {error.message:.300}")


class Signature:
    """What a model takes (parameters, in predict()'s order) and returns (OIP outputs)."""

    def __init__(self, parameters: Sequence[Parameter], outputs: Sequence[Output] = DEFAULT_OUTPUTS) -> None:
        self.parameters = tuple(parameters)
        self.outputs = tuple(outputs) or DEFAULT_OUTPUTS
        self.names = [p.name for p in self.parameters]
        self._by_name = {p.name: p for p in self.parameters}
        self._schemas = {p.name: _SchemaCheck(p.name, p.json_schema) for p in self.parameters if p.json_schema}
        self._quick = {p.name: p for p in self.parameters if not p.json_schema}
        """The parameters :meth:`quick_arguments` decodes: all but those with a JSON Schema."""

    @classmethod
    def of(cls, config: ServerConfig) -> Signature:
        if config.rest is None:
            return cls(())
        return cls(config.rest.parameters, config.rest.outputs)

    # --- requests ---------------------------------------------------------------------------------

    def check(self, name: str, value: Any) -> Any:
        """A parameter's JSON value (the simple route, the bus) against its declared type."""
        parameter = self._by_name[name]
        if parameter.tensor is not None:
            tensor = parameter.tensor
            shape = codec.shape_of(value)
            if shape == [0] and tensor.shape[:1] in ((-1,), (0,)):
                return value  # an empty batch: [] has no inner dimensions to check
            if shape is None or (not tensor.shape and shape) or (tensor.shape and not fits(tensor.shape, shape)):
                raise RequestError(
                    f"parameter {name!r}: expected {tensor.datatype} of shape {shape_text(tensor.shape)}"
                    + (", one value" if not tensor.shape else "")
                )
            _check_elements(name, tensor.datatype, codec.flatten(value, max(len(tensor.shape), 1)))
        schema = self._schemas.get(name)
        if schema is not None:
            schema(value)
        return value

    def arguments(self, values: Any) -> list[Any]:
        """predict()'s positional arguments from a JSON object of named parameters, each checked."""
        if type(values) is Checked and values.signature is self:
            return [values[name] for name in self.names]
        ordered = codec.ordered_arguments(values, self.parameters)
        return [self.check(name, value) for name, value in zip(self.names, ordered, strict=True)]

    def tensor_argument(self, tensor: codec.RequestInput) -> Any:
        """The value an OIP input carries for its parameter: by the declared type, when there is one."""
        parameter = self._by_name.get(tensor.name)
        if parameter is None:
            raise RequestError(f"unknown parameter {tensor.name!r}; expected {sorted(self.names)}")
        declared = parameter.tensor
        if declared is None:
            value = codec.tensor_value(tensor)
            schema = self._schemas.get(tensor.name)
            if schema is not None:
                schema(value)
            return value
        name = tensor.name
        if tensor.datatype != declared.datatype:
            raise RequestError(f"parameter {name!r} is {declared.datatype}, got {tensor.datatype}")
        if not fits(declared.shape, tensor.shape):
            raise RequestError(
                f"parameter {name!r}: shape {tensor.shape} does not fit the declared {shape_text(declared.shape)}"
            )
        codec.check_shape(name, tensor.shape)
        if not isinstance(tensor.data, list):
            raise RequestError(f"parameter {name!r}: data must be a list")
        flat = codec.flatten(tensor.data, max(len(tensor.shape), 1))
        expected = math.prod(tensor.shape)
        if len(flat) != expected:
            raise RequestError(f"parameter {name!r}: shape {tensor.shape} needs {expected} elements, got {len(flat)}")
        _check_elements(name, declared.datatype, flat)
        if not declared.shape:
            return flat[0]
        return codec.reshape(flat, tensor.shape)

    def quick_arguments(self, document: Any) -> tuple[str | None, Checked] | None:
        """The request id and :meth:`oip_arguments` of a parsed inference request, straight from its
        JSON data, for the request OIP clients send: ``id`` and ``inputs`` only, every parameter once
        as a flat numeric tensor of rank 1 or 2 with exactly ``name``, ``shape``, ``datatype`` and
        ``data``, valid by whole-list checks. None for anything else, which the full path decodes
        (the same values) or refuses (its message). A fifth of an OIP request's CPU time in the
        server went to the full path's steps for such a request."""
        if type(document) is not dict or not document.keys() <= _QUICK_REQUEST_KEYS:
            return None
        request_id, inputs = document.get("id"), document.get("inputs")
        if not (request_id is None or type(request_id) is str) or type(inputs) is not list:
            return None
        if len(inputs) != len(self.names):
            return None
        values = Checked(self)
        for tensor in inputs:
            if type(tensor) is not dict or len(tensor) != 4:  # name, shape, datatype and data: no more
                return None
            name, shape = tensor.get("name"), tensor.get("shape")
            datatype, data = tensor.get("datatype"), tensor.get("data")
            parameter = self._quick.get(name) if type(name) is str else None
            if parameter is None or name in values or type(shape) is not list or type(data) is not list:
                return None
            name = parameter.name
            if len(shape) == 1:
                rows, columns = shape[0], 1
            elif len(shape) == 2:
                rows, columns = shape
            else:
                return None
            if type(rows) is not int or type(columns) is not int:
                return None
            if not (0 <= rows <= codec.MAX_DIMENSION and 0 <= columns <= codec.MAX_DIMENSION):
                return None
            count = rows * columns
            if len(data) != count or rows > max(count, 1024):
                return None  # the element count is wrong, or the rows would outnumber the bound
            declared = parameter.tensor
            if declared is not None and (datatype != declared.datatype or not fits(declared.shape, shape)):
                return None
            if type(datatype) is not str or not codec.plainly_valid(datatype, data):
                return None
            one = not declared.shape if declared is not None else shape == [1]
            values[name] = data[0] if one else codec.reshape(data, shape)
        return request_id, values

    def oip_arguments(self, request: codec.InferenceRequest) -> Checked:
        """The parameter values of an inference request, by name; every parameter given once."""
        values = Checked(self)
        for tensor in request.inputs:
            if tensor.name in values:
                raise RequestError(f"parameter {tensor.name!r} given more than once")
            values[tensor.name] = self.tensor_argument(tensor)
        if len(values) < len(self.names):  # every name given is known (tensor_argument)
            missing = [name for name in self.names if name not in values]
            raise RequestError(f"missing parameter {missing[0]!r}")
        return values

    def requested(self, request: codec.InferenceRequest) -> tuple[Output, ...]:
        """The outputs an inference request asks for (all when it names none); unknown names are a 400."""
        if not request.outputs:
            return self.outputs
        known = {o.name: o for o in self.outputs}
        chosen = []
        for wanted in request.outputs:
            if wanted.name not in known:
                raise RequestError(f"unknown output {wanted.name!r}; this model's outputs are {sorted(known)}")
            chosen.append(known[wanted.name])
        return tuple(chosen)

    # --- results ----------------------------------------------------------------------------------

    def output_tensors(self, result: Any, outputs: Sequence[Output]) -> list[dict[str, Any]]:
        """predict()'s result (plain JSON values) as the OIP output tensors ``outputs``.

        One output takes the whole result; several take the result's members by name.
        """
        if len(self.outputs) == 1:
            return [_output_tensor(self.outputs[0], result)]
        if not isinstance(result, dict):
            raise ResultError(f"the model returned {type(result).__name__}, not its outputs {self.output_names}")
        missing = [o.name for o in outputs if o.name not in result]
        if missing:
            raise ResultError(f"the model's result lacks its output {missing[0]!r}")
        return [_output_tensor(o, result[o.name]) for o in outputs]

    def output_tensors_json(self, result: bytes, outputs: Sequence[Output]) -> list[dict[str, Any]]:
        """:meth:`output_tensors` of predict()'s result as the server holds it, as JSON text: the one
        undeclared output is that text as it is, not decoded and encoded again."""
        if len(self.outputs) == 1 and self.outputs[0].tensor is None:
            return [_json_text_tensor(self.outputs[0].name, result.decode())]
        return self.output_tensors(codec.loads(result), outputs)

    def response_json(
        self, model: str, version: int, result: bytes, outputs: Sequence[Output], request_id: str | None
    ) -> bytes:
        """The OIP response body for predict()'s result as the server holds it (JSON text). The one
        undeclared output is that text in a JSON string, written around it: the same bytes as
        encoding :func:`codec.infer_response` of :meth:`output_tensors_json`, without building
        them (5 us of every OIP request in the server)."""
        if len(self.outputs) == 1 and self.outputs[0].tensor is None:
            head = _text_response_head(model, version, self.outputs[0].name)
            identified = b"" if request_id is None else b',"id":' + codec.dumps(request_id)
            return head + codec.dumps(result.decode()) + b"]}]" + identified + b"}"
        tensors = self.output_tensors_json(result, outputs)
        return codec.dumps(codec.infer_response(model, version, tensors, request_id))

    @property
    def output_names(self) -> list[str]:
        return [o.name for o in self.outputs]

    # --- metadata ---------------------------------------------------------------------------------

    def metadata(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The OIP metadata's inputs and outputs: what the server accepts and returns (see CONTRACT.md)."""
        inputs = [_metadata_tensor(p.name, p.tensor, [-1]) for p in self.parameters]
        outputs = [_metadata_tensor(o.name, o.tensor, [1]) for o in self.outputs]
        return inputs, outputs


def _metadata_tensor(name: str, tensor: TensorType | None, untyped: list[int]) -> dict[str, Any]:
    if tensor is None:  # any JSON value: JSON texts (or plain strings) in, one JSON text out
        return {"name": name, "datatype": "BYTES", "shape": untyped}
    return {"name": name, "datatype": tensor.datatype, "shape": metadata_shape(tensor)}


def _output_tensor(output: Output, value: Any) -> dict[str, Any]:
    declared = output.tensor
    if declared is None:
        return _json_text_tensor(output.name, codec.dumps(value).decode())
    shape = codec.shape_of(value)
    if shape == [0] and declared.shape[:1] in ((-1,), (0,)):
        shape = [0, *(max(d, 0) for d in declared.shape[1:])]  # an empty batch, in the declared rank
    if shape is None or not (fits(declared.shape, shape) if declared.shape else not shape):
        raise ResultError(
            f"the model's output {output.name!r} is not the declared {declared.datatype} {shape_text(declared.shape)}"
        )
    flat = codec.flatten(value, max(len(shape), 1)) if shape else [value]
    try:
        _check_elements(output.name, declared.datatype, flat)
    except RequestError as exc:
        raise ResultError(f"the model's output {exc}") from None
    return {"name": output.name, "datatype": declared.datatype, "shape": shape or [1], "data": flat}


@functools.cache
def _text_response_head(model: str, version: int, output: str) -> bytes:
    """The response body of one undeclared output up to its element: ``...,"data":[``."""
    body = codec.dumps(codec.infer_response(model, version, [_json_text_tensor(output, "")], None))
    end = b'"data":[""]}]}'
    if not body.endswith(end):  # orjson keeps the keys' order: the element is last
        raise RuntimeError(f"unexpected response layout: {body!r}")
    return body[: -len(end)] + b'"data":['


def _json_text_tensor(name: str, text: str) -> dict[str, Any]:
    """An undeclared output: one BYTES element, the result's JSON text."""
    return {"name": name, "datatype": "BYTES", "shape": [1], "parameters": {"content_type": "json"}, "data": [text]}
