"""Stage 3 for DOCKER_LAYERS bundles: which layers, the user's Dockerfile checked, the OpenAPI routes.

How layers compose with the bundle's Dockerfile: the generated Dockerfile is each named layer's
fragment, in the manifest's order, then the bundle's ``Dockerfile`` verbatim, then the manifest's
``envVars`` as ``ENV``. A fragment defines stages named after the layer (``FROM ... AS python-runtime``),
so the bundle's Dockerfile builds on them by name (``FROM python-runtime`` or ``COPY --from=...``);
its last stage is the image. Layers come from aiar's catalog (``templates/layers``) or the
environment's ``layers`` section, which wins on a name clash (a reviewed, site-wide override).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from .assets import layer_catalog
from .dockerfile import security_problems
from .environment import LoadedEnvironment
from .errors import ManifestError, Problem
from .load import LoadedBundle
from .manifest import DockerLayersModel

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")


@dataclass(frozen=True)
class LayerPlan:
    name: str
    source: Literal["aiar", "environment"]
    text: str | None
    """The environment's fragment as written; None for aiar's (a template rendered with the plan)."""


@dataclass(frozen=True)
class ApiRoute:
    path: str
    """As the OpenAPI document writes it, e.g. ``/items/{id}``."""
    methods: tuple[str, ...]


@dataclass(frozen=True)
class LayersPlan:
    layers: tuple[LayerPlan, ...]
    dockerfile: str
    """The bundle's Dockerfile, verbatim."""
    env_vars: tuple[tuple[str, str], ...]
    openapi: dict[str, Any] | None
    routes: tuple[ApiRoute, ...]


def _openapi(loaded: LoadedBundle, data: DockerLayersModel, problems: list[Problem]) -> dict[str, Any] | None:
    spec = data.payload.openapi
    pointer = "/modelData/payload/openapi"
    if spec is None or isinstance(spec, dict):
        document = spec
    else:
        raw = loaded.source.get(spec)
        try:
            document = json.loads(raw or b"")
        except ValueError as exc:
            problems.append(loaded.problem(pointer, f"{spec} is not a JSON OpenAPI document: {exc}"))
            return None
    if document is None:
        return None
    paths = document.get("paths") if isinstance(document, dict) else None
    if not isinstance(paths, dict) or not paths:
        problems.append(loaded.problem(pointer, "the OpenAPI document needs a non-empty 'paths' object"))
        return None
    for path, item in paths.items():
        if not path.startswith("/") or any(c in path for c in " \t\\?#"):
            problems.append(loaded.problem(pointer, f"OpenAPI path {path!r} must start with '/' and be a plain path"))
        elif not isinstance(item, dict) or not any(m in item for m in HTTP_METHODS):
            problems.append(loaded.problem(pointer, f"OpenAPI path {path!r} defines no operation"))
    return document


def _routes(document: dict[str, Any] | None) -> tuple[ApiRoute, ...]:
    if document is None:
        return ()
    return tuple(
        ApiRoute(path, tuple(m.upper() for m in HTTP_METHODS if m in item))
        for path, item in sorted(document["paths"].items())
    )


def plan_layers(loaded: LoadedBundle, environment: LoadedEnvironment) -> LayersPlan:
    data = loaded.manifest.modelData
    assert isinstance(data, DockerLayersModel)
    problems: list[Problem] = []
    layers: list[LayerPlan] = []
    seen: set[str] = set()
    for i, layer in enumerate(data.payload.layers):
        pointer = f"/modelData/payload/layers/{i}/name"
        if layer.name in seen:
            problems.append(loaded.problem(pointer, f"layer {layer.name!r} is named twice"))
        elif layer.name in environment.layers:
            layers.append(LayerPlan(layer.name, "environment", environment.layers[layer.name]))
        elif layer.name in layer_catalog():
            if layer.name == "java-runtime" and environment.env.base_images.java is None:
                problems.append(
                    loaded.problem(pointer, "layer 'java-runtime' needs 'base_images.java' in the environment")
                )
            layers.append(LayerPlan(layer.name, "aiar", None))
        else:
            known = sorted(set(layer_catalog()) | set(environment.layers))
            problems.append(loaded.problem(pointer, f"unknown layer {layer.name!r}; known layers: {', '.join(known)}"))
        seen.add(layer.name)
    origin = loaded.manifest_path.removesuffix("manifest.json") + "Dockerfile"
    raw = loaded.source.get("Dockerfile") or b""
    try:
        dockerfile = raw.decode("utf-8")
    except UnicodeDecodeError:
        problems.append(Problem(origin, "", "the Dockerfile is not UTF-8 text"))
        dockerfile = ""
    else:
        problems += [
            Problem(origin, "", p.message, p.line, 1 if p.line else None) for p in security_problems(dockerfile)
        ]
    document = _openapi(loaded, data, problems)
    if problems:
        raise ManifestError(problems)
    return LayersPlan(
        layers=tuple(layers),
        dockerfile=dockerfile,
        env_vars=tuple(sorted(data.payload.envVars.items())),
        openapi=document,
        routes=_routes(document),
    )
