"""Monitoring and autoscaling are opt-in from the environment and per model; how they meet the schedule
and apply's replica ownership."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from generator.apply.outdir import KubeObject
from generator.apply.replicas import with_replicas
from generator.errors import AiarError
from generator.pipeline import compile_paths
from tests.cluster.test_production import YAML_LOADER
from tests.conftest import EXAMPLE_ENV, MakeBundle
from tests.helpers import minimal_manifest

Obj = dict[str, Any]
BUS_ONLY = {
    "input": {"prediction": [{"type": "MESSAGE_BUS", "payload": {"routingKeys": [{"name": "tiny.in"}]}}]},
    "output": {"prediction": [{"type": "MESSAGE_BUS", "payload": {"routingKeys": [{"name": "tiny.out"}]}}]},
}
SCHEDULE = {"schedule": {"start": [{"at": "06:00"}], "stop": [{"at": "22:00"}]}}
AUTOSCALING = "autoscaling:\n  enabled: true\n  max_replicas: 4\n"


def _env(tmp_path: Path, extra: str = "", *, observability: bool = True) -> Path:
    text = EXAMPLE_ENV.read_text()
    if not observability:
        text = text.split("# Prometheus Operator objects")[0]
    env = tmp_path / "environment.yaml"
    env.write_text(text + extra)
    return env


def _objects(bundle: Path, env: Path, tmp_path: Path) -> dict[str, Obj]:
    [model] = compile_paths([bundle], env, tmp_path / "aiar.lock").models
    return {
        Path(path).stem: YAML_LOADER.load(body)
        for path, body in model.files.items()
        if "/k8s/" in path and path.endswith(".yaml")
    }


def test_without_the_environment_section_nothing_is_rendered(make_bundle: MakeBundle, tmp_path: Path) -> None:
    objects = _objects(make_bundle(minimal_manifest()), _env(tmp_path, observability=False), tmp_path)
    assert not {"podmonitor", "prometheusrule", "configmap-dashboard", "horizontalpodautoscaler"} & set(objects)
    assert objects["deployment"]["spec"]["replicas"] == 1


def test_a_model_opts_out_and_sets_its_own_slo(make_bundle: MakeBundle, tmp_path: Path) -> None:
    env = _env(tmp_path)
    out = _objects(make_bundle(minimal_manifest(monitoring={"prometheus": False})), env, tmp_path)
    assert "podmonitor" not in out
    own = _objects(make_bundle(minimal_manifest(monitoring={"latencySloSeconds": 2.5})), env, tmp_path)
    [group] = own["prometheusrule"]["spec"]["groups"]
    latency = next(r for r in group["rules"] if r["alert"] == "AiarModelLatencySLO")
    assert latency["expr"].endswith("> 2.5")
    assert own["podmonitor"]["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert own["configmap-dashboard"]["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert all(r["annotations"]["runbook_url"].startswith("docs/runbooks.md#") for r in group["rules"])


def test_asking_for_prometheus_without_the_environment_is_a_problem(make_bundle: MakeBundle, tmp_path: Path) -> None:
    bundle = make_bundle(minimal_manifest(monitoring={"prometheus": True}))
    with pytest.raises(AiarError) as caught:
        compile_paths([bundle], _env(tmp_path, observability=False), tmp_path / "aiar.lock")
    assert [p.pointer for p in caught.value.problems] == ["/monitoring/prometheus"]


def test_a_rest_model_cannot_ask_for_zero_replicas(make_bundle: MakeBundle, tmp_path: Path) -> None:
    bundle = make_bundle(minimal_manifest(autoscaling={"enabled": True, "minReplicas": 0}))
    with pytest.raises(AiarError) as caught:
        compile_paths([bundle], _env(tmp_path), tmp_path / "aiar.lock")
    assert [p.pointer for p in caught.value.problems] == ["/autoscaling/minReplicas"]


def test_a_rest_model_gets_an_hpa_and_its_schedule_keeps_scaling_the_deployment(
    make_bundle: MakeBundle, tmp_path: Path
) -> None:
    objects = _objects(make_bundle(minimal_manifest(**SCHEDULE)), _env(tmp_path, AUTOSCALING), tmp_path)
    hpa = objects["horizontalpodautoscaler"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (1, 4)
    assert "replicas" not in objects["deployment"]["spec"]
    assert objects["poddisruptionbudget"]  # it may run 4
    args = objects["cronjob-stop"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:2] == ["scale", "deployment/tiny-model"]  # an HPA idles while its target is at 0


def test_a_bus_model_gets_keda_paused_and_resumed_by_its_schedule(make_bundle: MakeBundle, tmp_path: Path) -> None:
    manifest = minimal_manifest(**BUS_ONLY, **SCHEDULE, autoscaling={"minReplicas": 0, "enabled": True})
    objects = _objects(make_bundle(manifest), _env(tmp_path), tmp_path)
    scaled = objects["scaledobject"]["spec"]
    assert scaled["minReplicaCount"] == 0
    [trigger] = scaled["triggers"]
    assert trigger["metadata"]["queueName"] == "aiar.tiny-model.predict"
    assert trigger["metadata"]["host"] == "amqp://rabbitmq.messaging.svc:5672/"
    auth = objects["triggerauthentication"]["spec"]["secretTargetRef"]
    assert {(r["parameter"], r["name"], r["key"]) for r in auth} == {
        ("username", "rabbitmq-credentials", "username"),
        ("password", "rabbitmq-credentials", "password"),
    }
    containers = {
        stem: objects[stem]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
        for stem in ("cronjob-start", "cronjob-stop")
    }
    assert containers["cronjob-stop"][:2] == ["annotate", "scaledobject/tiny-model"]
    assert containers["cronjob-stop"][-1] == "autoscaling.keda.sh/paused-replicas=0"
    assert containers["cronjob-start"][-1] == "autoscaling.keda.sh/paused-replicas-"
    [rule] = objects["role-scaler"]["rules"]
    assert rule == {
        "apiGroups": ["keda.sh"],
        "resources": ["scaledobjects"],
        "resourceNames": ["tiny-model"],
        "verbs": ["get", "patch"],
    }
    assert objects["deployment"]["metadata"]["annotations"]["aiar.dev/autoscaled-by"] == "ScaledObject"


def test_apply_pauses_a_stopped_models_scaled_object_and_leaves_its_replicas_alone(
    make_bundle: MakeBundle, tmp_path: Path
) -> None:
    manifest = minimal_manifest(**BUS_ONLY, autoscaling={"enabled": True})
    objects = _objects(make_bundle(manifest), _env(tmp_path), tmp_path)

    def kube(stem: str) -> KubeObject:
        body = copy.deepcopy(objects[stem])
        return KubeObject(f"tiny-model/k8s/{stem}.yaml", "tiny-model", body)

    scaled, deployment = kube("scaledobject"), kube("deployment")
    paused = with_replicas(scaled, {"tiny-model": 0})
    assert paused["metadata"]["annotations"]["autoscaling.keda.sh/paused-replicas"] == "0"
    assert with_replicas(scaled, {"tiny-model": 1}) is scaled.body
    assert with_replicas(deployment, {"tiny-model": 1}) is deployment.body  # KEDA's to set
    assert with_replicas(deployment, {"tiny-model": 0})["spec"]["replicas"] == 0
