"""Shared fixtures: the repository's paths, small bundles written on the fly, and the local platform
(one per session, for every test directory that needs it)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.platform.testenv import Platform

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


@pytest.fixture(scope="session")
def platform() -> Platform:
    """The local platform (started if it is not running: see ``make testenv``)."""
    from tests.platform.testenv import ensure_up

    return ensure_up()


@pytest.fixture(scope="session")
def platform_env(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The platform's own environment file, as a new user would use it (a copy: tests may not edit it)."""
    target = tmp_path_factory.mktemp("platform-env") / "environment.yaml"
    shutil.copy(platform.env_file, target)
    return target


@pytest.fixture(scope="session")
def platform_bucket(platform_env: Path) -> str:
    """The bucket the platform's environment file names for storage (where training reads datasets)."""
    from generator.environment import load_environment

    storage = load_environment(platform_env).env.storage
    assert storage is not None, "the platform's environment file has no storage"
    return storage.bucket


@pytest.fixture(scope="session")
def platform_s3(platform: Platform, platform_bucket: str) -> Any:
    """A boto3 client of the tests' own on the platform's S3 (the bucket created if moto lost it)."""
    return platform.s3_client(platform_bucket)


# Fixtures that start or reach a real server: a test using one (directly or through another fixture)
# needs the platform, whether or not its module says so. `make test-fast` runs everything else.
SERVER_FIXTURES = frozenset({"platform", "rabbitmq", "stage", "s3"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.platform)
