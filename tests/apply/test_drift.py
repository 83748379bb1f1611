"""Drift, made with the real kubectl: plan names the field (exit 2), apply restores it, plan is then empty.

Two kinds: a field aiar set, changed by someone else (a field-manager conflict apply takes back, saying
whose change it overrode), and a field aiar never set, added to what it owns (a sidecar, an env var, a
label under aiar's prefixes), which apply removes.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.apply.harness import Stage, small_bundle

SIDECAR = {"name": "sidecar", "image": "busybox:1", "command": ["sleep", "infinity"]}


def kubectl(stage: Stage, *args: str) -> None:
    env = stage.environ
    subprocess.run([env["AIAR_KUBECTL"], "--namespace", stage.namespace, *args], env=env, check=True, timeout=60)


def json_patch(ops: list[dict[str, object]]) -> tuple[str, ...]:
    return ("patch", "deployment/drifty", "--type=json", "-p", json.dumps(ops))


CONTAINER = "/spec/template/spec/containers/0"

CASES = {
    "scale": (("scale", "deployment/drifty", "--replicas=3"), "spec.replicas", True),
    "label --overwrite": (
        ("label", "--overwrite", "deployment/drifty", "app.kubernetes.io/version=99"),
        "metadata.labels.app.kubernetes.io/version",
        True,
    ),
    "set env (new variable)": (
        ("set", "env", "deployment/drifty", "-c", "model-server", "EXTRA_DEBUG=1"),
        "spec.template.spec.containers[name=model-server].env[name=EXTRA_DEBUG]",
        False,
    ),
    "set env (a variable aiar reads from a Secret)": (
        ("set", "env", "deployment/drifty", "-c", "model-server", "AIAR_S3_ACCESS_KEY=plain-text"),
        "spec.template.spec.containers[name=model-server].env[name=AIAR_S3_ACCESS_KEY].value",
        False,
    ),
    "label (new, in aiar's domain)": (
        ("label", "deployment/drifty", "aiar.dev/hand-made=yes"),
        "metadata.labels.aiar.dev/hand-made",
        False,
    ),
    "added sidecar": (
        json_patch([{"op": "add", "path": "/spec/template/spec/containers/-", "value": SIDECAR}]),
        "spec.template.spec.containers[name=sidecar]",
        False,
    ),
    "removed security setting": (
        json_patch([{"op": "remove", "path": f"{CONTAINER}/securityContext/readOnlyRootFilesystem"}]),
        "spec.template.spec.containers[name=model-server].securityContext.readOnlyRootFilesystem",
        False,
    ),
}


@pytest.fixture(scope="module")
def drifty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Trains from storage, so its server reads the trained model from S3 with credentials from a Secret.
    return small_bundle(tmp_path_factory.mktemp("drift"), "Drifty", training=True)


@pytest.mark.parametrize("case", list(CASES))
def test_drift_is_planned_and_restored(stage: Stage, tmp_path: Path, drifty: Path, case: str) -> None:
    command, field, conflict = CASES[case]
    out = stage.generate([drifty], tmp_path / "out")
    stage.apply(out)
    before = stage.objects()["Deployment/drifty"]
    kubectl(stage, *command)

    code, plan = stage.plan(out)
    assert code == 2, plan
    [change] = [c for c in plan["changes"] if c["subject"].startswith("Deployment")]
    assert any(f == field or f.startswith(field + " ") for f in change["fields"]), change
    assert bool(change["conflict"]) is conflict, change

    report = stage.apply(out)
    if conflict:
        assert any("Deployment" in line and "conflict" in line.lower() for line in report["overridden"]), report
    elif "added outside" in " ".join(change["fields"]):
        assert any(field in line for line in report["removed"]), report
    after = stage.objects()["Deployment/drifty"]
    assert after["spec"]["template"]["spec"]["containers"] == before["spec"]["template"]["spec"]["containers"]
    assert after["metadata"]["labels"] == before["metadata"]["labels"]
    assert after["spec"].get("replicas") == before["spec"].get("replicas")
    assert stage.plan(out)[0] == 0
