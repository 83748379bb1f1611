"""Property: any manifest ends in a structured error or a valid artifact set, never a traceback.

Each case runs the whole compiler in memory (load, validate, plan, every renderer: images, server
config, OpenAPI, cluster objects, schedules, gateway, the YAML writer, the ApplySet and the index),
seeded from every example bundle, and checks what it renders parses back (YAML, strict JSON).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.bundle import BundleSource, read_bundle
from generator.environment import load_environment
from generator.errors import AiarError
from generator.lock import Lock
from generator.pipeline import assemble, compile_source
from tests.conftest import EXAMPLE_ENV, REPO, SEED_MANIFEST

SEED: dict[str, Any] = json.loads(SEED_MANIFEST.read_text())
ENV = load_environment(EXAMPLE_ENV)
FILES = (
    ("src/predict.py", b"def predict(model, json_data):\n    return 1\n"),
    ("src/train.py", b"def train(d, h, m):\n    return None\n"),
)
# Every example: its manifest to mutate, and the rest of its files (code, jars, Dockerfile, OpenAPI).
EXAMPLES = {
    path.name: read_bundle(path) for path in sorted((REPO / "bundles").iterdir()) if (path / "manifest.json").is_file()
}


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def check_artifacts(files: dict[str, bytes]) -> None:
    """What a renderer wrote parses back: YAML as YAML, JSON as strict JSON (no NaN or Infinity)."""
    for name, data in files.items():
        if name.endswith((".yaml", ".yml")):
            list(yaml.safe_load_all(data.decode("utf-8")))
        elif name.endswith(".json"):
            json.loads(data.decode("utf-8"), parse_constant=_reject_constant)


json_scalars = (
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += paths(value, (*prefix, i))
    return found


@st.composite
def mutated_seeds(draw: st.DrawFn, seed: dict[str, Any] = SEED) -> dict[str, Any]:
    manifest = copy.deepcopy(seed)
    for _ in range(draw(st.integers(1, 4))):
        targets = paths(manifest)[1:]
        if not targets:
            break
        path = draw(st.sampled_from(targets))
        parent = manifest
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["same-type", "same-type", "replace", "delete", "add"]))
        current = parent[path[-1]]
        if action == "same-type" and isinstance(current, str):
            # Values of the right type reach the renderers: hostile text in names, descriptions, topics.
            parent[path[-1]] = draw(st.text(max_size=30) | st.sampled_from(["yes", "no", "on", "0x1F", "1e3", "~"]))
        elif action == "same-type" and isinstance(current, bool):
            parent[path[-1]] = draw(st.booleans())
        elif action == "same-type" and isinstance(current, int):
            parent[path[-1]] = draw(st.integers(-5, 2**31))
        elif action in ("same-type", "replace"):
            parent[path[-1]] = draw(json_values)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(json_values)
    return manifest


def compile_text(text: str, example: str | None = None) -> None:
    files = FILES if example is None else tuple(f for f in EXAMPLES[example].files if f[0] != "manifest.json")
    source = BundleSource("fuzz", (("manifest.json", text.encode("utf-8", "surrogatepass")), *files))
    lock = Lock(models={})
    compiled = assemble([compile_source(source, ENV, lock)], ENV, lock)
    check_artifacts(compiled.files)


def outcome(text: str, example: str | None = None) -> str:
    try:
        compile_text(text, example)
    except AiarError as exc:
        error = exc
    else:
        return "ok"
    assert error.problems, "an error must say what is wrong"
    for problem in error.problems:
        assert problem.message
        assert problem.pointer == "" or problem.pointer.startswith("/")
        problem.render().encode("utf-8")  # printable, whatever the input held
    return "error"


@st.composite
def mutated_examples(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    example = draw(st.sampled_from(sorted(EXAMPLES)))
    seed = json.loads(EXAMPLES[example].get("manifest.json") or b"{}")
    return example, draw(mutated_seeds(seed))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_examples())
def test_mutated_example_manifests(case: tuple[str, dict[str, Any]]) -> None:
    example, manifest = case
    outcome(json.dumps(manifest), example)


def test_every_example_compiles_in_memory() -> None:
    assert len(EXAMPLES) >= 4
    for example, source in EXAMPLES.items():
        assert outcome((source.get("manifest.json") or b"").decode(), example) == "ok", example


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_seeds())
def test_mutated_seed_manifests(manifest: dict[str, Any]) -> None:
    outcome(json.dumps(manifest))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return
    assert outcome(text) == "error" or text.strip().startswith("{")


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_arbitrary_json(value: Any) -> None:
    outcome(json.dumps(value))


def test_unchanged_seed_compiles(tmp_path: Path) -> None:
    assert outcome(SEED_MANIFEST.read_text()) == "ok"
