"""The environment file: located YAML errors, and no secrets in it."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.environment import load_environment
from generator.errors import EnvironmentFileError

BASE = "namespace: ns\nregistry:\n  url: r.example\nbase_images:\n  python: python:3.11\n"


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "env.yaml"
    path.write_text(text)
    with pytest.raises(EnvironmentFileError) as info:
        load_environment(path)
    return [p.render().split("env.yaml", 1)[1] for p in info.value.problems]


def test_valid_minimal(tmp_path: Path) -> None:
    path = tmp_path / "env.yaml"
    path.write_text(BASE)
    assert load_environment(path).env.namespace == "ns"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "pip:\n  index_url: https://user:hunter2@pypi.example/simple\n",
            ":7:14: /pip/index_url: must not contain credentials",
        ),
        (
            "storage:\n  endpoint: http://s3\n  bucket: b\n  secret_key: abc\n",
            ":9:3: /storage/secret_key: unknown field",
        ),
        (
            "message_bus:\n  host: mq\n  port: 99999\n",
            ":8:9: /message_bus/port: Input should be less than or equal to 65535",
        ),
        ("gateway:\n  auth: basic\n", ":7:9: /gateway/auth: Input should be 'key-auth' or 'jwt'"),
    ],
)
def test_located_errors(tmp_path: Path, extra: str, expected: str) -> None:
    assert any(p.startswith(expected.replace("Value error, ", "")) for p in problems(tmp_path, BASE + extra)), problems(
        tmp_path, BASE + extra
    )


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, BASE + "namespace: other\n")
    assert problem.startswith(":6:1: invalid YAML")
    assert "duplicate key" in problem


def test_namespace_must_be_a_dns_label(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, BASE.replace("namespace: ns", "namespace: Not_OK"))
    assert problem.startswith(":1:12: /namespace:")


def test_ca_bundle_must_exist_and_hold_pem(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, BASE + "build:\n  ca_bundle: missing.pem\n")
    assert "/build/ca_bundle: cannot read" in problem
    (tmp_path / "bad.pem").write_text("not a cert")
    [problem] = problems(tmp_path, BASE + "build:\n  ca_bundle: bad.pem\n")
    assert "holds no PEM certificate" in problem
