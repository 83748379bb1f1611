"""``aiar stop|start|delete MODEL`` against the API server, and the applies that follow them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.apply.harness import Stage, small_bundle
from tests.apply.test_schedule_apply import scheduled


def cli(stage: Stage, *args: str | Path) -> dict[str, object]:
    result = stage.aiar(*args, "-o", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    parsed: dict[str, object] = json.loads(result.stdout)
    return parsed


def test_a_stopped_model_stays_stopped_across_apply_until_started(stage: Stage, tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    plain = small_bundle(tmp_path, "Plain")
    shift = scheduled(tmp_path, "Shift", now - timedelta(hours=2), now + timedelta(hours=2))  # running now
    out = stage.generate([plain, shift], tmp_path / "out")
    stage.apply(out)
    where = ("--out", out, "--env", stage.env_file)

    for model in ("plain", "shift"):
        stopped = cli(stage, "stop", model, *where)
        assert stopped["replicas"] == 0
        assert "@" in str(stopped["stopped_by"])
    objects = stage.objects()
    deployment = objects["Deployment/plain"]
    assert deployment["spec"]["replicas"] == 0
    assert deployment["metadata"]["annotations"]["aiar.dev/stopped-by"] == stopped["stopped_by"]
    assert all(objects[f"CronJob/{name}"]["spec"]["suspend"] for name in ("shift-start", "shift-stop"))

    assert stage.plan(out)[0] == 0  # a stop is not drift
    stage.apply(out)
    after = stage.objects()
    assert after["Deployment/plain"]["spec"]["replicas"] == 0
    assert after["Deployment/shift"]["spec"]["replicas"] == 0  # the schedule says running; a person said stop
    assert after["CronJob/shift-start"]["spec"]["suspend"] is True

    started = cli(stage, "start", "shift", *where)
    assert started["replicas"] == 1
    cli(stage, "start", "plain", *where)
    after = stage.objects()
    assert after["Deployment/plain"]["spec"]["replicas"] == 1
    # scaled as the schedule's CronJobs scale (kubectl scale's field manager), so apply agrees with it
    managers = {(m["manager"], m.get("subresource")) for m in after["Deployment/plain"]["metadata"]["managedFields"]}
    assert ("kubectl", "scale") in managers
    assert "aiar.dev/stopped-by" not in after["Deployment/plain"]["metadata"].get("annotations", {})
    assert not after["CronJob/shift-start"]["spec"].get("suspend")
    assert stage.plan(out)[0] == 0


def test_delete_removes_one_model_and_nothing_else(stage: Stage, tmp_path: Path) -> None:
    doomed, kept = small_bundle(tmp_path, "Doomed", training=True), small_bundle(tmp_path, "Kept")
    out = stage.generate([doomed, kept], tmp_path / "out")
    stage.apply(out)
    before = stage.objects()
    report = cli(stage, "delete", "doomed", "--out", out, "--env", stage.env_file, "--yes")
    after = stage.objects()
    gone = sorted(set(before) - set(after))
    assert gone, gone
    assert all("doomed" in name for name in gone), gone
    assert len(report["deleted"]) == len(gone)  # type: ignore[arg-type]
    assert "Deployment/kept" in after
    assert "ConfigMap/aiar-applyset" in after
    others = [k for k in after if k != "ConfigMap/aiar-applyset"]  # the parent records the deletion
    assert all(after[k]["metadata"]["resourceVersion"] == before[k]["metadata"]["resourceVersion"] for k in others)
    assert after["ConfigMap/aiar-applyset"]["metadata"]["annotations"]["aiar.dev/deleted-models"] == "doomed"
    # out/ still holds the model, yet it stays deleted across plans and applies...
    code, plan = stage.plan(out)
    assert code == 0
    assert plan["skipped"] == ["doomed"]
    report = stage.apply(out)
    assert report["skipped"] == ["doomed"]
    assert report["changed"] == []
    assert not [k for k in stage.objects() if "doomed" in k]
    models: list[dict[str, str]] = cli(stage, "status", "--out", out, "--env", stage.env_file)["models"]  # type: ignore[assignment]
    assert {s["model"]: s["state"] for s in models}["doomed"] == "deleted"
    # ...until it is applied by name
    result = stage.aiar("apply", "doomed", "--out", out, "--env", stage.env_file, "-o", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "Deployment/doomed" in stage.objects()
    assert stage.plan(out)[0] == 0
