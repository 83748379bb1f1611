"""The registry an export reads from: the environment file as plain data when it is byte for byte the
one out/ was generated with (no models built), validated in full otherwise."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

import generator.environment
from generator.airgap import ArchiveError
from generator.airgap.source import PlainEnvironment, SourceRegistry, source_registry, unchanged_registry
from generator.apply.outdir import OutDir, read_out
from generator.environment import load_environment
from generator.errors import EnvironmentFileError
from tests.conftest import EXAMPLE_ENV, REPO

OUT = read_out(REPO / "out", kube_objects=False)
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def _no_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(path: Path) -> None:
        raise AssertionError(f"{path} was validated: the plain reading should have sufficed")

    monkeypatch.setattr(generator.environment, "load_environment", refuse)


def _for(out: OutDir, env_file: Path) -> OutDir:
    """``out`` as if generated with ``env_file``."""
    return dataclasses.replace(out, environment_digest=load_environment(env_file).digest)


def test_the_environment_out_was_generated_with_is_read_without_its_models(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = load_environment(EXAMPLE_ENV).env.registry
    _no_validation(monkeypatch)
    found = source_registry(OUT, EXAMPLE_ENV)
    assert found == SourceRegistry(registry.url, registry.insecure, registry.username_env, registry.password_env)


def test_the_digest_covers_the_files_the_environment_names(tmp_path: Path) -> None:
    env_file = tmp_path / "environment.yaml"
    shutil.copy(EXAMPLE_ENV, env_file)
    (tmp_path / "ca.pem").write_text(PEM)
    (tmp_path / "layers").mkdir()
    (tmp_path / "layers" / "tools.Dockerfile").write_text("RUN true\n")
    layers = "layers:\n  tools:\n    file: layers/tools.Dockerfile\n  inline:\n    text: RUN echo\n"
    env_file.write_text(env_file.read_text() + "\nbuild:\n  ca_bundle: ca.pem\n" + layers)
    out = _for(OUT, env_file)
    assert PlainEnvironment.read(env_file).digest() == out.environment_digest
    assert unchanged_registry(PlainEnvironment.read(env_file), out) is not None
    for changed, text in ((tmp_path / "ca.pem", PEM + "\n"), (tmp_path / "layers" / "tools.Dockerfile", "RUN :\n")):
        before = changed.read_text()
        changed.write_text(text)
        assert unchanged_registry(PlainEnvironment.read(env_file), out) is None, changed
        with pytest.raises(ArchiveError, match="is not the environment"):
            source_registry(out, env_file)
        changed.write_text(before)


def test_another_environment_is_validated_and_refused(tmp_path: Path) -> None:
    env_file = tmp_path / "environment.yaml"
    env_file.write_text(EXAMPLE_ENV.read_text() + "\n")  # one byte more: another digest
    with pytest.raises(ArchiveError, match="is not the environment"):
        source_registry(OUT, env_file)
    env_file.write_text(EXAMPLE_ENV.read_text().replace("registry:", "registry: 3\nunused:", 1))
    with pytest.raises(EnvironmentFileError):
        source_registry(OUT, env_file)


@pytest.mark.parametrize(
    "registry",
    [
        "registry:\n  url: 'reg istry.example'\n",
        "registry:\n  url: registry.example.com\n  insecure: 'yes'\n",
        "registry:\n  url: registry.example.com\n  username_env: lower-case\n",
        "registry:\n  url: registry.example.com\n  password_env: [A]\n",
        'registry:\n  url: "registry.example.com\\n"\n',  # a final newline: `$` alone would let it through
        'registry:\n  url: registry.example.com\n  username_env: "USER\\n"\n',
    ],
)
def test_values_the_models_refuse_are_refused_though_out_was_edited_to_match(tmp_path: Path, registry: str) -> None:
    """An out/ whose index was edited to the digest of an invalid file: the four values are checked
    all the same, and the validation reports what is wrong."""
    text = EXAMPLE_ENV.read_text()
    start, end = text.index("registry:\n"), text.index("base_images:")
    env_file = tmp_path / "environment.yaml"
    env_file.write_text(text[:start] + registry + text[end:])
    plain = PlainEnvironment.read(env_file)
    out = dataclasses.replace(OUT, environment_digest=plain.digest() or "")
    assert unchanged_registry(plain, out) is None
    with pytest.raises(EnvironmentFileError, match="/registry/"):
        source_registry(out, env_file)


def test_a_moved_registry_keeps_the_credential_names() -> None:
    registry = SourceRegistry("registry.example.com", False, "USER", "PASSWORD")
    assert registry.staged(None, True) is registry
    assert registry.staged("mirror.example:5000", None) == SourceRegistry(
        "mirror.example:5000", False, "USER", "PASSWORD"
    )
    assert registry.staged("mirror.example:5000", True).insecure
