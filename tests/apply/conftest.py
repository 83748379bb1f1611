"""Fixtures for the apply stage: one platform per session, one clean ApplySet per test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.apply.harness import Stage
from tests.platform.testenv import Platform, ensure_up


@pytest.fixture(scope="session")
def platform() -> Platform:
    return ensure_up()


@pytest.fixture(scope="session")
def session_env(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The platform's own environment file, as a new user would use it (a copy: tests may not edit it).
    target = tmp_path_factory.mktemp("env") / "environment.yaml"
    shutil.copy(platform.env_file, target)
    return target


@pytest.fixture(scope="session")
def datasets(platform: Platform, session_env: Path) -> list[str]:
    """The datasets the tests' and examples' training reads, uploaded where training looks for them
    (apply refuses to start training whose dataset is missing)."""
    import yaml

    from generator import defaults
    from tests.apply.harness import DATASET
    from tests.conftest import REPO

    bucket = yaml.safe_load(session_env.read_text())["storage"]["bucket"]
    client = platform.s3_client(bucket)
    files = {DATASET: b"x,y\n1,2\n"} | {p.name: p.read_bytes() for p in (REPO / "bundles" / "datasets").iterdir()}
    for name, data in files.items():
        client.put_object(Bucket=bucket, Key=defaults.dataset_key(name), Body=data)
    return sorted(files)


@pytest.fixture
def stage(platform: Platform, session_env: Path, tmp_path: Path, datasets: list[str]) -> Iterator[Stage]:
    """A harness whose ApplySet is emptied afterwards (every test's out/ shares the namespace's set)."""
    harness = Stage(platform, session_env, tmp_path)
    yield harness
    empty = tmp_path / "empty-out"
    if not empty.exists():
        harness.generate([], empty, tmp_path / "empty.lock")
    harness.destroy(empty)
