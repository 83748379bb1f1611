"""apply sets a scheduled model's replicas from its schedule and the current time in its timezone."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.apply.harness import Stage, small_bundle


def scheduled(root: Path, name: str, start: datetime, stop: datetime) -> Path:
    bundle = small_bundle(root, name)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["schedule"] = {
        "timezone": "UTC",
        "start": [{"at": start.strftime("%H:%M")}],
        "stop": [{"at": stop.strftime("%H:%M")}],
    }
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return bundle


def test_initial_replicas_follow_the_schedule(stage: Stage, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    # Every day: one model started two hours ago and stops in two; the other stopped an hour ago.
    running = scheduled(tmp_path, "Day Shift", now - timedelta(hours=2), now + timedelta(hours=2))
    stopped = scheduled(tmp_path, "Night Shift", now + timedelta(hours=1), now - timedelta(hours=1))
    out = stage.generate([running, stopped], tmp_path / "out")
    stage.apply(out)
    objects = stage.objects()
    assert objects["Deployment/day-shift"]["spec"]["replicas"] == 1
    assert objects["Deployment/night-shift"]["spec"]["replicas"] == 0
    assert stage.plan(out)[0] == 0
    # The stop CronJob's own work (kubectl scale) is what a later apply agrees with: no fight.
    assert stage.apply(out)["changed"] == []
