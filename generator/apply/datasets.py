"""Datasets a training Job will read, found in storage before anything is applied.

A HISTORIC_DATA ``fileName`` that is not in the bucket would otherwise surface as a training Job
failing minutes later. plan reports it (exit 1) and apply refuses to start: the problem names the
model and the manifest pointer where the file is named, and how to upload it. Training that already
completed (its content-hashed Job is Complete) does not read the dataset again and is not checked.
"""

from __future__ import annotations

from typing import Any

from ..environment import Storage
from ..errors import Problem
from . import ApplyError
from .outdir import Model
from .session import Session


def _trained(session: Session, model: Model) -> bool:
    jobs = [o for o in model.objects if o.kind == "Job"]
    if not jobs:
        return False
    for job in jobs:
        live = session.kube.get(job.api_version, job.key)
        conditions = (live or {}).get("status", {}).get("conditions") or []
        if not any(c.get("type") == "Complete" and c.get("status") == "True" for c in conditions):
            return False
    return True


def s3_client(storage: Storage) -> Any:
    """boto3 on ``storage``'s endpoint; credentials from boto3's chain (AWS_* variables, profiles).
    The one client of the environment's storage: apply's checks, status and ``aiar storage``."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=storage.endpoint,
        region_name=storage.region,
        config=Config(
            s3={"addressing_style": "path"},  # MinIO and moto serve buckets by path, not as subdomains
            connect_timeout=5,
            read_timeout=60,
            # An unreachable endpoint fails in seconds instead of after boto3's longer default backoff.
            retries={"mode": "standard", "total_max_attempts": 3},
        ),
    )


MAX_TRAINING_RECORD_BYTES = 64 * 1024
"""A training record (``training-stats.json``) larger than this is not read."""


def read_training_record(client: Any, bucket: str, key: str) -> dict[str, Any] | str:
    """The training record training stored with a model, or why it cannot be read (``aiar status``
    shows nothing then, ``aiar storage ls`` the reason): never a failure of either."""
    import json

    from botocore.exceptions import BotoCoreError, ClientError

    try:
        answer = client.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{MAX_TRAINING_RECORD_BYTES}")
        data = answer["Body"].read(MAX_TRAINING_RECORD_BYTES + 1)
    except (BotoCoreError, ClientError) as exc:
        return str(exc)[:200]
    if len(data) > MAX_TRAINING_RECORD_BYTES:
        return f"larger than {MAX_TRAINING_RECORD_BYTES} bytes"
    try:
        record = json.loads(data)
    except ValueError:
        return "not JSON"
    return record if isinstance(record, dict) else "not a JSON object"


def missing_datasets(session: Session, client: Any = None) -> list[Problem]:
    storage = session.env.storage
    wanted = [(m, key, pointer) for m in session.out.models for key, pointer in m.datasets]
    if storage is None or not wanted:
        return []
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    client = client if client is not None else s3_client(storage)
    problems = []
    for model, key, pointer in wanted:
        if _trained(session, model):
            continue
        where = f"s3://{storage.bucket}/{key}"
        try:
            client.head_object(Bucket=storage.bucket, Key=key)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchKey", "NotFound"):
                name = key.rsplit("/", 1)[-1]
                problems.append(
                    Problem(
                        f"{model.slug} (manifest.json)",
                        pointer,
                        f"dataset {name!r} is not in storage ({where}): upload it first, "
                        f"`aiar storage put {name}`; no training was started",
                    )
                )
            else:
                problems.append(Problem(f"{model.slug} (manifest.json)", pointer, f"cannot look up {where}: {code}"))
        except NoCredentialsError:
            problems.append(
                Problem(
                    f"{model.slug} (manifest.json)",
                    pointer,
                    f"cannot look up {where}: no S3 credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)",
                )
            )
        except BotoCoreError as exc:
            problems.append(Problem(f"{model.slug} (manifest.json)", pointer, f"cannot look up {where}: {exc}"))
    return problems


def check_datasets(session: Session) -> None:
    problems = missing_datasets(session)
    if problems:
        raise ApplyError(problems)
