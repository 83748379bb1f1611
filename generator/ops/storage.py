"""Datasets and trained model files in the environment's S3/MinIO bucket (``aiar storage``).

Where things live is the runtime's layout (``generator.defaults``): a dataset that a manifest's
``HISTORIC_DATA`` training names in ``fileName`` is ``datasets/<fileName>``, and training writes the
model file to ``models/<slug>/<version>/<modelFile>``. Training publishes its statistics on the
message bus only (``runtime/training.py``); nothing stores them beside the model file, so there are
none to list here.

Credentials are boto3's own chain on the machine running the command (``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY``, or a profile); they never appear in anything this module returns.

How an upload proves its bytes arrived, and leaves nothing half-written:

- The file is hashed (SHA-256) first, and the digest is stored as the object's ``sha256`` metadata,
  which ``get`` checks against what it downloads. Metadata is fixed when an upload starts, hence the
  extra pass over the file.
- Every upload is multipart, sent with ``ChecksumAlgorithm=SHA256``: the server computes the SHA-256
  of each part it receives (S3 and MinIO refuse a part whose bytes do not match) and reports the
  checksum of the whole as the SHA-256 of the parts' digests. The same bytes are hashed again, per
  part, as they are read for sending, and once stored the server's checksum must equal the one
  computed from them. That compares what the server holds with what was read from the file, which
  neither the ETag (not an MD5 under server-side encryption) nor the size alone can.
- The file is read again for sending; if it is not the same as when it was first hashed (it
  changed meanwhile), the upload is aborted before completion.
- An object only appears when its multipart upload completes; a failure or an interrupt aborts the
  upload (and a later ``put`` of the same name aborts what an upload killed outright left behind).
  Without ``--force`` the completion is conditional (``If-None-Match: *``): another writer that
  got there first is not overwritten.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any, NoReturn, Protocol

from .. import defaults
from ..errors import AiarError, Problem
from ..runtime.config import TRAINING_STATS_FILE

if TYPE_CHECKING:
    from boto3.s3.transfer import TransferConfig

    from ..environment import Storage

SHA256_METADATA = "sha256"
"""The object's user metadata key (``x-amz-meta-sha256``) holding the hex SHA-256 of its bytes."""

PART_SIZE = 8 << 20
"""Multipart part size (s3transfer raises it for files of more than 10,000 parts)."""
CONCURRENCY = 4
"""Parts in flight at once. Memory is bounded by about (CONCURRENCY + 1) parts on upload."""
_READ_BLOCK = 1 << 20
_DOWNLOAD_IO_QUEUE = 64
"""Downloaded chunks (256 KiB each) waiting to be written: at most 16 MiB when the disk lags."""

MAX_NAME_LENGTH = 512
"""As a manifest's ``fileName``."""
_MAX_KEY_BYTES = 1024
"""S3's limit on a key, in UTF-8 bytes."""
_SLUG = r"[a-z0-9](?:[-a-z0-9]{0,38}[a-z0-9])?"  # a manifest's slug: a DNS label of at most 40 characters
_MODEL_REF = re.compile(rf"(?P<slug>{_SLUG}):(?P<version>[1-9][0-9]{{0,8}}|latest)")
_MODEL_KEY = re.compile(rf"{defaults.MODEL_PREFIX}/(?P<slug>{_SLUG})/(?P<version>[1-9][0-9]{{0,8}})/(?P<file>[^/]+)")


class StorageOpError(AiarError):
    """A storage operation that failed: the problem names the object (``s3://bucket/key``) or the file."""


def _fail(where: str, message: str) -> NoReturn:
    raise StorageOpError([Problem(where, "", message)])


# --- the bucket ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bucket:
    """A boto3 S3 client on the environment's endpoint, and the bucket it works in."""

    client: Any
    name: str
    endpoint: str

    def uri(self, key: str = "") -> str:
        return f"s3://{self.name}/{key}"


def open_bucket(storage: Storage) -> Bucket:
    """A client on ``storage``'s endpoint; credentials come from boto3's chain (AWS_* variables, profiles)."""
    from ..apply.datasets import s3_client

    return Bucket(s3_client(storage), storage.bucket, storage.endpoint)


