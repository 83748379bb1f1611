"""Fixtures for the apply stage: the session's platform (tests/conftest.py), one clean ApplySet per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from generator import defaults
from tests.apply.harness import DATASET, Stage
from tests.conftest import REPO
from tests.platform.testenv import Platform


@pytest.fixture(scope="session")
def datasets(platform_s3: Any, platform_bucket: str) -> list[str]:
    """The datasets the tests' and examples' training reads, uploaded where training looks for them
    (apply refuses to start training whose dataset is missing)."""
    files = {DATASET: b"x,y\n1,2\n"} | {p.name: p.read_bytes() for p in (REPO / "bundles" / "datasets").iterdir()}
    for name, data in files.items():
        platform_s3.put_object(Bucket=platform_bucket, Key=defaults.dataset_key(name), Body=data)
    return sorted(files)


@pytest.fixture
def stage(platform: Platform, platform_env: Path, tmp_path: Path, datasets: list[str]) -> Iterator[Stage]:
    """A harness whose ApplySet is emptied afterwards (every test's out/ shares the namespace's set)."""
    harness = Stage(platform, platform_env, tmp_path)
    yield harness
    empty = tmp_path / "empty-out"
    if not empty.exists():
        harness.generate([], empty, tmp_path / "empty.lock")
    harness.destroy(empty)
