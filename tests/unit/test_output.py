"""Goldens, determinism and the atomic write (property 1)."""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from generator.pipeline import compile_paths, discover_bundles, generate
from generator.schema import SCHEMA_PATH, schema_text
from generator.writer import read_tree
from tests.conftest import EXAMPLE_ENV, REPO


def diff_trees(expected: dict[str, bytes], actual: dict[str, bytes]) -> str:
    lines: list[str] = []
    for name in sorted(set(expected) | set(actual)):
        a, b = expected.get(name), actual.get(name)
        if a == b:
            continue
        if a is None or b is None:
            lines.append(f"{'only generated' if a is None else 'only in golden'}: {name}")
            continue
        lines.extend(
            difflib.unified_diff(
                a.decode(errors="replace").splitlines(),
                b.decode(errors="replace").splitlines(),
                f"golden/{name}",
                f"generated/{name}",
                lineterm="",
            )
        )
    return "\n".join(lines)


def test_examples_match_committed_goldens(tmp_path: Path) -> None:
    """out/ is the golden directory of the examples; refresh it on purpose with `make goldens`."""
    compiled = compile_paths(discover_bundles(REPO / "bundles"), EXAMPLE_ENV, REPO / "aiar.lock")
    diff = diff_trees(read_tree(REPO / "out"), compiled.files)
    assert not diff, "out/ is stale; run `make goldens` and review the diff:\n" + diff


def test_variants_match_committed_goldens(tmp_path: Path) -> None:
    """Fixture bundles under a private environment (CA bundle, own index, bus-only, online training)."""
    fixtures = REPO / "tests" / "fixtures"
    compiled = compile_paths(
        discover_bundles(fixtures / "bundles"), fixtures / "env-private.yaml", tmp_path / "no.lock"
    )
    diff = diff_trees(read_tree(REPO / "tests" / "goldens" / "variants"), compiled.files)
    assert not diff, "tests/goldens/variants is stale; run `make goldens` and review the diff:\n" + diff


def test_generate_twice_is_byte_identical(tmp_path: Path) -> None:
    bundles = discover_bundles(REPO / "bundles")
    lock = tmp_path / "aiar.lock"
    shutil.copy(REPO / "aiar.lock", lock)
    generate(bundles, EXAMPLE_ENV, lock, tmp_path / "a")
    generate(bundles, EXAMPLE_ENV, lock, tmp_path / "b")
    assert read_tree(tmp_path / "a") == read_tree(tmp_path / "b")
    assert lock.read_bytes() == (REPO / "aiar.lock").read_bytes()


def test_fresh_clone_generates_the_committed_out(tmp_path: Path) -> None:
    """A clone elsewhere, another umask, another working directory: the same bytes."""
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(clone)], check=True)
    # the clone holds what is committed; bring the working tree's state in so this tests the code, not git
    for part in ("generator", "templates", "bundles", "aiar.lock", "aiar.requirements.lock", "out"):
        src, dst = REPO / part, clone / part
        if dst.exists():
            shutil.rmtree(dst) if dst.is_dir() else dst.unlink()
        shutil.copytree(src, dst) if src.is_dir() else shutil.copy(src, dst)
    shutil.rmtree(clone / "out")
    env = {**os.environ, "PYTHONPATH": str(clone), "TZ": "Pacific/Chatham", "LC_ALL": "C"}
    subprocess.run(
        [sys.executable, "-c", "import os; os.umask(0o077); from generator.cli import main; main()", "generate"],
        cwd=clone,
        env=env,
        check=True,
        capture_output=True,
    )
    assert diff_trees(read_tree(REPO / "out"), read_tree(clone / "out")) == ""
    assert (clone / "out" / "index.json").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("failing", ["generator.writer._create", "generator.writer._exchange"])
def test_failed_write_leaves_previous_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str) -> None:
    bundles = discover_bundles(REPO / "bundles")
    out, lock = tmp_path / "out", tmp_path / "aiar.lock"
    shutil.copy(REPO / "aiar.lock", lock)
    generate(bundles, EXAMPLE_ENV, lock, out)
    before = read_tree(out)

    def explode(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("generator.writer._reuse", lambda *args: False)  # every file written afresh
    monkeypatch.setattr(failing, explode)
    with pytest.raises(OSError, match="No space left on device"):
        generate(bundles, EXAMPLE_ENV, lock, out)
    assert read_tree(out) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_refuses_to_replace_a_foreign_directory(tmp_path: Path) -> None:
    from generator.errors import OutputError

    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    with pytest.raises(OutputError, match="not aiar's output"):
        generate(discover_bundles(REPO / "bundles"), EXAMPLE_ENV, tmp_path / "aiar.lock", out)
    assert (out / "thesis.tex").read_text() == "years of work"


def test_index_lists_every_file_with_its_hash() -> None:
    import hashlib
    import json

    index = json.loads((REPO / "out" / "index.json").read_text())
    files = read_tree(REPO / "out")
    del files["index.json"]
    assert set(index["files"]) == set(files)
    for name, digest in index["files"].items():
        assert digest == "sha256:" + hashlib.sha256(files[name]).hexdigest()
    # every example bundle, by its slug (each example's directory is named after it)
    assert set(index["inputs"]["bundles"]) == {p.parent.name for p in (REPO / "bundles").glob("*/manifest.json")}


def test_committed_schema_is_current() -> None:
    assert SCHEMA_PATH.read_text() == schema_text(), "run `make goldens` to refresh generator/manifest.schema.json"