def bucket_for(env_file: Path) -> Bucket:
    """The bucket of the environment file's ``storage``."""
    from ..environment import load_environment

    env = load_environment(env_file).env
    if env.storage is None:
        _fail(str(env_file), "/storage is not set: aiar storage works on the environment's S3/MinIO bucket")
    return open_bucket(env.storage)


def _client_error_message(code: str, message: str) -> str:
    if code in ("404", "NoSuchKey", "NotFound"):
        return "not found"
    if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
        return f"access denied ({code}): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    if code in ("412", "PreconditionFailed"):
        return "already exists (written meanwhile by someone else); --force replaces it"
    return f"{code}: {message}" if message else code


@contextmanager
def _s3_errors(bucket: Bucket, key: str = "") -> Iterator[None]:
    """boto3's failures as one-line problems naming the object; never a traceback, never a credential."""
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        FlexibleChecksumError,
        HTTPClientError,
        NoCredentialsError,
        PartialCredentialsError,
    )
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from s3transfer.exceptions import RetriesExceededError

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "error"))
        if code == "NoSuchBucket":
            _fail(bucket.uri(), "no such bucket (aiar does not create buckets)")
        _fail(bucket.uri(key), _client_error_message(code, str(error.get("Message", ""))))
    except (NoCredentialsError, PartialCredentialsError):
        _fail(bucket.uri(key), "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    except FlexibleChecksumError as exc:  # botocore checked a response against the object's own checksum
        _fail(bucket.uri(key), f"checksum mismatch while downloading: {exc}")
    except (BotoConnectionError, HTTPClientError, RetriesExceededError) as exc:
        _fail(bucket.endpoint, f"cannot reach the S3 endpoint ({type(exc).__name__})")
    except (BotoCoreError, Boto3Error) as exc:
        _fail(bucket.uri(key), str(exc))


# --- names -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetRef:
    name: str

    @property
    def key(self) -> str:
        return defaults.dataset_key(self.name)


@dataclass(frozen=True)
class ModelRef:
    slug: str
    version: int | None
    """None: the latest stored version."""


def dataset_name(name: str) -> str:
    """``name`` if it can be a dataset's name: what a manifest's ``fileName`` may be, minus the traps.

    Path segments ``.`` and ``..`` (S3 keeps them literally, but a client mapping keys to paths does
    not), empty segments, a leading ``/`` or any ``\\``, control characters, and names that read as
    ``MODEL:VERSION`` (which names a model file) are refused.
    """
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        _fail(name[:80], f"a dataset name has 1 to {MAX_NAME_LENGTH} characters")
    if not name.isprintable():
        _fail(name, "a dataset name must not contain control characters")
    if name.startswith("/") or "\\" in name:
        _fail(name, "a dataset name must not start with '/' nor contain '\\'")
    if any(segment in ("", ".", "..") for segment in name.split("/")):
        _fail(name, "a dataset name must not have empty, '.' or '..' path segments")
    if len(defaults.dataset_key(name).encode()) > _MAX_KEY_BYTES:
        _fail(name, f"too long: its object key would exceed {_MAX_KEY_BYTES} bytes")
    if _MODEL_REF.fullmatch(name):
        _fail(name, "reads as MODEL:VERSION, which names a model file; choose another dataset name")
    return name


def parse_ref(text: str) -> DatasetRef | ModelRef:
    """``MODEL:VERSION`` or ``MODEL:latest`` names a model file; anything else a dataset."""
    match = _MODEL_REF.fullmatch(text)
    if match is None:
        return DatasetRef(dataset_name(text))
    version = match["version"]
    return ModelRef(match["slug"], None if version == "latest" else int(version))


# --- progress --------------------------------------------------------------------------------------


class Meter(Protocol):
    """Where progress goes: a bar on a terminal, nowhere otherwise. ``advance`` is called from threads."""

    def phase(self, label: str, total: int) -> None: ...
    def advance(self, amount: int) -> None: ...


class _Quiet:
    def phase(self, label: str, total: int) -> None:
        pass

    def advance(self, amount: int) -> None:
        pass


QUIET: Meter = _Quiet()


# --- listing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    modified: datetime

    def as_dict(self) -> dict[str, object]:
        return {"key": self.key, "size": self.size, "modified": self.modified.astimezone(UTC).isoformat()}


@dataclass(frozen=True)
class ModelVersion:
    version: int
    files: tuple[StoredObject, ...]
    """The model file(s); the training record beside them is not one of them."""
    stats_key: str | None = None
    """Key of the training record (``training-stats.json``) that training stored with the model."""
    training: Any = None
    """That record, read when listing: when, how, and what train() returned."""


@dataclass(frozen=True)
class StoredModel:
    slug: str
    versions: tuple[ModelVersion, ...]
    """Oldest first."""

    @property
    def latest(self) -> ModelVersion:
        return self.versions[-1]


@dataclass(frozen=True)
class Listing:
    bucket: str
    datasets: tuple[StoredObject, ...] | None
    """None when not asked for."""
    models: tuple[StoredModel, ...] | None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"bucket": self.bucket}
        if self.datasets is not None:
            out["datasets"] = [
                {"name": obj.key.removeprefix(defaults.DATASET_PREFIX + "/"), **obj.as_dict()} for obj in self.datasets
            ]
        if self.models is not None:
            out["models"] = [
                {
                    "model": model.slug,
                    "latest": model.latest.version,
                    "versions": [
                        {
                            "version": v.version,
                            "files": [{"file": PurePosixPath(f.key).name, **f.as_dict()} for f in v.files],
                            "training": v.training,
                        }
                        for v in model.versions
                    ],
                }
                for model in self.models
            ]
        return out


