"""Shared fixtures: the repository's paths, and small bundles written on the fly."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
# The seed's own manifest example, kept verbatim in the repository (its sha256 is pinned in test_seed).
SEED_MANIFEST = REPO / "bundles" / "injection-model" / "manifest.json"
SEED_MANIFEST_SHA256 = "9eb1d509393c7fce4c04f814b889c1a748f81a2faaf7f489d7e7459b0210a1f9"
EXAMPLE_ENV = REPO / "bundles" / "environment.yaml"

MakeBundle = Callable[..., Path]


@pytest.fixture
def make_bundle(tmp_path: Path) -> MakeBundle:
    """Write a bundle directory: a manifest (dict or raw text) plus ``{path: content}`` files."""
    counter = iter(range(1_000_000))

    def make(manifest: dict[str, Any] | str, files: dict[str, str | bytes] | None = None) -> Path:
        root = tmp_path / f"bundle{next(counter)}"
        root.mkdir()
        text = manifest if isinstance(manifest, str) else json.dumps(manifest, indent=2)
        (root / "manifest.json").write_text(text, encoding="utf-8")
        default_files: dict[str, str | bytes] = {"src/predict.py": "def predict(model, x):\n    return x\n"}
        for name, content in (default_files if files is None else files).items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        return root

    return make


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    target = tmp_path / "environment.yaml"
    shutil.copy(EXAMPLE_ENV, target)
    return target


# Fixtures that start or reach a real server: a test using one (directly or through another fixture)
# needs the platform, whether or not its module says so. `make test-fast` runs everything else.
SERVER_FIXTURES = frozenset({"platform", "rabbitmq", "stage", "s3"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.platform)
