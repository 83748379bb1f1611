"""``aiar storage``: datasets and trained model files in the environment's S3/MinIO bucket.

The S3 credentials are those of the machine running the command, read by boto3 as usual:
``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY`` (or ``AWS_PROFILE`` and its files). They are never
printed. Exit codes are those of ``generator.cli``: 0 ok, 1 error, 130 interrupted.

Also runnable on its own: ``python -m generator.cli_storage ...``.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .cli import _Group, _run, _say, env_option, output_option

if TYPE_CHECKING:
    from .ops.storage import Bucket, Listing, Meter

STORED_NOTHING = "no object was written"
WROTE_NOTHING = "no file was written"
CHANGED_NOTHING = "nothing was changed"

# ``get`` takes ``-o FILE`` like curl, so its output format has the long option only.
long_output_option = click.option(
    "--output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format of the result.",
)


def _bucket(env_file: Path, output: str) -> Bucket:
    from .ops import storage as ops

    return _run(output, lambda: ops.bucket_for(env_file), CHANGED_NOTHING)


def _json(payload: dict[str, object]) -> None:
    click.echo(json.dumps({"ok": True, **payload}, indent=2))


def _size(size: int) -> str:
    amount = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if amount < 1024 or unit == "TiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    raise AssertionError("unreachable")


class _Bar:
    """A rich progress bar on stderr, one row per phase (hashing, uploading, downloading, verifying)."""

    def __init__(self, progress: Any) -> None:
        self._progress = progress
        self._task: Any = None

    def phase(self, label: str, total: int) -> None:
        from .errors import printable

        self._task = self._progress.add_task(printable(label), total=total)

    def advance(self, amount: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, amount)


@contextmanager
def _meter() -> Iterator[Meter]:
    """A progress bar when stderr is a terminal; nothing otherwise (CI logs, pipes, ``--output json``)."""
    from rich.console import Console

    from .ops.storage import QUIET

    console = Console(stderr=True)
    if not console.is_terminal:
        yield QUIET
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    columns = (
        TextColumn("{task.description}", markup=False),  # a name holding "[...]" is shown, not parsed
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        yield _Bar(progress)


@contextmanager
def _terminate_interrupts() -> Iterator[None]:
    """SIGTERM (``kill``, a CI timeout) stops a transfer as Ctrl-C does: its multipart upload aborted,
    its partial file removed. By default it would end the process on the spot, leaving both."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
def storage() -> None:
    """Datasets and trained model files in the environment's S3/MinIO bucket.

    Uses the environment file's `storage` (endpoint, bucket, region) with the credentials of this
    machine: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or an AWS profile), as boto3 reads them.
    """


@storage.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--as", "name", default=None, help="Dataset name: the manifest's fileName (default: FILE's name).")
@click.option("--force", is_flag=True, help="Replace an existing dataset of that name.")
@env_option
@output_option
def put(file: Path, name: str | None, force: bool, env_file: Path, output: str) -> None:
    """Upload a dataset for HISTORIC_DATA training.

    FILE is stored where training whose manifest names it in fileName reads it. Multipart,
    SHA-256 checked by the server per part and compared after upload; the digest is stored with
    the object (metadata sha256) for `get` to check. Interrupted, it leaves nothing.
    """
    from .ops import storage as ops

    bucket = _bucket(env_file, output)
    with _terminate_interrupts(), _meter() as meter:
        upload = _run(output, lambda: ops.put_dataset(bucket, file, name or file.name, force, meter), STORED_NOTHING)
    if output == "json":
        _json(upload.as_dict())
        return
    if upload.stale_uploads_aborted:
        _say(f"aborted {upload.stale_uploads_aborted} unfinished earlier upload(s) of {upload.uri}", err=True)
    check = "the server's SHA-256 matches" if upload.verified == "sha256" else "size checked (no server SHA-256)"
    _say(f"{'replaced' if upload.replaced else 'stored'} {upload.uri}  {_size(upload.size)}, {upload.parts} part(s)")
    _say(f"  sha256 {upload.sha256}  ({check})")
    _say(f'  a manifest trains on it with "fileName": {json.dumps(upload.name)}')