def _objects(bucket: Bucket, prefix: str) -> Iterator[StoredObject]:
    """Every object under ``prefix``, in key order (folder markers skipped)."""
    with _s3_errors(bucket, prefix):
        for page in bucket.client.get_paginator("list_objects_v2").paginate(Bucket=bucket.name, Prefix=prefix):
            for item in page.get("Contents", []):
                if not item["Key"].endswith("/"):
                    yield StoredObject(item["Key"], int(item["Size"]), item["LastModified"])


def _models(objects: Iterator[StoredObject]) -> tuple[StoredModel, ...]:
    """Model files grouped by model and version; keys outside ``models/<slug>/<version>/<file>`` are not aiar's."""
    found: dict[str, dict[int, list[StoredObject]]] = {}
    for obj in objects:
        match = _MODEL_KEY.fullmatch(obj.key)
        if match is not None:
            found.setdefault(match["slug"], {}).setdefault(int(match["version"]), []).append(obj)

    def version(number: int, stored: list[StoredObject]) -> ModelVersion:
        records = [o.key for o in stored if PurePosixPath(o.key).name == TRAINING_STATS_FILE]
        files = tuple(o for o in stored if PurePosixPath(o.key).name != TRAINING_STATS_FILE)
        return ModelVersion(number, files, records[0] if records else None)

    return tuple(
        StoredModel(slug, tuple(version(v, files) for v, files in sorted(versions.items())))
        for slug, versions in sorted(found.items())
    )


def _training_record(bucket: Bucket, key: str) -> Any:
    """The stored training record, or a note of why it cannot be shown (never a failure of ``ls``)."""
    from ..apply.datasets import read_training_record

    record = read_training_record(bucket.client, bucket.name, key)
    return record if isinstance(record, dict) else {"unreadable": record}


def _with_training(bucket: Bucket, models: tuple[StoredModel, ...]) -> tuple[StoredModel, ...]:
    return tuple(
        StoredModel(
            m.slug,
            tuple(replace(v, training=_training_record(bucket, v.stats_key)) if v.stats_key else v for v in m.versions),
        )
        for m in models
    )


def list_stored(bucket: Bucket, datasets: bool = True, models: bool = True) -> Listing:
    return Listing(
        bucket.name,
        tuple(_objects(bucket, defaults.DATASET_PREFIX + "/")) if datasets else None,
        _with_training(bucket, _models(_objects(bucket, defaults.MODEL_PREFIX + "/"))) if models else None,
    )


def _stored_model(bucket: Bucket, slug: str) -> StoredModel | None:
    found = _models(_objects(bucket, f"{defaults.MODEL_PREFIX}/{slug}/"))
    return found[0] if found else None


