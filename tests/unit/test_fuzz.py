"""Property: any manifest ends in a structured error or a valid artifact set, never a traceback."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.bundle import BundleSource
from generator.environment import load_environment
from generator.errors import AiarError
from generator.load import load_bundle
from generator.plan import plan_model
from generator.render.image import render_images
from generator.render.server_config import render_server_config
from tests.conftest import EXAMPLE_ENV, SEED_MANIFEST

SEED: dict[str, Any] = json.loads(SEED_MANIFEST.read_text())
ENV = load_environment(EXAMPLE_ENV)
FILES = (
    ("src/predict.py", b"def predict(model, json_data):\n    return 1\n"),
    ("src/train.py", b"def train(d, h, m):\n    return None\n"),
)

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
def mutated_seeds(draw: st.DrawFn) -> dict[str, Any]:
    manifest = copy.deepcopy(SEED)
    for _ in range(draw(st.integers(1, 4))):
        targets = paths(manifest)[1:]
        if not targets:
            break
        path = draw(st.sampled_from(targets))
        parent = manifest
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(json_values)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(json_values)
    return manifest


def compile_text(text: str) -> None:
    source = BundleSource("fuzz", (("manifest.json", text.encode("utf-8", "surrogatepass")), *FILES))
    loaded = load_bundle(source)
    plan = plan_model(loaded, loaded.manifest.version or 1, ENV)
    render_images(plan)
    render_server_config(plan)


def outcome(text: str) -> str:
    try:
        compile_text(text)
    except AiarError as exc:
        assert exc.problems, "an error must say what is wrong"
        for problem in exc.problems:
            assert problem.message
            assert problem.pointer == "" or problem.pointer.startswith("/")
        return "error"
    return "ok"


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


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_arbitrary_json(value: Any) -> None:
    outcome(json.dumps(value))


def test_unchanged_seed_compiles(tmp_path: Path) -> None:
    assert outcome(SEED_MANIFEST.read_text()) == "ok"
