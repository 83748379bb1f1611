"""The export's image copies on the platform's registry: the first one started early, the rest several
at a time, and the archive the same bytes whichever way each image got into the layout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from generator.airgap.copies import early_copy
from generator.airgap.export import export_archive, open_out
from generator.pipeline import generate
from tests.apply.harness import small_bundle
from tests.conftest import REPO
from tests.platform.testenv import Platform

pytestmark = [pytest.mark.platform, pytest.mark.slow]


@pytest.fixture(scope="module")
def built_out(platform: Platform, platform_env: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """out/ of three small models, their images built into the platform's registry."""
    work = tmp_path_factory.mktemp("copies")
    bundles = [small_bundle(work / "bundles", f"copies-{n}") for n in ("one", "two", "three")]
    out = work / "out"
    generate(bundles, platform_env, work / "aiar.lock", out)
    built = subprocess.run(
        [sys.executable, "-m", "generator.cli", "build", "--out", str(out), "--env", str(platform_env)],
        capture_output=True,
        text=True,
        env={**os.environ, **platform.env(), "PYTHONPATH": str(REPO)},
        timeout=1800,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    return out


def _export(out: Path, env_file: Path, archive: Path, **options: object) -> list[str]:
    """A plain export (no early copy); the notes it gave."""
    notes: list[str] = []
    out_dir, env = open_out(out, env_file)
    export_archive(out_dir, env, archive, sboms=False, note=notes.append, **options)  # type: ignore[arg-type]
    return notes


def test_the_early_copy_is_used_and_changes_no_byte(built_out: Path, platform_env: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain.tar"
    _export(built_out, platform_env, plain)
    notes: list[str] = []
    with early_copy(built_out, platform_env, None, None) as early:
        assert early is not None
        assert early.running is not None, "no copy started before the environment was built"
        first = early.running
        out_dir, env = open_out(built_out, platform_env, early)
        export_archive(out_dir, env, tmp_path / "early.tar", sboms=False, note=notes.append, early=early)
        assert first.process.returncode == 0  # waited for, and it succeeded: the export used it
    assert (tmp_path / "early.tar").read_bytes() == plain.read_bytes()
    assert len(notes) == 4, notes
    assert len(set(notes[:3])) == 3, notes  # each image copied once, then the tar


def test_an_early_copy_of_another_source_is_stopped_and_the_image_copied_again(
    built_out: Path, platform_env: Path, platform: Platform, tmp_path: Path
) -> None:
    plain = tmp_path / "plain.tar"
    _export(built_out, platform_env, plain)
    # The same registry by another name: the refs the early copy read are not the export's.
    host, _, port = platform.registry.partition(":")
    assert host == "127.0.0.1", platform.registry
    elsewhere = f"localhost:{port}"
    with early_copy(built_out, platform_env, None, None) as early:
        assert early is not None
        assert early.running is not None
        first = early.running
        out_dir, env = open_out(built_out, platform_env, early)
        export_archive(out_dir, env, tmp_path / "moved.tar", elsewhere, True, sboms=False, early=early)
        assert first.process.returncode is not None
        assert early.running is None
    assert (tmp_path / "moved.tar").read_bytes() == plain.read_bytes()


def test_the_cli_export_stops_its_early_copy_when_the_environment_is_refused(
    built_out: Path, platform_env: Path, platform: Platform, tmp_path: Path
) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(platform_env.read_text().replace("namespace: ", "namespace: x", 1))  # another digest
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "generator.cli", "export", str(tmp_path / "a.tar"), "--out", str(built_out),
         "--env", str(other), "--no-sbom"],
        capture_output=True, text=True, check=False, timeout=600,
        env={**os.environ, **platform.env(), "PYTHONPATH": str(REPO), "TMPDIR": str(scratch)},
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "is not the environment" in done.stderr
    assert not (tmp_path / "a.tar").exists()
    assert not list(tmp_path.glob("a.tar*"))
    assert list(scratch.iterdir()) == [], "the early copy's scratch directory was left behind"
