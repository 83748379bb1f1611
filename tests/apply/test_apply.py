"""The apply stage against the real local platform: build, push, plan, apply, prune, destroy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.apply.outdir import ObjectKey
from tests.apply.harness import Stage, small_bundle

pytestmark = pytest.mark.platform


def _of_model(changes: list[dict[str, object]]) -> set[object]:
    return {c["model"] for c in changes}


def test_apply_twice_changes_nothing_and_plan_is_empty(stage: Stage, tmp_path: Path) -> None:
    bundles = [small_bundle(tmp_path, "Alpha", training=True), small_bundle(tmp_path, "Beta")]
    out = stage.generate(bundles, tmp_path / "out")

    first = stage.apply(out)
    assert {i["action"] for i in first["images"]} <= {"built", "pushed", "present"}
    deployments = {k: v for k, v in stage.objects().items() if k.startswith("Deployment/")}
    assert set(deployments) == {"Deployment/alpha", "Deployment/beta"}
    before = stage.versions()

    second = stage.apply(out)
    assert second["built"] == 0
    assert second["pushed"] == 0
    assert {i["action"] for i in second["images"]} == {"present"}
    assert second["changed"] == []
    assert second["pruned"] == []
    assert stage.versions() == before, "a second apply moved a resourceVersion"

    code, plan = stage.plan(out)
    assert (code, plan["changes"]) == (0, [])
    assert stage.versions() == before, "plan wrote something"


def test_code_change_touches_exactly_one_model(stage: Stage, tmp_path: Path) -> None:
    alpha, beta = small_bundle(tmp_path, "Alpha", training=True), small_bundle(tmp_path, "Beta")
    out = stage.generate([alpha, beta], tmp_path / "out")
    stage.apply(out)
    before = stage.objects()

    (beta / "src/predict.py").write_text((beta / "src/predict.py").read_text() + "# a code-only change\n")
    out = stage.generate([alpha, beta], tmp_path / "out")
    code, plan = stage.plan(out)
    assert code == 2
    assert _of_model(plan["changes"]) == {"beta"}, plan["changes"]
    assert any(c["action"] == "build" for c in plan["changes"])
    assert any(c["subject"] == "Deployment.apps aiar-test/beta" and c["action"] == "update" for c in plan["changes"])

    report = stage.apply(out)
    assert report["built"] == 1
    assert report["pushed"] == 1
    after = stage.objects()
    rolled = [
        k
        for k in after
        if k.startswith("Deployment/") and after[k]["metadata"]["generation"] != before[k]["metadata"]["generation"]
    ]
    assert rolled == ["Deployment/beta"]
    image = after["Deployment/beta"]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == json.loads((out / "index.json").read_text())["models"]["beta"]["images"]["predict"]["ref"]
    alpha_keys = [k for k in before if "alpha" in k]
    assert all(after[k]["metadata"]["resourceVersion"] == before[k]["metadata"]["resourceVersion"] for k in alpha_keys)
    assert stage.plan(out)[0] == 0


def test_failed_build_changes_nothing_in_the_cluster(stage: Stage, tmp_path: Path) -> None:
    alpha = small_bundle(tmp_path, "Alpha")
    out = stage.generate([alpha], tmp_path / "out")
    stage.apply(out)
    before = stage.versions()

    # A pin that cannot install is found before the build (see test_selection_and_pins)...
    broken = small_bundle(tmp_path / "v2", "Alpha", dependencies=[{"name": "aiar-no-such-package", "version": "0.0.0"}])
    out = stage.generate([broken], tmp_path / "out")
    result = stage.aiar("apply", "--out", out, "--env", stage.env_file)
    assert result.exit_code == 1
    assert "aiar-no-such-package==0.0.0: cannot be installed" in result.stderr
    assert stage.versions() == before

    # ...and a build that fails for real (its base image does not exist) changes nothing either.
    import yaml

    env = yaml.safe_load(stage.env_file.read_text())
    env["base_images"]["python"] = "localhost/aiar-no-such-base:1"
    env_file = tmp_path / "broken-env.yaml"
    env_file.write_text(yaml.safe_dump(env))
    from tests.apply.harness import Stage as Harness

    other = Harness(stage.platform, env_file, tmp_path)
    out = other.generate([small_bundle(tmp_path / "v3", "Alpha")], tmp_path / "out3", tmp_path / "v3.lock")
    result = other.aiar("apply", "--out", out, "--env", env_file)
    assert result.exit_code == 1
    assert "build failed" in result.stderr
    assert "aiar-no-such-base" in result.stderr
    assert stage.versions() == before


def test_out_of_band_edits_show_in_plan_and_apply_restores_them(stage: Stage, tmp_path: Path) -> None:
    out = stage.generate([small_bundle(tmp_path, "Beta")], tmp_path / "out")
    stage.apply(out)
    deployment = stage.kube.resource("apps/v1", "Deployment").path(stage.namespace, "beta")

    # A field we own, removed by someone else: no conflict, apply puts it back.
    stage.kube.request(
        "PATCH",
        deployment,
        body=[{"op": "remove", "path": "/metadata/labels/app.kubernetes.io~1component"}],
        content_type="application/json-patch+json",
    )
    code, plan = stage.plan(out)
    assert code == 2
    [change] = plan["changes"]
    assert change["fields"] == ["metadata.labels.app.kubernetes.io/component"]
    stage.apply(out)
    assert stage.plan(out)[0] == 0

    # A field we own, changed by another manager: a conflict that names it; forcing takes it back.
    stage.kube.request(
        "PATCH",
        deployment,
        [("fieldManager", "kubectl-edit")],
        {"spec": {"minReadySeconds": 7, "revisionHistoryLimit": 9}},
        content_type="application/strategic-merge-patch+json",
    )
    code, plan = stage.plan(out)
    assert code == 2
    [change] = plan["changes"]
    assert "kubectl-edit" in change["conflict"]
    assert "spec.revisionHistoryLimit" in change["fields"]
    result = stage.aiar("apply", "--out", out, "--env", stage.env_file, "--no-force-conflicts")
    assert result.exit_code == 1
    assert "kubectl-edit" in result.stderr
    report = stage.apply(out)  # aiar owns its objects: by default it takes its fields back, and says whose
    assert any("kubectl-edit" in line for line in report["overridden"]), report
    live = stage.objects()["Deployment/beta"]
    assert live["spec"]["revisionHistoryLimit"] != 9
    assert stage.plan(out)[0] == 0


def test_removed_bundle_is_pruned_and_destroy_spares_foreign_objects(stage: Stage, tmp_path: Path) -> None:
    alpha, beta = small_bundle(tmp_path, "Alpha", training=True), small_bundle(tmp_path, "Beta")
    out = stage.generate([alpha, beta], tmp_path / "out")
    stage.apply(out)
    configmaps = stage.kube.resource("v1", "ConfigMap")
    foreign = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "not-aiars", "namespace": stage.namespace, "labels": {"app.kubernetes.io/name": "beta"}},
        "data": {"keep": "me"},
    }
    stage.kube.apply(foreign)
    before = stage.objects()

    out = stage.generate([alpha], tmp_path / "out")
    code, plan = stage.plan(out)
    assert code == 2
    assert {c["action"] for c in plan["changes"]} == {"delete"}
    report = stage.apply(out)
    after = stage.objects()
    gone = sorted(set(before) - set(after))
    assert gone, gone
    assert all("beta" in name for name in gone), gone
    assert len(report["pruned"]) == len(gone)
    assert "ConfigMap/not-aiars" in after
    assert all(
        after[k]["metadata"]["resourceVersion"] == before[k]["metadata"]["resourceVersion"]
        for k in after
        if "alpha" in k
    )

    stage.destroy(out)
    left = stage.objects()
    assert [k for k in left if "alpha" in k or k == "ConfigMap/aiar-applyset"] == []
    assert "ConfigMap/not-aiars" in left
    assert stage.kube.get("v1", ObjectKey("", "Namespace", "", stage.namespace)) is not None
    stage.kube.delete(configmaps, stage.namespace, "not-aiars")
