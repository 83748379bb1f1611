"""Stage 2 of the pipeline: a bundle's manifest, parsed and checked against the bundle's files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .bundle import BundleSource
from .errors import ManifestError, Problem
from .jsonpos import Positions
from .kinds import KINDS, kind_of
from .manifest import BusTraining, HistoricDataTraining, Manifest, RestPrediction, slugify
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


def _file_rules(source: BundleSource, origin: str) -> Callable[[Manifest, Positions], list[Problem]]:
    def check(manifest: Manifest, positions: Positions) -> list[Problem]:
        def locate(pointer: str, message: str) -> Problem:
            return _at(origin, positions, pointer, message)

        kind = kind_of(manifest)
        problems = kind.bundle_problems(manifest, source, locate)
        for i, entry in enumerate(manifest.input.training):
            if isinstance(entry, BusTraining) and entry.payload.online and not kind.online_training:
                online = " and ".join(k.type for k in KINDS.values() if k.online_training)
                problems.append(
                    locate(
                        f"/input/training/{i}/payload/online", f"online training is supported for {online} models only"
                    )
                )
        historic = [e for e in manifest.input.training if isinstance(e, HistoricDataTraining)]
        if len(historic) > 1:
            problems.append(locate("/input/training", "at most one HISTORIC_DATA training input is supported"))
        return problems + declared_schema_problems(manifest, locate)

    return check


def _references(schema: Any, at: str) -> list[tuple[str, str]]:
    """Every ``$ref``/``$dynamicRef`` in ``schema`` that leaves the document or finds nothing in it:
    (pointer, why)."""
    from referencing import Registry
    from referencing.exceptions import Unresolvable
    from referencing.jsonschema import DRAFT202012

    resolver = Registry().with_resource("", DRAFT202012.create_resource(schema)).resolver()
    found: list[tuple[str, str]] = []
    stack = [(schema, at)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                here = f"{where}/{str(key).replace('~', '~0').replace('/', '~1')}"
                if key in ("$ref", "$dynamicRef"):
                    if not (isinstance(value, str) and value.startswith("#")):
                        found.append((here, "a schema may refer only to itself ('#...'): no other document is read"))
                    else:
                        try:
                            resolver.lookup(value)
                        except Unresolvable:
                            found.append((here, f"{value!r} names nothing in this schema"))
                stack.append((value, here))
        elif isinstance(node, list):
            stack.extend((value, f"{where}/{i}") for i, value in enumerate(node))
    return sorted(found)


def declared_schema_problems(manifest: Manifest, locate: Callable[[str, str], Problem]) -> list[Problem]:
    """Each parameter's declared JSON Schema is a valid 2020-12 schema that refers only to itself (no
    file or network is read, at generate time or when serving): every problem at its pointer."""
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

    meta = Draft202012Validator(Draft202012Validator.META_SCHEMA)
    problems: list[Problem] = []
    for i, entry in enumerate(manifest.input.prediction):
        if not isinstance(entry, RestPrediction):
            continue
        for j, parameter in enumerate(entry.payload.parameters):
            if parameter.json_schema is None:
                continue
            at = f"/input/prediction/{i}/payload/parameters/{j}/schema"
            for error in sorted(meta.iter_errors(parameter.json_schema), key=lambda e: list(map(str, e.path))):
                where = at + "".join(f"/{str(part).replace('~', '~0').replace('/', '~1')}" for part in error.path)
                problems.append(locate(where, f"not a valid JSON Schema: {error.message:.200}"))
            problems += [locate(where, why) for where, why in _references(parameter.json_schema, at)]
    return problems


def _raw_file_rules(source: BundleSource, origin: str) -> Callable[[Any, Positions], list[Problem]]:
    """The files a manifest that failed validation still evidently needs, from what it says as written."""

    def check(document: Any, positions: Positions) -> list[Problem]:
        data = document.get("modelData") if isinstance(document, dict) else None
        name = data.get("type") if isinstance(data, dict) else None
        kind = KINDS.get(name) if isinstance(name, str) else None
        if kind is None:
            return []
        payload = data.get("payload") if isinstance(data, dict) else None
        inputs = document.get("input") if isinstance(document, dict) else None
        training = inputs.get("training") if isinstance(inputs, dict) else None
        trains = isinstance(training, list) and bool(training)
        return kind.raw_bundle_problems(
            payload if isinstance(payload, dict) else {},
            trains,
            set(source.names()),
            lambda pointer, message: _at(origin, positions, pointer, message),
        )

    return check


def load_bundle(source: BundleSource) -> LoadedBundle:
    """Parse ``manifest.json`` and check it against the bundle; every problem at once."""
    origin = source.entry_origin("manifest.json")
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