def _print_listing(listing: Listing) -> None:
    if listing.datasets is not None:
        _say(f"datasets in s3://{listing.bucket}/datasets/" + ("" if listing.datasets else ": none"))
        for obj in listing.datasets:
            _say(f"  {_size(obj.size):>10}  {obj.modified:%Y-%m-%d %H:%M:%S%z}  {obj.key.split('/', 1)[1]}")
    if listing.models is not None:
        _say(f"models in s3://{listing.bucket}/models/" + ("" if listing.models else ": none"))
        for model in listing.models:
            _say(f"  {model.slug}")
            for version in model.versions:
                mark = "  (latest)" if version is model.latest else ""
                for obj in version.files:
                    name = obj.key.rsplit("/", 1)[1]
                    when = f"{obj.modified:%Y-%m-%d %H:%M:%S%z}"
                    _say(f"    v{version.version:<5} {_size(obj.size):>10}  {when}  {name}{mark}")


@storage.command(name="ls")
@click.argument("what", required=False, type=click.Choice(["datasets", "models"]))
@env_option
@output_option
def list_command(what: str | None, env_file: Path, output: str) -> None:
    """List datasets and model files.

    Datasets with their size and time; trained model files per model and version (default: both).
    """
    from .ops import storage as ops

    bucket = _bucket(env_file, output)
    wanted = {"datasets": what in (None, "datasets"), "models": what in (None, "models")}
    listing = _run(output, lambda: ops.list_stored(bucket, **wanted), CHANGED_NOTHING)
    if output == "json":
        _json(listing.as_dict())
    else:
        _print_listing(listing)


@storage.command()
@click.argument("ref", metavar="NAME | MODEL[:VERSION]")
@click.option(
    "--out",
    "-o",
    "dest",
    type=click.Path(path_type=Path),
    default=None,
    help="File (or directory) to write (default: the object's name, here).",
)
@click.option("--force", is_flag=True, help="Replace an existing file.")
@env_option
@long_output_option
def get(ref: str, dest: Path | None, force: bool, env_file: Path, output: str) -> None:
    """Download a dataset or a model file.

    NAME is a dataset; MODEL:VERSION or MODEL:latest a model file. A bare NAME is the dataset of
    that name when there is one, else that model's latest file. The bytes are checked against the
    stored sha256 (when the object has one) before the file appears.
    """
    from .ops import storage as ops

    bucket = _bucket(env_file, output)
    with _terminate_interrupts(), _meter() as meter:
        download = _run(output, lambda: ops.get_object(bucket, ref, dest, force, meter), WROTE_NOTHING)
    if output == "json":
        _json(download.as_dict())
        return
    check = "sha256 matches the stored one" if download.verified == "sha256" else "size checked (no stored sha256)"
    _say(f"wrote {download.file}  {_size(download.size)} from {download.uri}")
    _say(f"  sha256 {download.sha256}  ({check})")


def _confirm(uris: list[str]) -> bool:
    _say(f"aiar will delete {len(uris)} object(s):", err=True)
    for uri in uris:
        _say(f"  - {uri}", err=True)
    return click.confirm("Delete them?", default=False, err=True)


@storage.command()
@click.argument("ref", metavar="NAME | MODEL:VERSION")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (it is asked only on a terminal).")
@env_option
@output_option
def rm(ref: str, yes: bool, env_file: Path, output: str) -> None:
    """Delete a dataset or a model version.

    NAME is a dataset; MODEL:VERSION every file of that model version.
    """
    from .errors import AiarError, Problem
    from .ops import storage as ops

    bucket = _bucket(env_file, output)
    keys = _run(output, lambda: ops.keys_to_delete(bucket, ref), CHANGED_NOTHING)
    # Asked outside _run: Ctrl-C at the prompt is an interrupt (130), as everywhere in aiar.
    if not yes and sys.stdin.isatty() and sys.stderr.isatty() and not _confirm([bucket.uri(k) for k in keys]):

        def declined() -> None:
            raise AiarError([Problem(ref, "", "not confirmed")])

        _run(output, declined, "nothing was deleted")
    deleted = _run(output, lambda: ops.delete_keys(bucket, keys), "re-run once fixed")
    if output == "json":
        _json({"deleted": deleted})
    else:
        for uri in deleted:
            _say(f"deleted {uri}")


if __name__ == "__main__":  # pragma: no cover
    storage(prog_name="aiar storage")
