"""Every generated Kubernetes object validates with ``kubeconform -strict`` against offline schemas.

The custom resources validate against the schemas of the pinned CRDs (tests/platform/crds.py).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.cluster.conftest import k8s_files
from tests.cluster.tools import KUBERNETES_VERSION, kubeconform_schemas, tool
from tests.platform.config import cachedir_from_env
from tests.platform.crds import kubeconform_schemas as crd_schemas


def kubeconform(files: list[Path]) -> list[dict[str, str]]:
    result = subprocess.run(
        [
            str(tool("kubeconform")),
            "-strict",
            "-kubernetes-version",
            KUBERNETES_VERSION,
            "-schema-location",
            kubeconform_schemas(),
            # the custom resources (PodMonitor, PrometheusRule, ScaledObject...): the pinned real CRDs
            "-schema-location",
            crd_schemas(cachedir_from_env()),
            "-output",
            "json",
            "-verbose",
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return list(json.loads(result.stdout)["resources"])


def test_every_object_is_valid(all_trees: tuple[Path, ...]) -> None:
    files = [f for tree in all_trees for f in k8s_files(tree)]
    assert len(files) > 30
    resources = kubeconform(files)
    bad = [f"{r['filename']}: {r['status']} {r.get('msg', '')}" for r in resources if r["status"] != "statusValid"]
    assert not bad, "\n".join(bad)
    assert {r["filename"] for r in resources} == {str(f) for f in files}


def test_kubeconform_rejects_an_unknown_field(tmp_path: Path) -> None:
    """The check has teeth: -strict refuses a field the schema does not define."""
    source = Path(__file__).resolve().parents[2] / "out" / "injection-model" / "k8s" / "service.yaml"
    bad = tmp_path / "service.yaml"
    bad.write_text(source.read_text().replace("spec:\n", "spec:\n  clusterIPz: None\n", 1))
    [resource] = kubeconform([bad])
    assert resource["status"] == "statusInvalid"
    assert "clusterIPz" in resource["msg"]
