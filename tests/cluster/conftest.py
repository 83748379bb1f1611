"""The trees the cluster tests check: the committed goldens, plus cluster variants compiled on the fly."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.pipeline import discover_bundles, generate
from tests.conftest import REPO

FIXTURES = Path(__file__).resolve().parent / "fixtures"
VARIANT_ENV = FIXTURES / "env-cluster.yaml"
GOLDEN_TREES = (REPO / "out", REPO / "tests" / "goldens" / "variants")


@pytest.fixture(scope="session")
def cluster_variants(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """JWT gateway, Wazuh sidecar, Prometheus peers, several schedule entries, no storage."""
    root = tmp_path_factory.mktemp("cluster-variants")
    out = root / "out"
    generate(discover_bundles(FIXTURES / "bundles"), VARIANT_ENV, root / "aiar.lock", out)
    return out


@pytest.fixture(scope="session")
def all_trees(cluster_variants: Path) -> tuple[Path, ...]:
    return (*GOLDEN_TREES, cluster_variants)


def k8s_files(tree: Path) -> list[Path]:
    return sorted(p for p in tree.rglob("*.yaml") if "k8s" in p.relative_to(tree).parts)
