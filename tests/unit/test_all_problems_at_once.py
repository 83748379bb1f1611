"""Every problem at once, across stages: one run shows them all, whichever stage finds each."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from generator.cli import main
from tests.conftest import MakeBundle
from tests.helpers import minimal_manifest

BARE_ENV = "namespace: ns\nregistry:\n  url: r.example\nbase_images:\n  python: python:3.11\n"


def problems(*args: str | Path) -> list[dict[str, object]]:
    result = CliRunner().invoke(main, ["validate", *(str(a) for a in args), "-o", "json"], catch_exceptions=False)
    assert result.exit_code == 1, result.stdout
    found: list[dict[str, object]] = json.loads(result.stdout)["problems"]
    return found


def test_an_invalid_environment_does_not_hide_manifest_errors(make_bundle: MakeBundle, tmp_path: Path) -> None:
    env = tmp_path / "env.yaml"
    env.write_text(BARE_ENV.replace("namespace: ns", "namespace: Not_A_Label"))
    bundle = make_bundle(minimal_manifest(version=0))
    found = problems(bundle, "--env", env, "--lock", tmp_path / "aiar.lock")
    assert {(p["pointer"], Path(str(p["source"])).name) for p in found} >= {
        ("/namespace", "env.yaml"),
        ("/version", "manifest.json"),
    }


def test_a_broken_lock_does_not_hide_manifest_errors(make_bundle: MakeBundle, tmp_path: Path, env_file: Path) -> None:
    lock = tmp_path / "aiar.lock"
    lock.write_text("{not json")
    bundle = make_bundle(minimal_manifest(version=0))
    found = problems(bundle, "--env", env_file, "--lock", lock)
    assert {Path(str(p["source"])).name for p in found} >= {"aiar.lock", "manifest.json"}


def test_a_schema_error_does_not_hide_missing_files(make_bundle: MakeBundle, tmp_path: Path, env_file: Path) -> None:
    manifest = minimal_manifest(version="one")  # a schema error
    manifest["input"]["training"] = [{"type": "HISTORIC_DATA", "payload": {"dataSource": "STORAGE", "fileName": "d"}}]
    bundle = make_bundle(manifest, files={})  # and neither src/predict.py nor src/train.py
    found = problems(bundle, "--env", env_file, "--lock", tmp_path / "aiar.lock")
    messages = " | ".join(str(p["message"]) for p in found)
    assert any(p["pointer"] == "/version" for p in found), messages
    assert "src/predict.py is missing" in messages
    assert "src/train.py is missing" in messages


def test_every_environment_need_in_one_run(make_bundle: MakeBundle, tmp_path: Path) -> None:
    """An H2O model on the bus, with a schedule and Wazuh, against an environment with none of them."""
    env = tmp_path / "env.yaml"
    env.write_text(BARE_ENV)
    manifest = minimal_manifest()
    manifest["modelData"] = {"type": "H2O", "payload": {"modelFile": "model.zip"}}
    manifest["input"]["prediction"].append({"type": "MESSAGE_BUS", "payload": {"routingKeys": [{"name": "in"}]}})
    manifest["schedule"] = {"timezone": "UTC", "start": [{"at": "08:00"}], "stop": [{"at": "18:00"}]}
    manifest["monitoring"] = {"wazuh": True}
    bundle = make_bundle(manifest, files={"src/model.zip": b"PK\x05\x06" + b"\0" * 18})
    found = problems(bundle, "--env", env, "--lock", tmp_path / "aiar.lock")
    assert sorted(str(p["pointer"]) for p in found) == ["/input", "/modelData/type", "/monitoring/wazuh", "/schedule"]


def test_a_predict_fitting_neither_style_is_refused_at_validate(
    make_bundle: MakeBundle, tmp_path: Path, env_file: Path
) -> None:
    manifest = minimal_manifest()  # one REST parameter, x
    bad = make_bundle(manifest, files={"src/predict.py": "def predict(a, b, c):\n    return a\n"})
    found = problems(bad, "--env", env_file, "--lock", tmp_path / "aiar.lock")
    assert [p["pointer"] for p in found] == ["/input/prediction"]
    assert "takes neither" in str(found[0]["message"])
    assert found[0]["line"]
    none = make_bundle(manifest, files={"src/predict.py": "predict = None\n"})
    found = problems(none, "--env", env_file, "--lock", tmp_path / "aiar2.lock")
    assert "defines no top-level predict()" in str(found[0]["message"])


def test_both_predict_styles_validate(make_bundle: MakeBundle, tmp_path: Path, env_file: Path) -> None:
    for code in ("def predict(model, x):\n    return x\n", "def predict(x):\n    return x\n"):
        bundle = make_bundle(minimal_manifest(), files={"src/predict.py": code})
        result = CliRunner().invoke(
            main, ["validate", str(bundle), "--env", str(env_file), "--lock", str(tmp_path / "l")]
        )
        assert result.exit_code == 0, result.output
