"""aiar.requirements.lock: generate builds a locked model from exactly its recorded wheels, refuses a
stale entry, and builds an unlocked model (the seed) from its pins as before."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from generator.errors import AiarError
from generator.pipeline import compile_paths
from generator.reqlock import read_requirements_lock, render_requirements_lock
from generator.resolve import packages_of
from tests.conftest import EXAMPLE_ENV, REPO

BUNDLES = REPO / "bundles"


def _inputs(tmp_path: Path, edit: Any = None) -> Path:
    lock = tmp_path / "aiar.lock"
    shutil.copy(REPO / "aiar.lock", lock)
    data = json.loads((REPO / "aiar.requirements.lock").read_text())
    if edit is not None:
        edit(data)
    (tmp_path / "aiar.requirements.lock").write_text(json.dumps(data))
    return lock


def _context(compiled: Any, slug: str, name: str) -> str:
    return bytes(compiled.files[f"{slug}/build/{name}"]).decode()


def test_locked_model_installs_hashed_wheels_and_seed_stays_unlocked(tmp_path: Path) -> None:
    lock = _inputs(tmp_path)
    compiled = compile_paths([BUNDLES / "quality-classifier", BUNDLES / "injection-model"], EXAMPLE_ENV, lock)
    locked = read_requirements_lock(tmp_path / "aiar.requirements.lock").lock.models["quality-classifier"]
    requirements = _context(compiled, "quality-classifier", "requirements.txt").splitlines()
    hashed = [line for line in requirements if "--hash=sha256:" in line]
    assert hashed == [f"{p.name}=={p.version} --hash=sha256:{p.sha256}" for p in locked.packages]
    assert "--require-hashes --no-deps" in _context(compiled, "quality-classifier", "Dockerfile.predict")
    # the seed has no entry: its pins as written, no hash-checking mode
    seed = _context(compiled, "injection-model", "requirements.txt")
    assert "scikit-learn==0.21.3" in seed
    assert "--hash" not in seed
    assert "--require-hashes" not in _context(compiled, "injection-model", "Dockerfile.predict")


def test_changed_requirements_make_the_entry_stale(tmp_path: Path) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["models"]["quality-classifier"]["requirements"][0] = "numpy==2.0.0"

    lock = _inputs(tmp_path, edit)
    with pytest.raises(AiarError) as failure:
        compile_paths([BUNDLES / "quality-classifier"], EXAMPLE_ENV, lock)
    [problem] = failure.value.problems
    assert problem.pointer == "/models/quality-classifier"
    assert problem.source.endswith("aiar.requirements.lock")
    assert "aiar lock" in problem.message


def test_another_base_image_makes_the_lock_stale(tmp_path: Path) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["target"]["base_image"] = "docker.io/library/python:3.12-slim"

    lock = _inputs(tmp_path, edit)
    with pytest.raises(AiarError) as failure:
        compile_paths([BUNDLES / "quality-classifier"], EXAMPLE_ENV, lock)
    assert [p.pointer for p in failure.value.problems] == ["/target/base_image"]


def test_unknown_field_is_located(tmp_path: Path) -> None:
    lock = _inputs(tmp_path, lambda data: data.update(extra=1))
    with pytest.raises(AiarError) as failure:
        compile_paths([BUNDLES / "quality-classifier"], EXAMPLE_ENV, lock)
    assert [p.pointer for p in failure.value.problems] == ["/extra"]


def test_committed_lock_is_rendered_canonically() -> None:
    path = REPO / "aiar.requirements.lock"
    assert render_requirements_lock(read_requirements_lock(path).lock) == path.read_bytes()


def test_pip_report_becomes_sorted_packages() -> None:
    def item(name: str, version: str, wheel: str, digest: str) -> dict[str, Any]:
        info = {"url": f"https://files.example/{wheel}", "archive_info": {"hashes": {"sha256": digest}}}
        return {"metadata": {"name": name, "version": version}, "download_info": info}

    report = {
        "version": "1",
        "install": [
            item("Zope.Interface", "7.0", "zope.interface-7.0-py3-none-any.whl", "b" * 64),
            item("attrs", "24.1", "attrs-24.1-py3-none-any.whl", "a" * 64),
        ],
    }
    packages = packages_of(report)
    assert [(p.name, p.version, p.sha256) for p in packages] == [
        ("attrs", "24.1", "a" * 64),
        ("zope-interface", "7.0", "b" * 64),
    ]
    sdist = item("x", "1", "x-1.tar.gz", "c" * 64)
    with pytest.raises(ValueError, match="no wheel"):
        packages_of({"install": [sdist]})
