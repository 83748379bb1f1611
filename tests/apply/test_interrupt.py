"""SIGKILL apply at several points; a plain re-run converges, with no duplicates and no manual step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.apply.harness import PREDICT, Stage, small_bundle

pytestmark = pytest.mark.platform


def test_killed_applies_converge(stage: Stage, tmp_path: Path) -> None:
    alpha = small_bundle(tmp_path, "Alpha", training=True)
    gamma = small_bundle(tmp_path, "Gamma")
    out = stage.generate([alpha, gamma], tmp_path / "out")
    stage.apply(out)

    # New code for both, and for gamma a new dependency: its venv layer rebuilds (a long build).
    (alpha / "src/predict.py").write_text((alpha / "src/predict.py").read_text() + "# v2\n")
    gamma_v2 = small_bundle(
        tmp_path / "v2", "Gamma", code=PREDICT + "# v2\n", dependencies=[{"name": "six", "version": "1.16.0"}]
    )
    out = stage.generate([alpha, gamma_v2], tmp_path / "out")
    args = ("apply", "--out", out, "--env", stage.env_file, "--timeout", "120")

    during_build = stage.spawn(*args)
    # Soon after the first build starts: a code-only rebuild (alpha) takes about a second.
    during_build.kill_when(lambda: during_build.saw("building"), delay=0.3)
    assert not during_build.saw("pushing")

    during_push = stage.spawn(*args)
    during_push.kill_when(lambda: during_push.saw("pushing"), delay=0.3)

    between_objects = stage.spawn(*args)
    between_objects.kill_when(lambda: between_objects.saw("waiting for"))

    stage.apply(out)
    objects = stage.objects()
    index = json.loads((out / "index.json").read_text())
    for slug in ("alpha", "gamma"):
        mine = {k: v for k, v in objects.items() if v["metadata"]["name"].startswith(slug)}
        kinds = sorted(k.split("/")[0] for k in mine)
        assert kinds.count("Deployment") == 1, kinds
        assert kinds.count("ConfigMap") == 1, kinds
        image = mine[f"Deployment/{slug}"]["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image == index["models"][slug]["images"]["predict"]["ref"]
    job = yaml.safe_load((out / "alpha/k8s/job-train.yaml").read_text())["metadata"]["name"]
    assert [k for k in objects if k.startswith("Job/")] == [f"Job/{job}"], "the old training Job was not pruned"
    assert stage.plan(out)[0] == 0
    again = stage.apply(out)
    assert again["built"] == 0
    assert again["changed"] == []
