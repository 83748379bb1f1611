"""``aiar plan|apply MODEL...`` touch only those models; a pin that cannot install stops apply before any build."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.apply.harness import Stage, small_bundle
from tests.conftest import REPO


def test_apply_a_selection_leaves_the_other_models_alone(stage: Stage, tmp_path: Path) -> None:
    one, two = small_bundle(tmp_path, "Chosen One"), small_bundle(tmp_path, "Bystander")
    out = stage.generate([one, two], tmp_path / "out")
    result = stage.aiar("apply", "chosen-one", "--out", out, "--env", stage.env_file, "-o", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    names = set(stage.objects())
    assert "Deployment/chosen-one" in names
    assert "Deployment/bystander" not in names

    code, plan = stage.plan(out)  # the whole out/: the bystander is still to create
    assert code == 2
    assert all("bystander" in (c["model"] or "") for c in plan["changes"] if c["action"] != "build")
    result = stage.aiar("plan", "chosen-one", "--out", out, "--env", stage.env_file, "-o", "json")
    assert result.exit_code == 0, result.stdout  # nothing to do for the chosen one

    # Apply the bystander, then drop it from out/: a selected apply of the other model prunes nothing of it.
    stage.apply(out)
    out = stage.generate([one], tmp_path / "out")
    result = stage.aiar("apply", "chosen-one", "--out", out, "--env", stage.env_file, "-o", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "Deployment/bystander" in stage.objects()

    result = stage.aiar("apply", "no-such-model", "--out", out, "--env", stage.env_file)
    assert result.exit_code == 1
    assert "no model 'no-such-model'" in result.stderr
    assert "chosen-one" in result.stderr


def test_unbuildable_pins_are_named_before_any_build(stage: Stage, tmp_path: Path) -> None:
    seed = shutil.copytree(REPO / "bundles" / "injection-model", tmp_path / "injection-model")
    out = stage.generate([seed, small_bundle(tmp_path, "Innocent")], tmp_path / "out")
    before = stage.objects()
    result = stage.aiar("apply", "injection-model", "--out", out, "--env", stage.env_file)
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "train_data.csv" in result.stderr  # its dataset is missing too: every problem at once
    for pin in ("pandas==1.0.1", "scikit-learn==0.21.3", "z-utils==0.1.2"):
        assert f"injection-model: {pin}: cannot be installed on Python 3.11" in result.stderr, result.stderr
    assert "built+pushed" not in result.stderr
    assert "building" not in result.stderr
    assert stage.objects() == before  # nothing applied


def test_a_missing_namespace_is_said_before_any_build_and_created_on_request(stage: Stage, tmp_path: Path) -> None:
    import uuid

    import yaml

    from generator.apply.outdir import ObjectKey
    from tests.apply.harness import Stage as Harness

    namespace = f"aiar-fresh-{uuid.uuid4().hex[:8]}"
    env = yaml.safe_load(stage.env_file.read_text())
    env["namespace"] = namespace
    env_file = tmp_path / "environment.yaml"
    env_file.write_text(yaml.safe_dump(env))
    other = Harness(stage.platform, env_file, tmp_path)
    out = other.generate([small_bundle(tmp_path, "Newcomer")], tmp_path / "out")

    code, plan = other.plan(out)
    assert code == 2
    assert f"Namespace {namespace}" in [c["subject"] for c in plan["changes"]]
    result = other.aiar("apply", "--out", out, "--env", env_file)
    assert result.exit_code == 1
    assert f"Namespace {namespace}: does not exist" in result.stderr
    assert "built" not in result.stderr

    result = other.aiar("apply", "--out", out, "--env", env_file, "--create-namespace", "-o", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert other.kube.get("apps/v1", ObjectKey("apps", "Deployment", namespace, "newcomer")) is not None
    assert other.plan(out)[0] == 0
    other.destroy(out)
    assert other.kube.get("v1", ObjectKey("", "Namespace", "", namespace)) is not None  # never pruned
    other.kube.delete(other.kube.resource("v1", "Namespace"), "", namespace)


def test_a_missing_dataset_is_found_before_anything_changes(stage: Stage, tmp_path: Path) -> None:
    import json
    import uuid

    bundle = small_bundle(tmp_path, "Unfed", training=True)
    manifest = json.loads((bundle / "manifest.json").read_text())
    absent = f"absent-{uuid.uuid4().hex[:8]}.csv"
    manifest["input"]["training"][0]["payload"]["fileName"] = absent
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2))
    out = stage.generate([bundle], tmp_path / "out")
    before = stage.objects()

    for command in ("plan", "apply"):
        result = stage.aiar(command, "--out", out, "--env", stage.env_file, "-o", "json")
        assert result.exit_code == 1, result.stdout
        [problem] = json.loads(result.stdout)["problems"]
        assert problem["pointer"] == "/input/training/0/payload/fileName"
        assert absent in problem["message"]
        assert "aiar storage put" in problem["message"]
    assert stage.objects() == before  # nothing applied, no training started
