"""checkov over the generated trees: no failed check for Kubernetes or Dockerfiles beyond the skip list.

The skip list is ``.checkov.yaml`` at the repository root; each skipped check carries its reason.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.conftest import GOLDEN_TREES
from tests.cluster.tools import tool
from tests.conftest import REPO

CONFIG = REPO / ".checkov.yaml"


def checkov(directory: Path, frameworks: tuple[str, ...]) -> list[dict[str, Any]]:
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    result = subprocess.run(
        [
            str(tool("checkov")),
            "--config-file",
            str(CONFIG),
            "--directory",
            str(directory),
            "--framework",
            *frameworks,
            "--skip-download",  # offline: only the checks that ship with the pinned version
            "--output",
            "json",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    # a framework with nothing failing may come back as a bare summary
    return [r for r in reports if "check_type" in r or "results" in r]


def failed(reports: list[dict[str, Any]]) -> list[str]:
    return [
        f"{check['check_id']} {check['check_name']}: {check['file_path']} ({check['resource']})"
        for report in reports
        for check in report.get("results", {}).get("failed_checks", [])
    ]


@pytest.mark.parametrize(
    ("tree", "frameworks"),
    [
        pytest.param(GOLDEN_TREES[0], ("kubernetes", "dockerfile"), id="out"),
        # the private-environment variant trusts its own index host on purpose: Kubernetes only
        pytest.param(GOLDEN_TREES[1], ("kubernetes",), id="goldens-variants"),
    ],
)
def test_committed_trees_pass_checkov(tree: Path, frameworks: tuple[str, ...]) -> None:
    reports = checkov(tree, frameworks)
    assert not failed(reports), "\n".join(failed(reports))
    kinds = {r.get("check_type") for r in reports}
    assert set(frameworks) <= kinds, f"checkov scanned {kinds}, expected {frameworks}"


def test_cluster_variants_pass_checkov(cluster_variants: Path) -> None:
    reports = checkov(cluster_variants, ("kubernetes", "dockerfile"))
    assert not failed(reports), "\n".join(failed(reports))


def test_checkov_sees_a_weakened_pod(tmp_path: Path) -> None:
    """The check has teeth: a Deployment that may escalate privileges fails."""
    source = (REPO / "out" / "injection-model" / "k8s" / "deployment.yaml").read_text()
    (tmp_path / "deployment.yaml").write_text(
        source.replace("allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true")
    )
    assert any(line.startswith("CKV_K8S_20 ") for line in failed(checkov(tmp_path, ("kubernetes",))))


def test_every_skip_has_a_reason() -> None:
    lines = CONFIG.read_text().splitlines()
    skips = [i for i, line in enumerate(lines) if re.match(r"\s*-\s*CKV", line)]
    assert skips, "no skips: drop the skip-check section instead"
    for i in skips:
        reason = []
        j = i - 1
        while j >= 0 and lines[j].strip().startswith("#"):
            reason.append(lines[j].strip("# "))
            j -= 1
        assert len(" ".join(reason)) > 40, f"{lines[i].strip()} has no reason in the comment above it"
