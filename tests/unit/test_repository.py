"""The repository holds only the product: no caches or scratch trees, and nothing that reads outside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import PurePosixPath

import pytest

from tests.conftest import REPO

# Directories tools and tests create at run time. Tests write to temp dirs; none of this is product.
JUNK_PARTS = re.compile(
    r"^(tmp[^/]*|\.kube|\.schemathesis|\.hypothesis|\.pytest_cache|\.mypy_cache|\.ruff_cache|\.venv"
    r"|__pycache__|\.out\.[^/]*|.*\.egg-info)$"
)
JUNK_FILES = re.compile(r"\.(pyc|pyo)$|^\.DS_Store$")

# Reading material lives beside the repository on the team's machines only: a fresh clone has none.
OUTSIDE = re.compile(r"""\.\./shared\b|parent\s*/\s*["']shared["']""")


def tracked() -> list[str]:
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout (an exported source tree)")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    return [name for name in out.decode("utf-8").split("\0") if name]


def is_junk(name: str) -> bool:
    path = PurePosixPath(name)
    return any(JUNK_PARTS.match(part) for part in path.parts[:-1]) or bool(JUNK_FILES.search(path.name))


def test_no_caches_or_scratch_trees_are_tracked() -> None:
    junk = [name for name in tracked() if is_junk(name)]
    assert junk == [], f"{len(junk)} tracked files are caches or scratch output, e.g. {junk[:5]}"


@pytest.mark.parametrize(
    ("name", "junk"),
    [
        ("tmp57f6ph38/a/b.json", True),
        (".kube/cache/discovery/x.json", True),
        (".schemathesis/cassette.yaml", True),
        ("generator/__pycache__/cli.cpython-311.pyc", True),
        (".out.new-123/index.json", True),
        ("generator/cli.py", False),
        ("templates/layers/python-runtime.Dockerfile", False),
        ("tests/goldens/variants/index.json", False),
    ],
)
def test_junk_patterns(name: str, junk: bool) -> None:
    assert is_junk(name) is junk


def test_nothing_reads_outside_the_repository() -> None:
    readers = []
    for name in tracked():
        if (
            not name.endswith((".py", ".sh", "Makefile", ".toml", ".cfg", ".yaml", ".yml"))
            and "/.ci/" not in f"/{name}"
        ):
            continue
        if name == "tests/unit/test_repository.py":
            continue
        text = (REPO / name).read_text(encoding="utf-8", errors="replace")
        readers += [f"{name}:{n}" for n, line in enumerate(text.splitlines(), 1) if OUTSIDE.search(line)]
    assert readers == []
