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
        for name in sorted(files):
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(files[name])
            # Fixed modes: the output must not depend on the umask of whoever generated it.
            os.chmod(target, 0o644)
        for directory in sorted({p for p in staging.rglob("*") if p.is_dir()}):
            os.chmod(directory, 0o755)
        os.chmod(staging, 0o755)
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
