"""Fixtures for ``aiar storage``: the platform's real S3 server (moto) through the shared platform
fixtures (tests/conftest.py: ``platform_env`` names it, ``platform_s3`` is a client of the tests' own),
and per-test object names that are removed afterwards (other tests share the bucket)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from generator.ops import storage as ops
from tests.platform.testenv import Platform

CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")

Cli = Callable[..., Result]


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
def bucket(aws_env: None, platform_env: Path) -> ops.Bucket:
    return ops.bucket_for(platform_env)


@pytest.fixture
def unique(platform_s3: Any, platform_bucket: str) -> Iterator[str]:
    """A fresh name (dataset prefix and model slug); its objects and uploads are removed afterwards."""
    name = f"ops-{uuid.uuid4().hex[:12]}"
    yield name
    for prefix in (f"datasets/{name}", f"models/{name}/"):
        pages = platform_s3.get_paginator("list_objects_v2").paginate(Bucket=platform_bucket, Prefix=prefix)
        for page in pages:
            for item in page.get("Contents", []):
                platform_s3.delete_object(Bucket=platform_bucket, Key=item["Key"])
        uploads = platform_s3.list_multipart_uploads(Bucket=platform_bucket, Prefix=prefix).get("Uploads", [])
        for upload in uploads:
            platform_s3.abort_multipart_upload(Bucket=platform_bucket, Key=upload["Key"], UploadId=upload["UploadId"])


@pytest.fixture
def cli(aws_env: None, platform_env: Path) -> Cli:
    """``aiar storage ARGS --env <platform env>`` in process."""
    from generator.cli_storage import storage

    def invoke(*args: str, env_file: Path | None = None) -> Result:
        return CliRunner().invoke(storage, [*args, "--env", str(env_file or platform_env)], catch_exceptions=False)

    return invoke
