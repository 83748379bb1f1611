"""Every kind of manifest error: exact pointer, line:col, exit code 1, nothing written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from generator.cli import main
from tests.conftest import MakeBundle
from tests.helpers import minimal_manifest


def run_generate(bundle: Path, env_file: Path, tmp_path: Path) -> tuple[int, str, Path]:
    out = tmp_path / "out"
    lock = tmp_path / "aiar.lock"
    result = CliRunner().invoke(
        main, ["generate", str(bundle), "--env", str(env_file), "--lock", str(lock), "--out", str(out)]
    )
    assert not out.exists(), "a failed generate must write nothing"
    assert not lock.exists(), "a failed generate must not touch the lock"
    return result.exit_code, result.stderr, out


def problem_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "manifest.json:" in line]


CASES: list[tuple[str, Any, str, str]] = [
    # (case, manifest mutation or raw text, expected pointer, expected message fragment)
    ("unknown top-level key", {"colour": "red"}, "/colour", "unknown field"),
    ("missing name", {"name": None}, "/name", "required field is missing"),
    ("version zero", {"version": 0}, "/version", "greater than or equal to 1"),
    ("version as string", {"version": "2"}, "/version", "valid integer"),
    ("bad model type", {"modelData": {"type": "TENSORFLOW", "payload": {}}}, "/modelData/type", "unknown type"),
    ("missing model type", {"modelData": {"payload": {}}}, "/modelData/type", "required field is missing"),
    (
        "unknown payload key",
        {"modelData": {"type": "PYTHON", "payload": {"dependencies": [], "extra": 1}}},
        "/modelData/payload/extra",
        "unknown field",
    ),
    (
        "dependency with an option smuggled in",
        {
            "modelData": {
                "type": "PYTHON",
                "payload": {"dependencies": [{"name": "numpy", "version": "1.0 --index-url http://evil"}]},
            }
        },
        "/modelData/payload/dependencies/0/version",
        "should match pattern",
    ),
    (
        "training entry without fileName",
        {"input": {"training": [{"type": "HISTORIC_DATA", "payload": {"dataSource": "STORAGE"}}]}},
        "/input/training/0/payload/fileName",
        "required field is missing",
    ),
    (
        "online not a boolean",
        {
            "input": {
                "training": [{"type": "MESSAGE_BUS", "payload": {"routingKeys": [{"name": "k"}], "online": "maybe"}}]
            }
        },
        "/input/training/0/payload/online",
        "valid boolean",
    ),
    (
        "duplicate parameter positions",
        {
            "input": {
                "prediction": [
                    {
                        "type": "REST_API",
                        "payload": {"parameters": [{"position": 1, "name": "a"}, {"position": 1, "name": "b"}]},
                    }
                ]
            }
        },
        "/input/prediction/0/payload/parameters",
        "positions must be unique",
    ),
    (
        "schedule time out of range",
        {"schedule": {"timezone": "UTC", "start": [{"at": "25:00"}]}},
        "/schedule/start/0/at",
        "should match pattern",
    ),
    ("empty access roles", {"access": {"roles": []}}, "/access/roles", "at least 1 item"),
]


@pytest.mark.parametrize(("case", "mutation", "pointer", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_manifest_error_is_located(
    case: str,
    mutation: dict[str, Any],
    pointer: str,
    fragment: str,
    make_bundle: MakeBundle,
    env_file: Path,
    tmp_path: Path,
) -> None:
    manifest = minimal_manifest(**mutation)
    manifest = {k: v for k, v in manifest.items() if v is not None}
    bundle = make_bundle(manifest)
    code, stderr, _ = run_generate(bundle, env_file, tmp_path)
    assert code == 1
    lines = problem_lines(stderr)
    matching = [line for line in lines if f": {pointer}: " in line]
    assert matching, f"no problem at {pointer} in:\n{stderr}"
    assert fragment in matching[0]
    # line:col points into the file where the pointer's key (or its parent) is written
    location = matching[0].split("manifest.json:", 1)[1].split(":")
    line, col = int(location[0]), int(location[1])
    text_lines = (bundle / "manifest.json").read_text().splitlines()
    assert 1 <= line <= len(text_lines)
    assert 1 <= col <= len(text_lines[line - 1]) + 1


def test_every_problem_is_reported_at_once(make_bundle: MakeBundle, env_file: Path, tmp_path: Path) -> None:
    manifest = minimal_manifest(colour="red", version=0, tags="not-a-list")
    code, stderr, _ = run_generate(make_bundle(manifest), env_file, tmp_path)
    assert code == 1
    pointers = sorted(line.split(": ")[1] for line in problem_lines(stderr))
    assert pointers == ["/colour", "/tags", "/version"]


def test_duplicate_key_reports_the_second_occurrence(make_bundle: MakeBundle, env_file: Path, tmp_path: Path) -> None:
    text = json.dumps(minimal_manifest(), indent=2).replace(
        '"description": "echo"', '"description": "echo",\n  "name": "Again"', 1
    )
    code, stderr, _ = run_generate(make_bundle(text), env_file, tmp_path)
    assert code == 1
    [line] = [ln for ln in problem_lines(stderr) if "duplicate key" in ln]
    expected_line = next(i for i, ln in enumerate(text.splitlines(), 1) if '"name": "Again"' in ln)
    assert line.split("manifest.json:")[1].startswith(f"{expected_line}:3: /name: duplicate key")


def test_syntax_error_gives_line_and_column(make_bundle: MakeBundle, env_file: Path, tmp_path: Path) -> None:
    code, stderr, _ = run_generate(make_bundle('{\n  "name": "x",\n  "tags": [1,,]\n}'), env_file, tmp_path)
    assert code == 1
    assert "manifest.json:3:14: invalid JSON" in stderr


def test_trailing_data_is_an_error(make_bundle: MakeBundle, env_file: Path, tmp_path: Path) -> None:
    text = json.dumps(minimal_manifest()) + "\n{}"
    code, stderr, _ = run_generate(make_bundle(text), env_file, tmp_path)
    assert code == 1
    assert "manifest.json:2:1: invalid JSON: unexpected data after the JSON document" in stderr


def test_missing_predict_file_names_the_type(make_bundle: MakeBundle, env_file: Path, tmp_path: Path) -> None:
    code, stderr, _ = run_generate(make_bundle(minimal_manifest(), files={}), env_file, tmp_path)
    assert code == 1
    assert "/modelData/type: a PYTHON model needs its predict function: src/predict.py is missing" in stderr


def test_training_needs_train_py_and_model_file(make_bundle: MakeBundle, env_file: Path, tmp_path: Path) -> None:
    manifest = minimal_manifest(
        input={"training": [{"type": "HISTORIC_DATA", "payload": {"dataSource": "STORAGE", "fileName": "d.csv"}}]}
    )
    code, stderr, _ = run_generate(make_bundle(manifest), env_file, tmp_path)
    assert code == 1
    assert "/input/training: a model with training input needs its train function" in stderr
    assert "/modelData/payload: a model with training input needs 'modelFile'" in stderr


def test_bus_without_message_bus_in_environment(make_bundle: MakeBundle, tmp_path: Path) -> None:
    env = tmp_path / "env.yaml"
    env.write_text("namespace: ns\nregistry: {url: r.example}\nbase_images: {python: python:3.11}\n")
    manifest = minimal_manifest(
        input={"prediction": [{"type": "MESSAGE_BUS", "payload": {"routingKeys": [{"name": "in"}]}}]}
    )
    code, stderr, _ = run_generate(make_bundle(manifest), env, tmp_path)
    assert code == 1
    assert "/input: the manifest uses MESSAGE_BUS but the environment has no 'message_bus'" in stderr


def test_json_output_lists_problems(make_bundle: MakeBundle, env_file: Path, tmp_path: Path) -> None:
    bundle = make_bundle(minimal_manifest(colour="red"))
    result = CliRunner().invoke(
        main, ["validate", str(bundle), "--env", str(env_file), "--lock", str(tmp_path / "l"), "--output", "json"]
    )
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["ok"] is False
    assert payload["problems"][0]["pointer"] == "/colour"
    assert payload["problems"][0]["line"] is not None
