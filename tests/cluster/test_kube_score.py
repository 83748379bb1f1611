"""kube-score over every generated Kubernetes object: no finding beyond the documented skips.

The skips are ``tests/cluster/kube-score-skips.yaml``, each with its reason. A skip that no longer
matches any finding fails as well, so the list never outlives what it excuses.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.cluster.conftest import k8s_files
from tests.cluster.kube_score import Finding, findings, kubernetes_files, load_skips, score
from tests.cluster.tools import tool
from tests.conftest import REPO


def all_findings(trees: tuple[Path, ...]) -> list[Finding]:
    # one run per tree: each is applied on its own, and kube-score matches Services, PDBs and
    # NetworkPolicies to pods only within the files of one run
    return [f for tree in trees for f in findings(score(kubernetes_files(tree)))]


def test_every_kubernetes_yaml_is_scored(all_trees: tuple[Path, ...]) -> None:
    """What kube-score reads is every YAML that is a Kubernetes object; the rest is Kong's config."""
    for tree in all_trees:
        scored = set(kubernetes_files(tree))
        assert scored == set(k8s_files(tree)), tree
        others = set(tree.rglob("*.yaml")) - scored
        assert all(p.name == "kong.yaml" and p.parent.name == "gateway" for p in others), sorted(others)


def test_no_finding_beyond_the_skips(all_trees: tuple[Path, ...]) -> None:
    found = all_findings(all_trees)
    skips = load_skips()
    unexplained = [f for f in found if not any(s.covers(f) for s in skips)]
    assert not unexplained, "\n".join(f"{f.check} {f.obj} ({f.file}): {f.summary}" for f in unexplained)
    stale = [
        f"{check} for {list(skip.objects)}"
        for skip in skips
        for check in skip.checks
        if not any(f.check == check and skip.covers(f) for f in found)
    ]
    assert not stale, "skips that match no finding any more (drop them):\n" + "\n".join(stale)


def test_every_skip_is_a_known_check_with_a_reason() -> None:
    listed = subprocess.run([str(tool("kube-score")), "list"], capture_output=True, text=True, check=True).stdout
    known = {line.split(",", 1)[0] for line in listed.splitlines() if line}
    skips = load_skips()
    assert skips
    for skip in skips:
        assert set(skip.checks) <= known, f"unknown checks {set(skip.checks) - known}"
        assert skip.objects, skip.objects
        assert all(glob.count("/") == 2 for glob in skip.objects), skip.objects
        assert len(skip.reason) > 80, f"{skip.checks}: the reason says too little"


def test_kube_score_has_teeth(tmp_path: Path) -> None:
    """A Deployment without its NetworkPolicy, and one whose container lost its ephemeral-storage limit."""
    lines = (REPO / "out" / "injection-model" / "k8s" / "deployment.yaml").read_text().splitlines(keepends=True)
    limit = next(i for i, line in enumerate(lines) if line.strip() == 'ephemeral-storage: "512Mi"')
    (tmp_path / "deployment.yaml").write_text("".join(lines[:limit] + lines[limit + 1 :]))
    checks = {f.check for f in findings(score([tmp_path / "deployment.yaml"]))}
    assert {"pod-networkpolicy", "container-ephemeral-storage-request-and-limit"} <= checks


def test_the_pinned_version_runs() -> None:
    pinned = next(
        line.split()[-1]
        for line in (REPO / "tests" / "tools" / "kube-score" / "go.mod").read_text().splitlines()
        if line.startswith("require github.com/zegl/kube-score ")
    )
    result = subprocess.run([str(tool("kube-score")), "version"], capture_output=True, text=True, check=True)
    assert f"version: {pinned}," in result.stdout
