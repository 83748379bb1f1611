"""Versions only go up; without one, a changed bundle gets last+1 (the seed's rule), kept in aiar.lock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from generator.cli import main
from tests.conftest import MakeBundle
from tests.helpers import minimal_manifest


def generate(bundle: Path, env_file: Path, tmp_path: Path) -> tuple[int, str, dict[str, Any]]:
    lock = tmp_path / "aiar.lock"
    result = CliRunner().invoke(
        main,
        [
            "generate",
            str(bundle),
            "--env",
            str(env_file),
            "--lock",
            str(lock),
            "--out",
            str(tmp_path / "out"),
            "--output",
            "json",
        ],
    )
    models = json.loads(lock.read_text())["models"] if lock.exists() else {}
    return result.exit_code, result.stderr, models


def test_versions_assigned_and_bumped_on_change(make_bundle: MakeBundle, env_file: Path, tmp_path: Path) -> None:
    bundle = make_bundle(minimal_manifest())
    code, _, models = generate(bundle, env_file, tmp_path)
    assert code == 0
    assert models["tiny-model"]["version"] == 1
    code, _, models = generate(bundle, env_file, tmp_path)
    assert code == 0, "unchanged bundle keeps its version"
    assert models["tiny-model"]["version"] == 1, "unchanged bundle keeps its version"
    (bundle / "src/predict.py").write_text("def predict(model, x):\n    return [x]\n")
    code, _, models = generate(bundle, env_file, tmp_path)
    assert code == 0
    assert models["tiny-model"]["version"] == 2
    config = json.loads((tmp_path / "out/tiny-model/server/model-server.json").read_text())
    assert config["model"]["version"] == 2


def test_explicit_version_must_go_up(make_bundle: MakeBundle, env_file: Path, tmp_path: Path) -> None:
    bundle = make_bundle(minimal_manifest(version=3))
    assert generate(bundle, env_file, tmp_path)[0] == 0
    (bundle / "src/predict.py").write_text("def predict(model, x):\n    return None\n")
    code, stderr, models = generate(bundle, env_file, tmp_path)
    assert code == 1
    assert "/version: version 3 must be greater than the last recorded version 3" in stderr
    assert models["tiny-model"]["version"] == 3
    manifest = minimal_manifest(version=2)
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    code, stderr, _ = generate(bundle, env_file, tmp_path)
    assert code == 1
    assert "versions only go up" in stderr
    (bundle / "manifest.json").write_text(json.dumps(minimal_manifest(version=7)))
    code, _, models = generate(bundle, env_file, tmp_path)
    assert code == 0
    assert models["tiny-model"]["version"] == 7


def test_corrupt_lock_is_a_located_error(make_bundle: MakeBundle, env_file: Path, tmp_path: Path) -> None:
    (tmp_path / "aiar.lock").write_text('{"lock_version": 1, "models": {"m": {"version": "one"}}}')
    code, stderr, _ = generate(make_bundle(minimal_manifest()), env_file, tmp_path)
    assert code == 1
    assert "aiar.lock:1:49: /models/m/version: Input should be a valid integer" in stderr
    assert "aiar.lock:1:32: /models/m/digest: required field is missing" in stderr
