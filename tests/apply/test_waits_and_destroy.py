"""Waits say what they wait for and fail at once on what waiting cannot fix; destroy asks on a terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from generator.apply import ApplyError
from generator.apply.outdir import ObjectKey
from generator.apply.wait import deployment_state, wait_all
from tests.apply.harness import Stage, small_bundle


def deployment(name: str, namespace: str, node_selector: dict[str, str]) -> dict[str, object]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"nodeSelector": node_selector, "containers": [{"name": "c", "image": "none:1"}]},
            },
        },
    }


def test_unschedulable_pod_fails_the_wait_at_once_with_the_schedulers_reason(stage: Stage) -> None:
    name = f"nowhere-{uuid.uuid4().hex[:6]}"
    stage.kube.apply(deployment(name, stage.namespace, {"aiar-test/no-such-node": "x"}))
    lines: list[str] = []
    key = ObjectKey("apps", "Deployment", stage.namespace, name)
    try:
        started = time.monotonic()
        with pytest.raises(ApplyError) as info:
            wait_all(stage.kube, "apps/v1", [key], deployment_state, 600, "available", lines.append)
        waited = time.monotonic() - started
    finally:
        stage.kube.delete(stage.kube.resource("apps/v1", "Deployment"), stage.namespace, name)
    [problem] = info.value.problems
    assert "cannot be scheduled" in problem.message
    assert "node affinity/selector" in problem.message  # the scheduler's own words
    assert waited < 600  # it did not wait out the timeout
    # what it reported before failing (nothing, when the scheduler had already said no at the first look)
    assert all(str(key) in line for line in lines)


def test_wait_reports_what_it_waits_for(stage: Stage) -> None:
    name = f"somewhere-{uuid.uuid4().hex[:6]}"
    stage.kube.apply(deployment(name, stage.namespace, {"type": "kwok"}))
    lines: list[str] = []
    key = ObjectKey("apps", "Deployment", stage.namespace, name)
    try:
        wait_all(stage.kube, "apps/v1", [key], deployment_state, 120, "available", lines.append)
    finally:
        stage.kube.delete(stage.kube.resource("apps/v1", "Deployment"), stage.namespace, name)
    # The first look finds it not yet rolled out (the controller has not seen it, or no pod is ready),
    # and the last line says it is done.
    assert len(lines) >= 2, lines
    assert lines[-1] == f"{key}: available"


def _destroy_on_a_terminal(stage: Stage, out: Path, answer: bytes) -> tuple[int, str]:
    """``aiar destroy`` with stdin and stderr on a pseudo-terminal, answering its question."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "generator.cli", "destroy", "--out", str(out), "--env", str(stage.env_file)],
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=follower,
        env=stage.environ,
    )
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 120
    while b"Delete them?" not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1)
        if ready:
            try:
                seen += os.read(leader, 4096)
            except OSError:
                break
    os.write(leader, answer)
    code = process.wait(120)
    try:
        while select.select([leader], [], [], 0.5)[0]:
            seen += os.read(leader, 4096)
    except OSError:
        pass
    os.close(leader)
    return code, seen.decode(errors="replace")


def test_destroy_asks_on_a_terminal(stage: Stage, tmp_path: Path) -> None:
    out = stage.generate([small_bundle(tmp_path, "Asked")], tmp_path / "out")
    stage.apply(out)
    before = stage.objects()
    assert "Deployment/asked" in before

    code, screen = _destroy_on_a_terminal(stage, out, b"n\n")
    assert code == 1, screen
    assert "Deployment" in screen
    assert "asked" in screen
    assert "nothing was deleted" in screen
    assert set(stage.objects()) == set(before)

    code, screen = _destroy_on_a_terminal(stage, out, b"y\n")
    assert code == 0, screen
    assert "Deployment/asked" not in stage.objects()


def test_destroy_yes_does_not_ask(stage: Stage, tmp_path: Path) -> None:
    out = stage.generate([small_bundle(tmp_path, "Unasked")], tmp_path / "out")
    stage.apply(out)
    result = stage.aiar("destroy", "--out", out, "--env", stage.env_file, "--yes")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "Deployment/unasked" not in stage.objects()
