"""Fixtures for ``aiar storage``: the platform's real S3 server (moto), an environment file naming it,
and per-test object names that are removed afterwards (other tests share the bucket)."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from generator.environment import load_environment
from generator.ops import storage as ops
from tests.platform.testenv import Platform, ensure_up

CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")

Cli = Callable[..., Result]


@pytest.fixture(scope="session")
def platform() -> Platform:
    return ensure_up()


@pytest.fixture(scope="session")
def s3_env(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the platform's environment file: its ``storage`` names moto's endpoint and bucket."""
    target = tmp_path_factory.mktemp("storage-env") / "environment.yaml"
    shutil.copy(platform.env_file, target)
    return target


@pytest.fixture(scope="session")
def bucket_name(s3_env: Path) -> str:
    storage = load_environment(s3_env).env.storage
    assert storage is not None, "the platform's environment file has no storage"
    return storage.bucket


@pytest.fixture(scope="session")
def s3(platform: Platform, bucket_name: str) -> Any:
    """A boto3 client of the test's own, on the same server (the bucket created if moto lost it)."""
    return platform.s3_client(bucket_name)


@pytest.fixture(scope="session")
def credentials(platform: Platform) -> dict[str, str]:
    """What a user exports on the machine running aiar: the standard AWS variables."""
    env = platform.env()
    return {name: env[name] for name in CREDENTIAL_VARIABLES}


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, credentials: dict[str, str]) -> None:
    for name, value in credentials.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata lookups when they are unset


@pytest.fixture
def bucket(aws_env: None, s3_env: Path) -> ops.Bucket:
    return ops.bucket_for(s3_env)


@pytest.fixture
def unique(s3: Any, bucket_name: str) -> Iterator[str]:
    """A fresh name (dataset prefix and model slug); its objects and uploads are removed afterwards."""
    name = f"ops-{uuid.uuid4().hex[:12]}"
    yield name
    for prefix in (f"datasets/{name}", f"models/{name}/"):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket_name, Prefix=prefix):
            for item in page.get("Contents", []):
                s3.delete_object(Bucket=bucket_name, Key=item["Key"])
        for upload in s3.list_multipart_uploads(Bucket=bucket_name, Prefix=prefix).get("Uploads", []):
            s3.abort_multipart_upload(Bucket=bucket_name, Key=upload["Key"], UploadId=upload["UploadId"])


@pytest.fixture
def cli(aws_env: None, s3_env: Path) -> Cli:
    """``aiar storage ARGS --env <platform env>`` in process."""
    from generator.cli_storage import storage

    def invoke(*args: str, env_file: Path | None = None) -> Result:
        return CliRunner().invoke(storage, [*args, "--env", str(env_file or s3_env)], catch_exceptions=False)

    return invoke
