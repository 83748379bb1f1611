"""``aiar lock`` with the real pieces: the base image asked for its Python (podman), pip resolving
against PyPI, and a build that installs the locked wheels in hash-checking mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.apply.harness import small_bundle
from tests.conftest import REPO
from tests.platform.testenv import Platform

pytestmark = [pytest.mark.platform, pytest.mark.slow]


def _aiar(platform: Platform, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "generator.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **platform.env(), "PYTHONPATH": str(REPO)},
        timeout=1800,
        check=False,
    )


def test_seed_pins_are_named_and_nothing_is_written(platform: Platform, platform_env: Path, tmp_path: Path) -> None:
    lock = tmp_path / "aiar.lock"
    result = _aiar(platform, "lock", REPO / "bundles" / "injection-model", "--env", platform_env, "--lock", lock)
    assert result.returncode == 1
    assert "injection-model: scikit-learn==0.21.3: cannot be installed on Python 3.11" in result.stderr
    assert not (tmp_path / "aiar.requirements.lock").exists()


def test_locked_image_builds_from_exactly_the_locked_wheels(
    platform: Platform, platform_env: Path, tmp_path: Path
) -> None:
    bundle = small_bundle(tmp_path / "bundles", "export-locked")
    lock = tmp_path / "aiar.lock"
    locked = _aiar(platform, "lock", bundle, "--env", platform_env, "--lock", lock, "-o", "json")
    assert locked.returncode == 0, locked.stderr
    data = json.loads((tmp_path / "aiar.requirements.lock").read_text())
    assert data["target"]["base_image"] == platform.python_base_image
    assert data["target"]["python"] == "3.11"  # asked of the image itself
    packages = {p["name"]: p for p in data["models"]["export-locked"]["packages"]}
    assert "pydantic" in packages
    assert "pydantic-core" in packages  # dependencies too, each with its wheel's hash

    out = tmp_path / "out"
    generated = _aiar(platform, "generate", bundle, "--env", platform_env, "--lock", lock, "--out", out)
    assert generated.returncode == 0, generated.stderr
    requirements = (out / "export-locked" / "build" / "requirements.txt").read_text()
    assert f"pydantic-core=={packages['pydantic-core']['version']} --hash=sha256:" in requirements
    built = _aiar(platform, "build", "--out", out, "--env", platform_env, "-o", "json")
    assert built.returncode == 0, built.stderr
    assert [i["action"] for i in json.loads(built.stdout)["images"]] == ["built"]
