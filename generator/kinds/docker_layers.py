"""DOCKER_LAYERS models: the bundle's own Dockerfile and server, after layers from aiar's catalog.

How layers compose with the bundle's Dockerfile: the generated ``Dockerfile.predict`` is each named
layer's fragment, in the manifest's order, then the bundle's ``Dockerfile`` verbatim, then the
manifest's ``envVars`` as one ``ENV``. A fragment defines stages named after the layer (``FROM ... AS
python-runtime``), so the bundle's Dockerfile builds on them by name (``FROM python-runtime`` or
``COPY --from=...``); its last stage is the image. Layers come from aiar's catalog
(``templates/layers``) or the environment's ``layers`` section, which wins on a name clash (a
reviewed, site-wide override).

The build context holds the bundle's files at their own paths, so its Dockerfile's ``COPY``
instructions work unchanged, plus what aiar's layers copy (under ``aiar-layers/``); a bundle file
that would take the place of one aiar writes is refused (:func:`generator.render.context.add_bundle_files`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, JsonValue, StringConstraints

from .. import __version__, defaults
from ..assets import LAYER_SUFFIX, layer_catalog, runtime_archive, runtime_requirements
from ..bundle import BundleSource
from ..dockerfile import security_problems
from ..environment import LoadedEnvironment
from ..errors import Problem
from ..jsonpos import JsonSyntaxError, parse_json
from ..manifest_parts import EnvVarName, Hyperparameters, StrictModel
from ..render import Files
from ..render.context import add_bundle_files, ignore_file
from ..textrender import docker_string, render
from .base import KindPlan, Locate, missing
from .server_image import pip_arguments

if TYPE_CHECKING:
    from ..load import LoadedBundle
    from ..manifest import Manifest
    from ..plan import ModelPlan

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
LAYERS_DIR = "aiar-layers"
LAYERS_CA = f"{LAYERS_DIR}/ca.pem"
"""The environment's CA bundle, for the aiar-server layer's pip (mounted for that step only)."""


class DockerLayer(StrictModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9._-]*$")]


class DockerLayersPayload(StrictModel):
    layers: list[DockerLayer] = Field(default_factory=list)
    envVars: dict[EnvVarName, Annotated[str, StringConstraints(max_length=4096)]] = Field(default_factory=dict)
    openapi: dict[str, JsonValue] | Annotated[str, StringConstraints(max_length=255)] | None = None
    hyperparameters: Hyperparameters = Field(default_factory=dict)


# modelData of a DOCKER_LAYERS model (a comment: a docstring would become the schema's description)
class DockerLayersModel(StrictModel):
    type: Literal["DOCKER_LAYERS"]
    payload: DockerLayersPayload = DockerLayersPayload()


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


def _data(manifest: Manifest) -> DockerLayersModel:
    assert isinstance(manifest.modelData, DockerLayersModel)
    return manifest.modelData


# --- the bundle's files ----------------------------------------------------------------------------


def _json_file_problems(raw: bytes, origin: str) -> list[Problem]:
    """What the manifest's reader refuses in a bundled JSON file (the named OpenAPI document).

    The file is read later by the standard library, which takes NaN, turns ``1e400`` into Infinity
    and keeps lone surrogates, all of which would end up in out/; here they are located first.
    """
    try:
        # decoded as json.loads decodes bytes, so that both read the same text
        parsed = parse_json(raw.decode(json.detect_encoding(raw), "surrogatepass"))
    except UnicodeDecodeError as exc:
        return [Problem(origin, "", f"not a JSON text in UTF-8, UTF-16 or UTF-32 (byte {exc.start})")]
    except JsonSyntaxError as exc:
        return [Problem(origin, "", f"invalid JSON: {exc.message}", exc.line, exc.col)]
    return [Problem(origin, r.pointer, r.message, r.line, r.col) for r in parsed.refused]


def _dockerfile_problems(names: set[str], locate: Locate) -> list[Problem]:
    why = "a DOCKER_LAYERS model is built from its Dockerfile"
    return missing(names, "Dockerfile", "/modelData/type", why, locate)


# --- the plan ----------------------------------------------------------------------------------------


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


def _layers(loaded: LoadedBundle, environment: LoadedEnvironment) -> tuple[LayersPlan, list[Problem]]:
    """The layers plan and every problem found making it (the checks step reports them)."""
    data = _data(loaded.manifest)
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
    plan = LayersPlan(
        layers=tuple(layers),
        dockerfile=dockerfile,
        env_vars=tuple(sorted(data.payload.envVars.items())),
        openapi=document,
        routes=_routes(document),
    )
    return plan, problems


# --- the build context -------------------------------------------------------------------------------


def _fragment(plan: ModelPlan, name: str) -> str:
    images = plan.env.base_images
    return render(
        f"layers/{name}{LAYER_SUFFIX}",
        base_images=images,
        java_home=images.java_home,
        # a layer that installs Python packages does so as the model images do: the same index, CA
        **pip_arguments(plan.env),
        ca_source=LAYERS_CA if plan.ca_bundle is not None else "",
        **defaults.image_layout(),
        runtime_package=defaults.RUNTIME_PACKAGE,
        config_path=f"{defaults.CONFIG_MOUNT}/{defaults.CONFIG_FILE}",
    )


def layered_dockerfile(plan: ModelPlan, layers: LayersPlan) -> str:
    parts = [
        f"# Generated by aiar {__version__} from the bundle {plan.slug!r}; do not edit, run `aiar generate`.\n"
        f"# Layers {', '.join(layer.name for layer in layers.layers) or '(none)'}, then the bundle's "
        "Dockerfile, then its envVars.\n"
    ]
    for layer in layers.layers:
        text = layer.text if layer.text is not None else _fragment(plan, layer.name)
        if layer.source == "environment":
            text = f"# -- layer {layer.name!r} (environment file)\n{text}"
        parts.append(text.rstrip("\n") + "\n")
    parts.append(f"# -- the bundle's Dockerfile\n{layers.dockerfile.rstrip()}\n")
    if layers.env_vars:
        lines = [f"{name}={docker_string(value)}" for name, value in layers.env_vars]
        parts.append("# -- the manifest's envVars\nENV " + " \\\n    ".join(lines) + "\n")
    return "\n".join(parts)


class DockerLayersKind:
    type = "DOCKER_LAYERS"
    variant = DockerLayersModel
    own_server = True
    online_training = False

    def bundle_problems(self, manifest: Manifest, source: BundleSource, locate: Locate) -> list[Problem]:
        openapi = _data(manifest).payload.openapi
        problems = _dockerfile_problems(set(source.names()), locate)
        if isinstance(openapi, str):
            why = "the OpenAPI document is named"
            problems += missing(set(source.names()), openapi, "/modelData/payload/openapi", why, locate)
            document = source.get(openapi)
            if document is not None:
                problems += _json_file_problems(document, source.entry_origin(openapi))
        return problems

    def raw_bundle_problems(
        self, payload: Mapping[str, Any], trains: bool, names: set[str], locate: Locate
    ) -> list[Problem]:
        return _dockerfile_problems(names, locate)

    def environment_problems(self, loaded: LoadedBundle, environment: LoadedEnvironment) -> list[Problem]:
        problems: list[Problem] = []
        if loaded.manifest.input.training:
            why = "a DOCKER_LAYERS model trains inside its own image: no training input"
            problems.append(loaded.problem("/input/training", why))
        return problems + _layers(loaded, environment)[1]

    def plan(self, loaded: LoadedBundle, environment: LoadedEnvironment) -> KindPlan:
        layers, problems = _layers(loaded, environment)
        assert not problems, "reported by the checks step"
        return KindPlan(layers=layers)

    def build_context(self, plan: ModelPlan) -> Files:
        layers = plan.layers
        assert layers is not None
        files: Files = {**ignore_file(), "Dockerfile.predict": layered_dockerfile(plan, layers).encode()}
        if any(layer.name == "aiar-server" and layer.source == "aiar" for layer in layers.layers):
            files[defaults.RUNTIME_ARCHIVE] = runtime_archive()
            files[f"{LAYERS_DIR}/aiar-server-requirements.txt"] = ("\n".join(runtime_requirements()) + "\n").encode()
            if plan.ca_bundle is not None:
                files[LAYERS_CA] = plan.ca_bundle
        # its manifest and Dockerfile are what the image is made from, not part of it
        bundle = [(name, data) for name, data in plan.source.files if name not in ("manifest.json", "Dockerfile")]
        add_bundle_files(files, bundle, plan.source.origin, (image.dockerfile for image in plan.images))
        return files
