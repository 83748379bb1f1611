"""Fixtures for the apply stage: one platform per session, one clean ApplySet per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.apply.harness import Stage, platform_environment
from tests.platform.testenv import Platform, ensure_up


@pytest.fixture(scope="session")
def platform() -> Platform:
    return ensure_up()


@pytest.fixture(scope="session")
def session_env(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return platform_environment(platform, tmp_path_factory.mktemp("env") / "environment.yaml")


@pytest.fixture
def stage(platform: Platform, session_env: Path, tmp_path: Path) -> Iterator[Stage]:
    """A harness whose ApplySet is emptied afterwards (every test's out/ shares the namespace's set)."""
    harness = Stage(platform, session_env, tmp_path)
    yield harness
    empty = tmp_path / "empty-out"
    if not empty.exists():
        harness.generate([], empty, tmp_path / "empty.lock")
    harness.destroy(empty)
