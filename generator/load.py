"""Stage 2 of the pipeline: a bundle's manifest, parsed and checked against the bundle's files."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .bundle import BundleSource
from .errors import ManifestError, Problem
from .jsonpos import JsonSyntaxError, Positions, parse_json
from .manifest import (
    BusTraining,
    DockerLayersModel,
    H2OModel,
    H2OPayload,
    HistoricDataTraining,
    Manifest,
    PythonModel,
    RestPrediction,
    slugify,
)
from .runtime.config import source_predict_style
from .validate import parse_and_validate

MAX_MANIFEST_BYTES = 1024 * 1024


@dataclass(frozen=True)
class LoadedBundle:
    source: BundleSource
    manifest: Manifest
    manifest_path: str
    positions: Positions

    def slug(self) -> str:
        return slugify(self.manifest.name)

    def problem(self, pointer: str, message: str) -> Problem:
        return _at(self.manifest_path, self.positions, pointer, message)


def _at(source: str, positions: Positions, pointer: str, message: str) -> Problem:
    where = positions.of(pointer)
    return Problem(source, pointer, message, *(where if where else (None, None)))


def _entry_origin(source: BundleSource, name: str) -> str:
    """How a bundle entry is named in problems: ``dir/name`` or ``bundle.zip!name``."""
    return f"{source.origin}!{name}" if source.origin.endswith(".zip") else f"{source.origin}/{name}"


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


def _file_rules(source: BundleSource, origin: str) -> Callable[[Manifest, Positions], list[Problem]]:
    def check(manifest: Manifest, positions: Positions) -> list[Problem]:
        names = set(source.names())
        problems: list[Problem] = []

        def need(path: str, pointer: str, why: str) -> None:
            if path not in names:
                problems.append(_at(origin, positions, pointer, f"{why}: {path} is missing from the bundle"))

        data = manifest.modelData
        trains = bool(manifest.input.training)
        if isinstance(data, PythonModel):
            need("src/predict.py", "/modelData/type", "a PYTHON model needs its predict function")
            problems.extend(_predict_signature(source, manifest, origin, positions))
            if trains:
                need("src/train.py", "/input/training", "a model with training input needs its train function")
        elif isinstance(data, H2OModel):
            if data.payload.modelFile is None:
                need(f"src/{data.payload.jarFile}", "/modelData/payload/jarFile", "an H2O model needs its jar")
            elif not trains:
                need(f"src/{data.payload.modelFile}", "/modelData/payload/modelFile", "an untrained MOJO is shipped")
            if trains:
                need("src/train.jar", "/input/training", "an H2O model with training input needs its train.jar")
        if trains and isinstance(data, PythonModel | H2OModel) and data.payload.modelFile is None:
            problems.append(
                _at(
                    origin,
                    positions,
                    "/modelData/payload",
                    "a model with training input needs 'modelFile', the file training writes",
                )
            )
        if isinstance(data, DockerLayersModel):
            need("Dockerfile", "/modelData/type", "a DOCKER_LAYERS model is built from its Dockerfile")
            if isinstance(data.payload.openapi, str):
                need(data.payload.openapi, "/modelData/payload/openapi", "the OpenAPI document is named")
                document = source.get(data.payload.openapi)
                if document is not None:
                    problems += _json_file_problems(document, _entry_origin(source, data.payload.openapi))
        for i, entry in enumerate(manifest.input.training):
            if isinstance(entry, BusTraining) and entry.payload.online and not isinstance(data, PythonModel):
                problems.append(
                    _at(
                        origin,
                        positions,
                        f"/input/training/{i}/payload/online",
                        "online training is supported for PYTHON models only",
                    )
                )
        historic = [e for e in manifest.input.training if isinstance(e, HistoricDataTraining)]
        if len(historic) > 1:
            problems.append(
                _at(origin, positions, "/input/training", "at most one HISTORIC_DATA training input is supported")
            )
        return problems

    return check


def _predict_signature(source: BundleSource, manifest: Manifest, origin: str, positions: Positions) -> list[Problem]:
    """predict.py's ``predict`` takes the manifest's parameters in one of the two styles (read from the
    source, never run): ``predict(model, *params)`` or the seed's ``predict(*params)``."""
    raw = source.get("src/predict.py")
    if raw is None:
        return []  # reported as missing
    rest = next((p for p in manifest.input.prediction if isinstance(p, RestPrediction)), None)
    count = len(rest.payload.parameters) if rest is not None else 1  # bus-only: the whole message
    text = raw.decode("utf-8", "replace")
    if source_predict_style(text, count) is not None:
        return []
    where = "/input/prediction" if rest is not None else "/modelData/type"
    if not re.search(r"^(async\s+)?def\s+predict\s*\(", text, re.M):
        why = "src/predict.py defines no top-level predict() function"
    else:
        why = (
            f"predict() in src/predict.py takes neither (model, then the {count} parameter(s)) nor the "
            f"{count} parameter(s) alone"
        )
    return [_at(origin, positions, where, why)]


def _raw_file_rules(source: BundleSource, origin: str) -> Callable[[Any, Positions], list[Problem]]:
    """The files a manifest that failed validation still evidently needs, from what it says as written."""

    def check(document: Any, positions: Positions) -> list[Problem]:
        names = set(source.names())
        data = document.get("modelData") if isinstance(document, dict) else None
        kind = data.get("type") if isinstance(data, dict) else None
        payload: dict[str, Any] = {}
        if isinstance(data, dict) and isinstance(data.get("payload"), dict):
            payload = data["payload"]
        inputs = document.get("input") if isinstance(document, dict) else None
        training = inputs.get("training") if isinstance(inputs, dict) else None
        trains = isinstance(training, list) and bool(training)
        needed: list[tuple[str, str, str]] = []
        if kind == "PYTHON":
            needed.append(("src/predict.py", "/modelData/type", "a PYTHON model needs its predict function"))
            if trains:
                needed.append(
                    ("src/train.py", "/input/training", "a model with training input needs its train function")
                )
        elif kind == "H2O":
            jar = payload.get("jarFile")
            if payload.get("modelFile") is None and isinstance(jar, str | type(None)):
                path = f"src/{jar or H2OPayload.model_fields['jarFile'].default}"
                needed.append((path, "/modelData/payload/jarFile", "an H2O model needs its jar"))
            if trains:
                needed.append(
                    ("src/train.jar", "/input/training", "an H2O model with training input needs its train.jar")
                )
        elif kind == "DOCKER_LAYERS":
            needed.append(("Dockerfile", "/modelData/type", "a DOCKER_LAYERS model is built from its Dockerfile"))
        return [
            _at(origin, positions, pointer, f"{why}: {path} is missing from the bundle")
            for path, pointer, why in needed
            if path not in names
        ]

    return check


def load_bundle(source: BundleSource) -> LoadedBundle:
    """Parse ``manifest.json`` and check it against the bundle; every problem at once."""
    origin = _entry_origin(source, "manifest.json")
    raw = source.get("manifest.json")
    assert raw is not None  # read_bundle refuses bundles without one
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestError([Problem(origin, "", f"manifest.json is larger than {MAX_MANIFEST_BYTES} bytes")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError([Problem(origin, "", f"manifest.json is not UTF-8 (byte {exc.start})")]) from None
    manifest, problems, positions = parse_and_validate(
        text, origin, Manifest, _file_rules(source, origin), _raw_file_rules(source, origin)
    )
    if manifest is None:
        raise ManifestError(problems)
    return LoadedBundle(source, manifest, origin, positions)
