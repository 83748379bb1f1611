"""The OpenAPI 3 document of one model server, generated from its config: pure, deterministic data.

The compiler writes it into ``out/``; the server serves the same document at ``/openapi.json``.
"""

from __future__ import annotations

from typing import Any

from .codec import FLOAT_MAX, INT_RANGES, NUMERIC_DATATYPES
from .config import Parameter, ServerConfig, TensorType
from .typed import Signature

OPENAPI_VERSION = "3.1.0"
"""3.1: its schemas are JSON Schema 2020-12, the dialect of the parameters' declared schemas."""

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
}
_ANY: dict[str, Any] = {}  # any JSON value: what predict() takes and returns is the model's business


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    texts = {
        400: "Bad request: the message names the faulty parameter.",
        500: "predict() failed; the traceback is in the server log.",
        502: "The data processor failed.",
        503: "The model is not loaded yet.",
    }
    return {str(code): _json({"$ref": "#/components/schemas/Error"}, texts[code]) for code in codes}


def _get(summary: str, schema: dict[str, Any], *codes: int) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": {"200": _json(schema, "OK"), **_errors(*codes)}}}


def _ready(summary: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A readiness route: the same ``{"ready": ...}`` body with 200 (ready) and 503 (not yet)."""
    return {
        "get": {
            "summary": summary,
            "responses": {
                "200": _json(schema, "Ready."),
                "503": _json(schema, "Not ready: the model is not loaded yet."),
            },
        }
    }


def _tensor_schema(names: list[str] | None) -> dict[str, Any]:
    name: dict[str, Any] = {"type": "string"}
    if names:
        name["enum"] = names
    return {
        "type": "object",
        "required": ["name", "shape", "datatype", "data"],
        "properties": {
            "name": name,
            "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "datatype": {"type": "string", "enum": sorted(NUMERIC_DATATYPES | {"BYTES"})},
            "parameters": {"type": "object"},
            "data": _ANY,
        },
    }


def element_schema(datatype: str) -> dict[str, Any]:
    """One element of a tensor of ``datatype``, as JSON Schema."""
    if datatype == "BOOL":
        return {"type": "boolean"}
    if datatype == "BYTES":
        return {"type": "string"}
    if datatype in INT_RANGES:
        low, high = INT_RANGES[datatype]
        return {"type": "integer", "minimum": low, "maximum": high}
    limit = FLOAT_MAX[datatype]
    return {"type": "number"} if limit == float("inf") else {"type": "number", "minimum": -limit, "maximum": limit}


def value_schema(tensor: TensorType) -> dict[str, Any]:
    """A declared tensor as a JSON value (the simple route, the bus): nested arrays of its elements."""
    schema = element_schema(tensor.datatype)
    for dim in reversed(tensor.shape):
        schema = {"type": "array", "items": schema, **({} if dim < 0 else {"minItems": dim, "maxItems": dim})}
    return schema


def _parameter_schema(p: Parameter) -> dict[str, Any]:
    schema: dict[str, Any] = {"description": p.description or p.name}
    if p.tensor is not None:
        schema |= value_schema(p.tensor)
    elif p.json_schema is not None:
        schema = {"description": p.description or p.name, "allOf": [p.json_schema]}
    return schema


def _typed_tensor_schema(name: str, tensor: TensorType) -> dict[str, Any]:
    """An OIP input for a parameter of a declared type: its name, datatype and a fitting shape."""
    if tensor.shape:
        dims = [{"type": "integer", "minimum": 0} if d < 0 else {"const": d} for d in tensor.shape]
        shape = {"type": "array", "prefixItems": dims, "items": False, "minItems": len(dims), "maxItems": len(dims)}
    else:  # one value: shape [] or [1]
        shape = {"type": "array", "items": {"const": 1}, "maxItems": 1}
    return {
        "type": "object",
        "required": ["name", "shape", "datatype", "data"],
        "properties": {
            "name": {"const": name},
            "shape": shape,
            "datatype": {"const": tensor.datatype},
            "parameters": {"type": "object"},
            "data": {"type": "array"},
        },
    }


def _input_items(params: list[Parameter]) -> dict[str, Any]:
    typed = [p for p in params if p.tensor is not None]
    if not typed:
        return _tensor_schema([p.name for p in params])
    untyped = [p.name for p in params if p.tensor is None]
    choices = [_typed_tensor_schema(p.name, p.tensor) for p in typed if p.tensor is not None]
    if untyped:
        choices.append(_tensor_schema(untyped))
    return {"oneOf": choices}


def _output_schema(name: str, tensor: TensorType | None) -> dict[str, Any]:
    if tensor is None:
        return {
            "type": "object",
            "required": ["name", "shape", "datatype", "data"],
            "properties": {
                "name": {"const": name},
                "shape": {"const": [1]},
                "datatype": {"const": "BYTES"},
                "parameters": {"type": "object"},
                "data": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 1},
            },
        }
    return {
        "type": "object",
        "required": ["name", "shape", "datatype", "data"],
        "properties": {
            "name": {"const": name},
            "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "datatype": {"const": tensor.datatype},
            "parameters": {"type": "object"},
            "data": {"type": "array", "items": element_schema(tensor.datatype)},
        },
    }


def openapi_document(config: ServerConfig, signature: Signature | None = None) -> dict[str, Any]:
    """The document; ``signature``: what the model takes and returns, when not the config's (ONNX)."""
    model = config.model
    signature = signature or Signature.of(config)
    params = list(signature.parameters)
    names = [p.name for p in params]
    base = f"/v2/models/{model.slug}"
    ready = {"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}}}
    predict_body = {
        "type": "object",
        "required": names,
        "additionalProperties": False,
        "properties": {p.name: _parameter_schema(p) for p in params},
    }
    if not params:  # a bus-only model takes one JSON object as a whole
        predict_body = {"type": "object"}
    paths: dict[str, Any] = {
        "/v2": _get("Server metadata (OIP v2).", {"type": "object"}),
        "/v2/health/live": _get("Liveness (OIP v2).", {"type": "object"}),
        "/v2/health/ready": _ready("Readiness: true once the model is loaded.", ready),
        base: _get("Model metadata (OIP v2).", {"$ref": "#/components/schemas/ModelMetadata"}),
        f"{base}/ready": _ready("Model readiness (OIP v2).", ready),
        f"{base}/infer": {
            "post": {
                "summary": "Inference with the Open Inference Protocol v2.",
                "description": "Each input's name is a parameter name; its metadata gives datatypes and shapes.",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InferenceRequest"}}},
                },
                "responses": {
                    "200": _json({"$ref": "#/components/schemas/InferenceResponse"}, "OK"),
                    **_errors(400, 500, 502, 503),
                },
            }
        },
        f"{base}/predict": {
            "post": {
                "summary": f"Predict with {model.name}: the parameters by name, predict()'s JSON back.",
                "requestBody": {"required": True, "content": {"application/json": {"schema": predict_body}}},
                "responses": {"200": _json(_ANY, "predict()'s return value."), **_errors(400, 500, 502, 503)},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics.",
                "responses": {
                    "200": {
                        "description": "Prometheus text exposition format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    }
    # The same model routes under its version (OIP's /versions/{v}), as the server answers them.
    versioned = f"{base}/versions/{model.version}"
    for path in [p for p in paths if p == base or p.startswith(base + "/")]:
        paths[versioned + path[len(base) :]] = paths[path]
    tensor_meta = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "datatype": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer"}},
        },
    }
    components = {
        "Error": _ERROR,
        "InferenceRequest": {
            "type": "object",
            "required": ["inputs"],
            "properties": {
                "id": {"type": ["string", "null"]},
                "parameters": {"type": "object"},
                # One tensor per parameter (each name once: beyond what OpenAPI 3.0 can say).
                "inputs": {
                    "type": "array",
                    "items": _input_items(params),
                    "minItems": len(names),
                    "maxItems": len(names),
                },
                "outputs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {
                            "name": {"type": "string", "enum": signature.output_names},
                            "parameters": {"type": "object"},
                        },
                    },
                },
            },
        },
        "InferenceResponse": {
            "type": "object",
            "required": ["model_name", "outputs"],
            "properties": {
                "model_name": {"type": "string"},
                "model_version": {"type": "string"},
                "id": {"type": "string"},
                "outputs": {
                    "type": "array",
                    "items": {"oneOf": [_output_schema(o.name, o.tensor) for o in signature.outputs]}
                    if len(signature.outputs) > 1
                    else _output_schema(signature.outputs[0].name, signature.outputs[0].tensor),
                },
            },
        },
        "ModelMetadata": {
            "type": "object",
            "required": ["name", "versions", "platform", "inputs", "outputs"],
            "properties": {
                "name": {"type": "string"},
                "versions": {"type": "array", "items": {"type": "string"}},
                "platform": {"type": "string"},
                "inputs": {"type": "array", "items": tensor_meta},
                "outputs": {"type": "array", "items": tensor_meta},
            },
        },
    }
    info: dict[str, Any] = {"title": model.name, "version": str(model.version)}
    if model.description:
        info["description"] = model.description
    return {"openapi": OPENAPI_VERSION, "info": info, "paths": paths, "components": {"schemas": components}}
