"""Object storage for datasets and trained model files: S3 (MinIO in production) or a local directory.

boto3 is imported only when S3 is used: the prediction server without training never pays for it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any, Protocol

from .config import StorageConfig


class StorageError(RuntimeError):
    pass


class Storage(Protocol):
    def download(self, key: str, target: Path) -> None: ...
    def upload(self, source: Path, key: str) -> None: ...
    def exists(self, key: str) -> bool: ...


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise StorageError(f"key {key!r} escapes the storage directory")
        return path

    def download(self, key: str, target: Path) -> None:
        source = self._path(key)
        if not source.is_file():
            raise StorageError(f"no object {key!r} in {self.root}")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)

    def upload(self, source: Path, key: str) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        shutil.copyfile(source, partial)
        partial.replace(target)  # readers never see half a model file

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()


class S3Storage:
    def __init__(self, config: StorageConfig) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = config.bucket
        self._client: Any = boto3.client(
            "s3",
            endpoint_url=config.endpoint_url,
            region_name=config.region,
            aws_access_key_id=os.environ.get(config.access_key_env),
            aws_secret_access_key=os.environ.get(config.secret_key_env),
            # MinIO and moto serve buckets by path, not as virtual-host subdomains.
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5}),
        )

    def download(self, key: str, target: Path) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._client.download_file(self.bucket, key, str(target))
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"cannot download s3://{self.bucket}/{key}: {exc}") from None

    def upload(self, source: Path, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        # The file's sha256 goes with it, so that `aiar storage get` can check the bytes end to end.
        digest = hashlib.sha256()
        with source.open("rb") as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                digest.update(chunk)
        try:
            self._client.upload_file(
                str(source), self.bucket, key, ExtraArgs={"Metadata": {"sha256": digest.hexdigest()}}
            )
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"cannot upload s3://{self.bucket}/{key}: {exc}") from None

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise StorageError(f"cannot read s3://{self.bucket}/{key}: {exc}") from None
        return True


def open_storage(config: StorageConfig) -> Storage:
    if config.local_dir is not None:
        return LocalStorage(Path(config.local_dir))
    return S3Storage(config)
