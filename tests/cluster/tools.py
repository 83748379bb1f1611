"""Where the pinned validators are: the cache tests/tools/install_validators.sh fills, or PATH.

A missing tool fails the test that needs it, with the command that installs it: these checks are
part of what the project guarantees, so they are never skipped.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

TOOLS_DIR = Path(os.environ.get("AIAR_TOOLS_DIR", Path.home() / ".cache" / "aiar-tools"))
INSTALL = "bash tests/tools/install_validators.sh"
KUBERNETES_VERSION = "1.34.0"
"""Schemas kubeconform validates against: the minor version the local platform's apiserver runs."""


class MissingTool(AssertionError):
    pass


def tool(name: str) -> Path:
    cached = TOOLS_DIR / "bin" / name
    if cached.is_file() and os.access(cached, os.X_OK):
        return cached
    found = shutil.which(name)
    if found:
        return Path(found)
    raise MissingTool(f"{name} is not installed (looked in {cached.parent} and on PATH); run `{INSTALL}`")


def kubeconform_schemas() -> str:
    """A kubeconform ``-schema-location`` template over the offline schemas of kubernetes-validate."""
    root = TOOLS_DIR / "kubeconform-schemas"
    if not (root / f"v{KUBERNETES_VERSION}-standalone-strict").is_dir():
        raise MissingTool(f"no offline Kubernetes schemas under {root}; run `{INSTALL}`")
    layout = "{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}"
    layout += "/{{ .ResourceKind }}{{ .KindSuffix }}.json"
    return f"{root}/{layout}"
