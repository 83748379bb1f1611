"""``aiar apply``, ``plan``, ``stop`` and ``start`` with monitoring and autoscaling on, for real.

A bus model under KEDA and a scheduled REST model under an HPA, with their PodMonitors, rules and
dashboards: apply creates them (the CRDs are the platform's), a second plan finds no change (apply
and the autoscalers do not fight over replicas), ``aiar stop`` pauses the ScaledObject at 0 and
``aiar start`` lifts the pause; destroy prunes the custom resources too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.apply.outdir import ObjectKey
from tests.apply.harness import Stage, small_bundle
from tests.apply.test_schedule_apply import scheduled
from tests.platform.testenv import Platform

PAUSED = "autoscaling.keda.sh/paused-replicas"


@pytest.fixture
def autoscaled_stage(platform: Platform, platform_env: Path, tmp_path: Path, datasets: list[str]) -> Iterator[Stage]:
    env = yaml.safe_load(platform_env.read_text())
    env["observability"] = {}
    env["autoscaling"] = {"enabled": True, "max_replicas": 2}
    env_file = tmp_path / "environment.yaml"
    env_file.write_text(yaml.safe_dump(env))
    harness = Stage(platform, env_file, tmp_path)
    yield harness
    empty = tmp_path / "empty-out"
    harness.generate([], empty, tmp_path / "empty.lock")
    harness.destroy(empty)


def _bus_bundle(root: Path) -> Path:
    bundle = small_bundle(root, "Obs Queue Worker")
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["input"] = {"prediction": [{"type": "MESSAGE_BUS", "payload": {"routingKeys": [{"name": "obsq.in"}]}}]}
    manifest["output"] = {"prediction": [{"type": "MESSAGE_BUS", "payload": {"routingKeys": [{"name": "obsq.out"}]}}]}
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    return bundle


def _get(stage: Stage, api_version: str, kind: str, name: str) -> dict[str, Any]:
    group = api_version.rpartition("/")[0]
    found = stage.kube.get(api_version, ObjectKey(group, kind, stage.namespace, name))
    assert found is not None, f"{kind}/{name} is not in the cluster"
    return found


def test_apply_plan_stop_start_with_autoscalers(autoscaled_stage: Stage, tmp_path: Path) -> None:
    stage = autoscaled_stage
    now = datetime.now(UTC)
    rest = scheduled(tmp_path, "Obs Shift", now - timedelta(hours=2), now + timedelta(hours=2))  # running now
    out = stage.generate([rest, _bus_bundle(tmp_path)], tmp_path / "out")
    stage.apply(out)
    for api_version, kind, name in (
        ("keda.sh/v1alpha1", "ScaledObject", "obs-queue-worker"),
        ("keda.sh/v1alpha1", "TriggerAuthentication", "obs-queue-worker-rabbitmq"),
        ("autoscaling/v2", "HorizontalPodAutoscaler", "obs-shift"),
        ("monitoring.coreos.com/v1", "PodMonitor", "obs-shift"),
        ("monitoring.coreos.com/v1", "PrometheusRule", "obs-queue-worker"),
        ("v1", "ConfigMap", "obs-shift-dashboard"),
    ):
        assert _get(stage, api_version, kind, name)["metadata"]["name"] == name
    assert stage.plan(out)[0] == 0  # nothing to change: replicas are the autoscalers'
    assert stage.apply(out)["changed"] == []

    stopped = json.loads(
        stage.aiar("stop", "obs-queue-worker", "--out", out, "--env", stage.env_file, "-o", "json").stdout
    )
    assert stopped["replicas"] == 0
    scaled = _get(stage, "keda.sh/v1alpha1", "ScaledObject", "obs-queue-worker")
    assert scaled["metadata"]["annotations"][PAUSED] == "0"
    assert stage.plan(out)[0] == 0  # a stop is not drift, its pause neither
    stage.apply(out)
    assert _get(stage, "apps/v1", "Deployment", "obs-queue-worker")["spec"]["replicas"] == 0
    assert _get(stage, "keda.sh/v1alpha1", "ScaledObject", "obs-queue-worker")["metadata"]["annotations"][PAUSED] == "0"

    result = stage.aiar("start", "obs-queue-worker", "--out", out, "--env", stage.env_file, "-o", "json")
    assert result.exit_code == 0, result.stdout
    scaled = _get(stage, "keda.sh/v1alpha1", "ScaledObject", "obs-queue-worker")
    assert PAUSED not in (scaled["metadata"].get("annotations") or {})
