"""Stage 6: write the artifact set atomically. A failure leaves the previous ``out/`` untouched."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath

from .errors import OutputError, Problem
from .render import Files

_MARKER = "index.json"


def _check_paths(files: Files) -> None:
    for name in files:
        path = PurePosixPath(name)
        if path.is_absolute() or ".." in path.parts or not name or name != path.as_posix():
            raise OutputError([Problem(name, "", "refusing to write a path outside the output directory")])


def write_tree(out: Path, files: Files) -> None:
    """Replace ``out`` by exactly ``files``: written to a sibling temp dir, then swapped in."""
    _check_paths(files)
    out = out.absolute()
    if out.exists() and not (out / _MARKER).exists() and any(out.iterdir()):
        raise OutputError(
            [
                Problem(
                    str(out),
                    "",
                    f"exists, is not empty and has no {_MARKER}: not aiar's output, refusing to replace it",
                )
            ]
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        root = str(staging)
        directories = sorted({os.path.dirname(name) for name in files} - {""})
        for directory in directories:
            os.makedirs(os.path.join(root, directory), mode=0o755, exist_ok=True)
        for name in sorted(files):
            fd = os.open(os.path.join(root, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                view = memoryview(files[name])
                while view:
                    view = view[os.write(fd, view) :]
                # Fixed modes: the output must not depend on the umask of whoever generated it.
                os.fchmod(fd, 0o644)
            finally:
                os.close(fd)
        for directory in ["", *directories]:
            os.chmod(os.path.join(root, directory), 0o755)
        old = None
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            os.rename(out, old)
        os.rename(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_file_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_tree(out: Path) -> Files:
    """Every file under ``out`` (for ``--check`` and tests)."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
