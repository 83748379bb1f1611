"""The H2O example that trains (``bundles/h2o-quality-trained``): both of its images, on the local platform.

The training image runs as its Job runs (UID 10001, read-only root filesystem, writable ``/tmp``):
the aiar runtime downloads the dataset from the platform's S3, runs the bundle's ``train.jar`` on the
image's JRE, and uploads the MOJO. The prediction image then loads that MOJO with aiar's bridge jar
and answers exactly as H2O's own scoring of it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.platform.testenv import Platform
from tests.runtime.test_h2o import DATASET, assert_same, h2o_own_scores, rows

from .conftest import Compiled, build_image, logs, running, serving

pytestmark = pytest.mark.platform

SLUG = "h2o-quality-trained"


def test_train_image_trains_and_predict_image_serves_the_mojo(
    docker_client: Any, compiled: Compiled, platform: Platform, tmp_path: Path
) -> None:
    config = json.loads(compiled.config(SLUG).read_text())
    env = platform.runtime_credentials()
    bucket = config["storage"]["bucket"]
    s3 = platform.s3_client(bucket)
    s3.upload_file(str(DATASET), bucket, config["training"]["historic"]["dataset_key"])
    s3.delete_object(Bucket=bucket, Key=config["model_key"])  # a model of an earlier run must not count

    train_ref = build_image(docker_client, compiled, SLUG, "train")
    with running(docker_client, train_ref, environment=env, config=compiled.config(SLUG)) as job:
        status = job.wait(timeout=300)["StatusCode"]
        assert status == 0, logs(job)
        full_log = job.logs().decode("utf-8", "replace")
        assert "train.jar: " in full_log
        assert "historic training done" in full_log
    mojo = tmp_path / "model.zip"
    s3.download_file(bucket, config["model_key"], str(mojo))

    predict_ref = build_image(docker_client, compiled, SLUG)
    served_by = serving(docker_client, predict_ref, environment=env, config=compiled.config(SLUG))
    with served_by as (url, _), httpx.Client(base_url=url, timeout=30) as client:
        served = [client.post(f"/v2/models/{SLUG}/predict", json=row) for row in rows()]
    assert all(answer.status_code == 200 for answer in served), [answer.text for answer in served]
    for answer, expected in zip(served, h2o_own_scores(rows(), mojo), strict=True):
        assert_same(answer.json(), expected)
