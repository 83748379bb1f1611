"""Where the export's early copy reads its first image from: the environment file as plain data, and
out/ as read; anything unexpected means no early copy (the validation after it reports the problem)."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.airgap.copies import Source, _early_source, early_copy
from generator.airgap.source import PlainEnvironment
from generator.apply.build import staging_registry
from generator.apply.outdir import OutDir, read_out, relocated
from generator.environment import load_environment
from generator.errors import EnvironmentFileError
from tests.conftest import EXAMPLE_ENV, REPO

OUT = REPO / "out"


def _validated(env_file: Path, into: str | None, insecure: bool | None) -> Source:
    """The source the export computes from the validated environment, for the first image."""
    env = load_environment(env_file).env
    registry = staging_registry(env, into, insecure)
    images = sorted(read_out(OUT, kube_objects=False).images, key=lambda i: i.ref)
    where = relocated(images, env.registry.url, into)[0]
    return Source(where.ref, images[0].ref, registry.insecure, registry.username_env, registry.password_env)


def _plain_source(out: OutDir, env_file: Path, into: str | None, insecure: bool | None) -> Source | None:
    """The early copy's source, from the environment file as plain data."""
    return _early_source(out, PlainEnvironment.read(env_file).registry(), into, insecure)


def _env(tmp_path: Path, registry: str) -> Path:
    text = EXAMPLE_ENV.read_text()
    start = text.index("registry:\n")
    end = text.index("base_images:")
    path = tmp_path / "environment.yaml"
    path.write_text(text[:start] + registry + text[end:])
    return path


@pytest.mark.parametrize(
    ("into", "insecure"),
    [(None, None), ("mirror.example:5000/ml", None), ("mirror.example:5000/ml", True), (None, True)],
)
def test_the_early_source_is_the_one_the_validated_environment_gives(
    tmp_path: Path, into: str | None, insecure: bool | None
) -> None:
    env_file = _env(
        tmp_path,
        "registry:\n  url: registry.example.com\n  insecure: false\n  username_env: REG_USER\n  password_env: REG_PW\n",
    )
    out = read_out(OUT, kube_objects=False)
    assert _plain_source(out, env_file, into, insecure) == _validated(env_file, into, insecure)


def test_the_example_environment_gives_the_same_source() -> None:
    assert _plain_source(read_out(OUT, kube_objects=False), EXAMPLE_ENV, None, None) == _validated(
        EXAMPLE_ENV, None, None
    )


@pytest.mark.parametrize(
    "registry",
    [
        "registry: [a, b]\n",
        "registry:\n  url: 5\n",
        "registry:\n  url: registry.example.com\n  insecure: 'yes'\n",
        "registry:\n  url: registry.example.com\n  username_env: [A]\n",
        "registry: null\n",
    ],
)
def test_an_environment_the_models_would_refuse_gives_no_early_source(tmp_path: Path, registry: str) -> None:
    assert _plain_source(read_out(OUT, kube_objects=False), _env(tmp_path, registry), None, None) is None


def test_a_hostile_environment_is_refused_by_the_same_reader(tmp_path: Path) -> None:
    env_file = _env(tmp_path, "registry: &a\n  url: registry.example.com\nother: *a\n")
    with pytest.raises(EnvironmentFileError):
        _plain_source(read_out(OUT, kube_objects=False), env_file, None, None)


def test_a_refs_registry_other_than_the_files_gives_no_early_source_when_moved(tmp_path: Path) -> None:
    env_file = _env(tmp_path, "registry:\n  url: elsewhere.example\n")  # out/ was generated for another
    assert _plain_source(read_out(OUT, kube_objects=False), env_file, "mirror.example", None) is None


def test_no_copy_starts_without_the_credentials_or_from_an_unreadable_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = _env(
        tmp_path, "registry:\n  url: registry.example.com\n  password_env: NOT_SET_HERE\n  username_env: U\n"
    )
    monkeypatch.delenv("NOT_SET_HERE", raising=False)
    with early_copy(OUT, env_file, None, None, environ={"U": "someone"}) as early:
        assert early is not None
        assert early.out.root == OUT.absolute()
        assert early.running is None
        assert early.source is None
        scratch = early.scratch
        assert scratch.is_dir()
    assert not scratch.exists()
    with early_copy(tmp_path / "no-out", env_file, None, None) as missing:
        assert missing is None
