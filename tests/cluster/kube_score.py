"""Running the pinned kube-score over generated trees, and the committed list of findings aiar accepts."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tests.cluster.tools import KUBERNETES_VERSION, tool

SKIPS_FILE = Path(__file__).resolve().parent / "kube-score-skips.yaml"
GRADE_ALL_OK = 10
"""kube-score's grades: 1 critical, 5 warning, 7 almost OK, 10 all OK."""


@dataclass(frozen=True)
class Finding:
    check: str
    obj: str
    """``Kind/namespace/name``, what the skips' ``objects`` globs match."""
    file: str
    summary: str


@dataclass(frozen=True)
class Skip:
    checks: tuple[str, ...]
    objects: tuple[str, ...]
    reason: str

    def covers(self, finding: Finding) -> bool:
        return finding.check in self.checks and any(fnmatchcase(finding.obj, glob) for glob in self.objects)


def kubernetes_files(tree: Path) -> list[Path]:
    """Every YAML file of the tree that holds a Kubernetes object (it has ``apiVersion`` and ``kind``)."""
    loader = YAML(typ="safe", pure=True)
    found = []
    for path in sorted(tree.rglob("*.yaml")):
        document = loader.load(path.read_text())
        if isinstance(document, dict) and "apiVersion" in document and "kind" in document:
            found.append(path)
    return found


def score(files: list[Path]) -> list[dict[str, Any]]:
    """kube-score's JSON report over these files, scored together (so Services, PDBs and policies match)."""
    minor = ".".join(KUBERNETES_VERSION.split(".")[:2])
    result = subprocess.run(
        [
            str(tool("kube-score")),
            "score",
            "--all-default-optional",
            # an object must not be able to silence a check with a kube-score/ignore annotation
            "--disable-ignore-checks-annotations",
            "--kubernetes-version",
            f"v{minor}",
            "--output-format",
            "json",
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # 1 means "there are critical findings" (or a file it could not read: then stdout is empty)
    assert result.returncode in (0, 1), result.stderr[-2000:]
    assert result.stdout.strip(), result.stderr[-2000:]
    return list(json.loads(result.stdout))


def findings(report: list[dict[str, Any]]) -> list[Finding]:
    found = []
    for obj in report:
        meta = obj["object_meta"]
        name = f"{obj['type_meta']['kind']}/{meta.get('namespace', '')}/{meta['name']}"
        for check in obj["checks"]:
            if check["skipped"] or check["grade"] >= GRADE_ALL_OK:
                continue
            summary = "; ".join(f"{c['path']}: {c['summary']}".strip(": ") for c in check["comments"] or [])
            found.append(Finding(check["check"]["id"], name, obj.get("file_name", ""), summary))
    return found


def load_skips() -> list[Skip]:
    document = YAML(typ="safe", pure=True).load(SKIPS_FILE.read_text())
    return [
        Skip(tuple(entry["checks"]), tuple(entry["objects"]), str(entry["reason"]))
        for entry in document.get("skips") or []
    ]