def _head(bucket: Bucket, key: str) -> dict[str, Any] | None:
    """The object's HEAD (with its checksum, if the server keeps one), or None when there is none."""
    from botocore.exceptions import ClientError

    with _s3_errors(bucket, key):
        try:
            head: dict[str, Any] = bucket.client.head_object(Bucket=bucket.name, Key=key, ChecksumMode="ENABLED")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
    return head


# --- put -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    uri: str
    key: str
    name: str
    size: int
    sha256: str
    parts: int
    replaced: bool
    verified: str
    """``sha256``: the server's SHA-256 checksum of what it stored matches the bytes read; ``size``:
    the server keeps no SHA-256 checksum (an older MinIO), so its size and metadata were checked."""
    stale_uploads_aborted: int

    def as_dict(self) -> dict[str, object]:
        return {
            "uri": self.uri,
            "key": self.key,
            "name": self.name,
            "size": self.size,
            "sha256": self.sha256,
            "parts": self.parts,
            "replaced": self.replaced,
            "verified": self.verified,
            "stale_uploads_aborted": self.stale_uploads_aborted,
        }


class _SourceChanged(Exception):
    """The file read for sending is not the file that was hashed."""


class _HashingReader:
    """The first ``size`` bytes of a file as s3transfer reads them for an upload, hashed on the way.

    s3transfer reads the parts in order from one thread, but a retried request re-reads its body, so
    only bytes past the furthest point hashed so far are hashed: each byte once, in file order. The
    per-part digests, cut at the part boundaries s3transfer uses, give the composite checksum the
    server reports for a multipart object.
    """

    def __init__(self, file: IO[bytes], size: int, part_size: int) -> None:
        self._file = file
        self._size = size
        self._part_size = part_size
        self._pos = 0
        self._hashed = 0
        self._gap = False
        self._whole = hashlib.sha256()
        self._part = hashlib.sha256()
        self._part_filled = 0
        self.part_digests: list[bytes] = []
        file.seek(0)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._size}[whence]
        self._pos = min(max(base + offset, 0), self._size)
        self._file.seek(self._pos)
        return self._pos

    def read(self, amount: int = -1) -> bytes:
        left = self._size - self._pos
        data = self._file.read(left if amount < 0 else min(amount, left))
        self._hash(self._pos, data)
        self._pos += len(data)
        return data

    def _hash(self, start: int, data: bytes) -> None:
        if start > self._hashed:
            self._gap = True  # not a sequential reader: the digests cannot vouch for what was sent
            return
        fresh = memoryview(data)[self._hashed - start :]
        self._whole.update(fresh)
        while fresh:
            take = fresh[: self._part_size - self._part_filled]
            self._part.update(take)
            self._part_filled += len(take)
            self._hashed += len(take)
            fresh = fresh[len(take) :]
            if self._part_filled == self._part_size or self._hashed == self._size:
                self.part_digests.append(self._part.digest())
                self._part, self._part_filled = hashlib.sha256(), 0

    def check(self, expected_hex: str) -> None:
        """Raise :class:`_SourceChanged` unless every byte was read, in order, and hashes to ``expected_hex``."""
        if self._gap or self._hashed != self._size or self._whole.hexdigest() != expected_hex:
            raise _SourceChanged


