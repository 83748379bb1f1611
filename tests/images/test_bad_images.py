"""A DOCKER_LAYERS bundle whose own Dockerfile fails to build: ``aiar apply`` says which step failed
and why (the build's own output), and changes nothing in the cluster."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.apply.harness import KINDS, Stage
from tests.conftest import REPO
from tests.platform.testenv import Platform

pytestmark = pytest.mark.platform

FAILING_STEP = 'RUN echo "aiar-test: the model\'s own build step fails" >&2 && exit 3'


def broken_greeting(root: Path) -> Path:
    bundle = root / "broken-greeting"
    shutil.copytree(REPO / "bundles" / "greeting-service", bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["name"] = "Broken Greeting"
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2))
    dockerfile = (bundle / "Dockerfile").read_text().replace("EXPOSE 8080", f"{FAILING_STEP}\nEXPOSE 8080")
    (bundle / "Dockerfile").write_text(dockerfile)
    return bundle


def cluster_versions(platform: Platform) -> dict[str, str]:
    """``Kind/name`` -> resourceVersion of every object of the kinds aiar renders, read with kubectl."""
    env = platform.env()
    kinds = ",".join(f"{kind.lower()}.{api.split('/')[0]}" if "/" in api else kind.lower() for api, kind in KINDS)
    listing = subprocess.run(
        [env["AIAR_KUBECTL"], "--kubeconfig", env["KUBECONFIG"], "-n", platform.namespace, "get", kinds, "-o", "json"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    items = json.loads(listing.stdout)["items"]
    return {f"{i['kind']}/{i['metadata']['name']}": i["metadata"]["resourceVersion"] for i in items}


def test_a_dockerfile_that_fails_to_build_fails_apply_clearly(platform: Platform, tmp_path: Path) -> None:
    stage = Stage(platform, platform.env_file, tmp_path)
    out = stage.generate([broken_greeting(tmp_path)], tmp_path / "out")
    ref = json.loads((out / "index.json").read_text())["models"]["broken-greeting"]["images"]["predict"]["ref"]
    before = cluster_versions(platform)
    result = stage.aiar("apply", "--out", out, "--env", stage.env_file)
    try:
        assert result.exit_code == 1, result.stdout + result.stderr
        assert ref in result.stderr, result.stderr
        assert "build failed" in result.stderr, result.stderr
        # the failing instruction and what it printed, so the bundle's author sees their own mistake
        assert "exit 3" in result.stderr, result.stderr
        assert "the model's own build step fails" in result.stderr, result.stderr
        after = cluster_versions(platform)
        assert after == before
        assert not any("broken-greeting" in name for name in after)
    finally:
        if cluster_versions(platform) != before:  # apply must not have touched the cluster; if it did, undo it
            empty = stage.generate([], tmp_path / "empty-out", tmp_path / "empty.lock")
            stage.destroy(empty)
