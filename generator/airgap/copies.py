"""The images of an export into one OCI image layout: skopeo copies, several at a time, the first
one started as soon as ``out/`` and the environment file are read.

One layout takes one writer (each copy rewrites its ``index.json``): each copy writes an index of
its own under ``single/``, its blobs into the layout's (``--dest-shared-blob-dir``: a blob is
written to a temporary file and renamed, and one already there is not fetched again). The first
image is copied alone, so that the base layers every image shares (most of the bytes) are fetched
once; the others then go ``COPY_WORKERS`` at a time. The layout's index lists every image in the
order given.

The first copy starts early: :func:`early_copy` reads ``out/`` (checked against its index) and the
environment file as plain data (``source``: bounded and screened as always, no models), and starts
skopeo on the first image with the registry, TLS setting and credential variables the file names,
when the file is the one ``out/`` was generated with (the export refuses any other). The export
uses that copy only when its own source is the same (:meth:`EarlyCopy.take`: ``--registry`` may
name another); otherwise it is stopped and the image copied again. Whatever looks wrong here means
no early copy, never an error: the checks that follow report it.

This module imports neither pydantic nor the environment's models.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..apply.credentials import Credentials
from ..apply.outdir import Image, OutDir, read_out, relocated_ref
from ..errors import AiarError
from .archive import IMAGES_DIR
from .source import PlainEnvironment, SourceRegistry, unchanged_registry
from .tools import Running, Tools

COPY_WORKERS = 4
"""skopeo copies at a time, after the first. A copy of an image whose base layers are there already
mostly waits (on the registry, and on the disk: skopeo syncs every blob it writes): on 2 CPUs, after
the first, 9 small images took 1.21 s one at a time, 0.94 s two and 0.92 s four at a time."""
SINGLE_DIR = "single"
LAYOUT_MARKER = b'{"imageLayoutVersion": "1.0.0"}'


@dataclass(frozen=True)
class Source:
    """Where an image is copied from and how: everything that decides what the copy reads."""

    ref: str
    """The image in the registry it is read from."""
    name: str
    """Its name in the layout (its ref in ``out/``)."""
    insecure: bool
    username_env: str | None
    password_env: str | None


def layout_paths(scratch: Path) -> tuple[Path, Path]:
    """The export's OCI layout and the directory of the copies' own indexes, in ``scratch``."""
    return scratch / IMAGES_DIR, scratch / SINGLE_DIR


def _target(index: int) -> str:
    return f"{index:04d}"


def copy_images(
    pairs: list[tuple[Image, Image]], scratch: Path, copy: Callable[[int], None], first_done: bool = False
) -> Path:
    """Every image of ``pairs`` (its name in the layout, where it is read) into the layout in
    ``scratch``, which is returned. ``copy(i)`` copies the ``i``-th with :func:`start_copy`;
    ``first_done``: the first one is there already (the early copy)."""
    layout, singles = layout_paths(scratch)
    (layout / "blobs").mkdir(parents=True, exist_ok=True)
    singles.mkdir(exist_ok=True)
    if pairs and not first_done:
        copy(0)
    with ThreadPoolExecutor(max_workers=COPY_WORKERS) as pool:
        list(pool.map(copy, range(1, len(pairs))))
    entries: list[Any] = []
    for i in range(len(pairs)):
        entries.extend(json.loads((singles / _target(i) / "index.json").read_bytes()).get("manifests") or [])
    marker = singles / _target(0) / "oci-layout"  # skopeo's own, as every copy wrote it
    (layout / "oci-layout").write_bytes(marker.read_bytes() if pairs else LAYOUT_MARKER)
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": entries}, separators=(",", ":")))
    return layout


def start_copy(tools: Tools, source: Source, auth: Path, scratch: Path, index: int) -> Running:
    layout, singles = layout_paths(scratch)
    (layout / "blobs").mkdir(parents=True, exist_ok=True)
    singles.mkdir(exist_ok=True)
    return tools.start_copy(
        f"docker://{source.ref}",
        f"oci:{singles / _target(index)}:{source.name}",
        src_auth=auth,
        src_insecure=source.insecure,
        dest_shared_blobs=layout / "blobs",
    )


@dataclass
class EarlyCopy:
    """``out/`` as read (checked against its index), the export's scratch directory and tools, and
    the first image's copy into it, running since then (none when the file named no usable source)."""

    out: OutDir
    scratch: Path
    tools: Tools
    source: Source | None = None
    running: Running | None = None
    registry: SourceRegistry | None = None
    """The environment's registry, when the file is the one ``out/`` was generated with."""

    def take(self, source: Source, note: Callable[[str], None] = lambda _: None) -> bool:
        """Whether the first image is in the layout now, copied from ``source``: the early copy is
        waited for if it read just that (its failure is the export's), stopped otherwise (and what
        it wrote of its index removed)."""
        running, self.running = self.running, None
        if running is None:
            return False
        if source != self.source:
            running.stop()
            shutil.rmtree(layout_paths(self.scratch)[1] / _target(0), ignore_errors=True)
            return False
        note(f"copying {source.ref}")
        running.wait()
        return True

    def stop(self) -> None:
        if self.running is not None:
            self.running.stop()
            self.running = None


def _early_source(
    out: OutDir, registry: SourceRegistry | None, into: str | None, insecure: bool | None
) -> Source | None:
    """Where the first image of ``out/`` is read from, by ``registry`` (the environment's, as read)."""
    images = sorted(out.images, key=lambda i: i.ref)
    if not images or registry is None:
        return None
    first = images[0]
    ref = relocated_ref(first.ref, registry.url, into)
    if ref is None:
        return None
    staged = registry.staged(into, insecure)
    return Source(ref, first.ref, staged.insecure, staged.username_env, staged.password_env)


@contextmanager
def early_copy(
    out_dir: Path, env_file: Path, into: str | None, insecure: bool | None, environ: Mapping[str, str] = os.environ
) -> Iterator[EarlyCopy | None]:
    """``out/`` read and the first image's copy started, in a private scratch directory that lives
    (with the copy, stopped if still running) as long as the context; None when ``out/`` is unfit
    (the checks that follow say why)."""
    with tempfile.TemporaryDirectory(prefix="aiar-export-") as name:
        scratch = Path(name)
        os.chmod(scratch, 0o700)
        try:
            early = EarlyCopy(read_out(out_dir, kube_objects=False), scratch, Tools(scratch))
        except (AiarError, OSError):
            yield None
            return
        try:
            _start(early, env_file, into, insecure, environ)
            yield early
        finally:
            early.stop()


def _start(
    early: EarlyCopy, env_file: Path, into: str | None, insecure: bool | None, environ: Mapping[str, str]
) -> None:
    try:
        early.registry = unchanged_registry(PlainEnvironment.read(env_file), early.out)
    except (AiarError, OSError):
        return
    source = _early_source(early.out, early.registry, into, insecure)
    if source is None or early.registry is None:
        return
    try:
        credentials = Credentials.from_env(early.registry.staged(into, insecure), environ)
    except AiarError:  # a variable not set: said again when the export reads them
        return
    early.tools.mask_also(credentials.password)
    auth = early.tools.auth_file(source.ref.split("/", 1)[0], credentials)
    try:
        early.running = start_copy(early.tools, source, auth, early.scratch, 0)
    except (AiarError, OSError):  # skopeo not found: said again when the export copies
        return
    early.source = source