@contextmanager
def _open_regular(path: Path) -> Iterator[IO[bytes]]:
    """``path`` opened for reading if it is a regular file: a FIFO would block, a device never end."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        _fail(str(path), "not a regular file")
    with os.fdopen(fd, "rb") as file:
        yield file


def _sha256_of(file: IO[bytes], size: int, meter: Meter) -> str:
    digest = hashlib.sha256()
    file.seek(0)
    left = size
    while left > 0 and (block := file.read(min(_READ_BLOCK, left))):
        digest.update(block)
        left -= len(block)
        meter.advance(len(block))
    if left:
        raise _SourceChanged  # shorter than it was a moment ago
    return digest.hexdigest()


def _transfer_config() -> TransferConfig:
    from boto3.s3.transfer import TransferConfig

    config = TransferConfig(
        multipart_threshold=1,  # always multipart: the server's per-part SHA-256 is what proves the bytes
        multipart_chunksize=PART_SIZE,
        max_concurrency=CONCURRENCY,
        max_io_queue=_DOWNLOAD_IO_QUEUE,
        preferred_transfer_client="classic",  # the CRT client reads files its own way, past _HashingReader
    )
    # Parts read ahead and held in memory; s3transfer's default (10) would hold 80 MiB.
    config.max_in_memory_upload_chunks = CONCURRENCY + 1
    return config


@contextmanager
def _hooks(client: Any, handlers: list[tuple[str, Callable[..., None]]]) -> Iterator[None]:
    """botocore event handlers on ``client`` for the duration of one transfer."""
    for event, handler in handlers:
        client.meta.events.register(event, handler)
    try:
        yield
    finally:
        for event, handler in handlers:
            client.meta.events.unregister(event, handler)


def _abort(bucket: Bucket, key: str, upload_ids: list[str]) -> None:
    """Abort the multipart uploads this run started (s3transfer usually did already: then a no-op)."""
    from botocore.exceptions import BotoCoreError, ClientError

    for upload_id in upload_ids:
        # Failing means gone already, or the endpoint is: then the next put of this name aborts it.
        with suppress(BotoCoreError, ClientError):
            bucket.client.abort_multipart_upload(Bucket=bucket.name, Key=key, UploadId=upload_id)


def _abort_stale_uploads(bucket: Bucket, key: str) -> int:
    """Abort unfinished multipart uploads of exactly ``key``: what a killed ``put`` left behind.

    They hold storage until aborted and would never complete. A ``put`` of the same name running
    right now elsewhere would be aborted too and fail cleanly; two writers of one name race anyway.
    """
    from botocore.exceptions import ClientError

    aborted = 0
    with _s3_errors(bucket, key):
        for page in bucket.client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket.name, Prefix=key):
            for upload in page.get("Uploads", []):
                if upload["Key"] != key:
                    continue
                try:
                    bucket.client.abort_multipart_upload(Bucket=bucket.name, Key=key, UploadId=upload["UploadId"])
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":  # else aborted meanwhile
                        raise
                aborted += 1
    return aborted


def _send(bucket: Bucket, key: str, reader: _HashingReader, digest: str, force: bool, meter: Meter) -> None:
    """Upload ``reader`` to ``key``: multipart, SHA-256 per part, aborted on any failure or interrupt."""
    started: list[str] = []

    def record_upload(parsed: dict[str, Any] | None = None, **_: Any) -> None:
        if parsed and "UploadId" in parsed:
            started.append(parsed["UploadId"])

    def before_completion(**_: Any) -> None:
        reader.check(digest)  # raising here makes s3transfer abort instead of completing

    def only_if_absent(params: dict[str, Any], **_: Any) -> None:
        params["IfNoneMatch"] = "*"

    handlers: list[tuple[str, Callable[..., None]]] = [
        ("after-call.s3.CreateMultipartUpload", record_upload),
        ("before-call.s3.CompleteMultipartUpload", before_completion),
    ]
    if not force:
        handlers += [
            ("before-parameter-build.s3.CompleteMultipartUpload", only_if_absent),
            ("before-parameter-build.s3.PutObject", only_if_absent),  # an empty file is one PUT
        ]
    with _hooks(bucket.client, handlers):
        try:
            bucket.client.upload_fileobj(
                reader,
                bucket.name,
                key,
                ExtraArgs={"Metadata": {SHA256_METADATA: digest}, "ChecksumAlgorithm": "SHA256"},
                Config=_transfer_config(),
                Callback=meter.advance,
            )
        except BaseException:
            _abort(bucket, key, started)
            raise


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def _verify_stored(bucket: Bucket, key: str, size: int, digest: str, part_digests: list[bytes]) -> str:
    """What the server says it stored against what was read; ``sha256`` or ``size`` (see :class:`Upload`)."""
    head = _head(bucket, key)
    if head is None:
        _fail(bucket.uri(key), "uploaded, but not found right after")
    if int(head["ContentLength"]) != size:
        _discard(bucket, key, f"the server stored {head['ContentLength']} bytes, not {size}")
    if head.get("Metadata", {}).get(SHA256_METADATA) != digest:
        _discard(bucket, key, f"the server did not keep the {SHA256_METADATA} metadata")
    checksum = head.get("ChecksumSHA256")
    if checksum is None:
        return "size"
    value, _, count = str(checksum).partition("-")
    composite = head.get("ChecksumType", "COMPOSITE") == "COMPOSITE" and part_digests
    expected = _b64(hashlib.sha256(b"".join(part_digests)).digest()) if composite else _b64(bytes.fromhex(digest))
    if value != expected or (count and int(count) != len(part_digests)):
        _discard(bucket, key, "the server's SHA-256 checksum differs from the bytes read")
    return "sha256"


def _discard(bucket: Bucket, key: str, why: str) -> NoReturn:
    """Delete an object that is not what was sent: training must never read it."""
    with _s3_errors(bucket, key):
        bucket.client.delete_object(Bucket=bucket.name, Key=key)
    _fail(bucket.uri(key), f"verification failed: {why}; the object was deleted")


def put_dataset(bucket: Bucket, source: Path, name: str, force: bool = False, meter: Meter = QUIET) -> Upload:
    """Store ``source`` as the dataset ``name``, where HISTORIC_DATA training with that ``fileName`` reads it."""
    from s3transfer.utils import ChunksizeAdjuster

    name = dataset_name(name)
    key = defaults.dataset_key(name)
    with _open_regular(source) as file:
        size = os.fstat(file.fileno()).st_size
        existing = _head(bucket, key)
        if existing is not None and not force:
            _fail(bucket.uri(key), f"already exists ({existing['ContentLength']} bytes); --force replaces it")
        try:
            meter.phase(f"hashing {source.name}", size)
            digest = _sha256_of(file, size, meter)
            stale = _abort_stale_uploads(bucket, key)
            reader = _HashingReader(file, size, ChunksizeAdjuster().adjust_chunksize(PART_SIZE, size))
            meter.phase(f"uploading {name}", size)
            with _s3_errors(bucket, key):
                _send(bucket, key, reader, digest, force, meter)
        except _SourceChanged:
            _fail(str(source), "changed while it was read for the upload; nothing was stored")
        try:
            reader.check(digest)  # checked before completion already; this covers the one-PUT path too
        except _SourceChanged:
            _discard(bucket, key, f"{source} changed while it was read for the upload")
    verified = _verify_stored(bucket, key, size, digest, reader.part_digests)
    return Upload(
        bucket.uri(key), key, name, size, digest, len(reader.part_digests), existing is not None, verified, stale
    )


# --- get -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Download:
    uri: str
    key: str
    file: Path
    size: int
    sha256: str
    verified: str
    """``sha256``: the bytes match the object's ``sha256`` metadata; ``size``: the object has none
    (model files written by training), so only its size was checked."""

    def as_dict(self) -> dict[str, object]:
        return {
            "uri": self.uri,
            "key": self.key,
            "file": str(self.file),
            "size": self.size,
            "sha256": self.sha256,
            "verified": self.verified,
        }


def _model_file(bucket: Bucket, ref: ModelRef) -> str:
    model = _stored_model(bucket, ref.slug)
    prefix = f"{defaults.MODEL_PREFIX}/{ref.slug}/"
    if model is None:
        _fail(bucket.uri(prefix), f"no stored model files of {ref.slug!r}")
    versions = {v.version: v for v in model.versions}
    chosen = model.latest if ref.version is None else versions.get(ref.version)
    if chosen is None:
        stored = ", ".join(str(v) for v in versions)
        _fail(bucket.uri(f"{prefix}{ref.version}/"), f"not found (stored versions: {stored})")
    if len(chosen.files) != 1:
        names = ", ".join(PurePosixPath(f.key).name for f in chosen.files)
        _fail(bucket.uri(f"{prefix}{chosen.version}/"), f"holds several files ({names}); expected one model file")
    return chosen.files[0].key


def _key_to_get(bucket: Bucket, text: str) -> str:
    """A dataset by name; else, for a bare model name, that model's latest file."""
    ref = parse_ref(text)
    if isinstance(ref, ModelRef):
        return _model_file(bucket, ref)
    if _head(bucket, ref.key) is None:
        if re.fullmatch(_SLUG, ref.name) and _stored_model(bucket, ref.name) is not None:
            return _model_file(bucket, ModelRef(ref.name, None))
        _fail(bucket.uri(ref.key), "not found")
    return ref.key


