"""The OpenAPI 3 document of one model server, generated from its config: pure, deterministic data.

The compiler writes it into ``out/``; the server serves the same document at ``/openapi.json``.
"""

from __future__ import annotations

from typing import Any

from .codec import NUMERIC_DATATYPES
from .config import ServerConfig

OPENAPI_VERSION = "3.0.3"

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


def openapi_document(config: ServerConfig) -> dict[str, Any]:
    model = config.model
    params = list(config.rest.parameters) if config.rest else []
    names = [p.name for p in params]
    base = f"/v2/models/{model.slug}"
    ready = {"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}}}
    predict_body = {
        "type": "object",
        "required": names,
        "additionalProperties": False,
        "properties": {p.name: {"description": p.description or p.name} for p in params},
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
                "description": "Each input's name is a parameter name; BYTES elements are JSON texts.",
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
                "id": {"type": "string"},
                "parameters": {"type": "object"},
                # One tensor per parameter (each name once: beyond what OpenAPI 3.0 can say).
                "inputs": {
                    "type": "array",
                    "items": _tensor_schema(names),
                    "minItems": len(names),
                    "maxItems": len(names),
                },
                "outputs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {
                            "name": {"type": "string", "enum": ["result"]},
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
                "outputs": {"type": "array", "items": _tensor_schema(None)},
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