def _target(dest: Path | None, key: str, force: bool) -> Path:
    name = PurePosixPath(key).name
    if dest is None:
        target = Path(name)
    elif dest.is_dir():
        target = dest / name
    else:
        target = dest
    if target.exists() and not force:
        _fail(str(target), "already exists; --force replaces it")
    return target


def _sha256_file(path: Path, meter: Meter) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as file:
        while block := file.read(_READ_BLOCK):
            digest.update(block)
            size += len(block)
            meter.advance(len(block))
    return digest.hexdigest(), size


def _file_mode() -> int:
    """What a newly created file gets under the umask (mkstemp's files are private: 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def get_object(
    bucket: Bucket, ref: str, dest: Path | None = None, force: bool = False, meter: Meter = QUIET
) -> Download:
    """Download a dataset or a model file into ``dest`` (a file, or a directory; default: here).

    It is written to a temporary file beside the target, checked, then renamed: the target is never
    half a download, and a download that fails the check leaves nothing.
    """
    key = _key_to_get(bucket, ref)
    head = _head(bucket, key)
    if head is None:
        _fail(bucket.uri(key), "not found")
    size = int(head["ContentLength"])
    target = _target(dest, key, force)
    fd, partial_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    partial = Path(partial_name)
    try:
        with os.fdopen(fd, "wb") as out:
            meter.phase(f"downloading {PurePosixPath(key).name}", size)
            with _s3_errors(bucket, key):
                bucket.client.download_fileobj(bucket.name, key, out, Config=_transfer_config(), Callback=meter.advance)
            out.flush()
            os.fsync(out.fileno())
        meter.phase("verifying", size)
        digest, length = _sha256_file(partial, meter)
        expected = head.get("Metadata", {}).get(SHA256_METADATA)
        if length != size:
            _fail(bucket.uri(key), f"downloaded {length} bytes, not {size}; nothing was written")
        if expected is not None and expected != digest:
            _fail(bucket.uri(key), f"sha256 mismatch: stored {expected}, downloaded {digest}; nothing was written")
        os.chmod(partial, _file_mode())
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return Download(bucket.uri(key), key, target, size, digest, "size" if expected is None else "sha256")


# --- rm --------------------------------------------------------------------------------------------


def keys_to_delete(bucket: Bucket, text: str) -> list[str]:
    """The objects ``rm`` would delete: a dataset by name, or every file of ``MODEL:VERSION``."""
    ref = parse_ref(text)
    if isinstance(ref, DatasetRef):
        if _head(bucket, ref.key) is None:
            hint = " (a model's files: MODEL:VERSION)" if re.fullmatch(_SLUG, ref.name) else ""
            _fail(bucket.uri(ref.key), f"not found{hint}")
        return [ref.key]
    if ref.version is None:
        _fail(text, "name the version to delete: MODEL:VERSION")
    prefix = f"{defaults.MODEL_PREFIX}/{ref.slug}/{ref.version}/"
    keys = [obj.key for obj in _objects(bucket, prefix)]
    if not keys:
        _fail(bucket.uri(prefix), "not found")
    return keys


def delete_keys(bucket: Bucket, keys: list[str]) -> list[str]:
    """Delete ``keys`` (in batches of S3's maximum, 1000); their URIs. A key that fails is a problem."""
    problems: list[Problem] = []
    for start in range(0, len(keys), 1000):
        batch = [{"Key": key} for key in keys[start : start + 1000]]
        with _s3_errors(bucket, batch[0]["Key"]):
            answer = bucket.client.delete_objects(Bucket=bucket.name, Delete={"Objects": batch, "Quiet": True})
        for error in answer.get("Errors", []):
            message = _client_error_message(str(error.get("Code", "error")), str(error.get("Message", "")))
            problems.append(Problem(bucket.uri(str(error.get("Key", ""))), "", f"not deleted: {message}"))
    if problems:
        raise StorageOpError(problems)
    return [bucket.uri(key) for key in keys]
