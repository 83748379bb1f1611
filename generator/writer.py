"""Stage 6: write the artifact set atomically. A failure leaves the previous ``out/`` untouched."""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path, PurePosixPath

from .contract import INDEX_FILE as _MARKER
from .errors import OutputError, Problem
from .render import Files

_FILE_MODE = 0o644
_DIR_MODE = 0o755


def _check_paths(files: Files) -> None:
    for name in files:
        path = PurePosixPath(name)
        if path.is_absolute() or ".." in path.parts or not name or name != path.as_posix():
            raise OutputError([Problem(name, "", "refusing to write a path outside the output directory")])


def _directories(files: Files) -> list[str]:
    """Every directory the files need, parents before children."""
    directories: set[str] = set()
    for name in files:
        directory = os.path.dirname(name)
        while directory and directory not in directories:
            directories.add(directory)
            directory = os.path.dirname(directory)
    return sorted(directories)


class _Previous:
    """The previous output's directories, opened along the way without following any symlink."""

    def __init__(self, root: str) -> None:
        try:
            fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            fd = -1  # unreadable: nothing is reused, everything is written
        # (directory relative to the root, its descriptor or -1 when it is not a real directory there)
        self._open: list[tuple[str, int]] = [("", fd)]

    def directory(self, path: str) -> int | None:
        stack = self._open
        while stack[-1][0] and path != stack[-1][0] and not path.startswith(stack[-1][0] + "/"):
            fd = stack.pop()[1]
            if fd >= 0:
                os.close(fd)
        top, fd = stack[-1]
        if top != path:
            for part in (path[len(top) + 1 :] if top else path).split("/"):
                top = f"{top}/{part}" if top else part
                if fd >= 0:
                    try:
                        fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                    except OSError:
                        fd = -1
                stack.append((top, fd))
        return fd if fd >= 0 else None

    def close(self) -> None:
        for _, fd in self._open:
            if fd >= 0:
                os.close(fd)
        self._open.clear()


def _reuse(directory: int, name: str, new: str, data: bytes) -> bool:
    """Hard-link the previous output's ``name`` (in ``directory``) as ``new`` when it holds exactly ``data``.

    Creating a file costs far more than linking one on most file systems, and a regeneration mostly
    rewrites what is already there. Only a regular file of ours, with the fixed mode, linked nowhere
    else and with the same bytes (read through the new link: what is compared is what stays) is
    reused; anything else is written afresh.
    """
    try:
        os.link(name, new, src_dir_fd=directory, follow_symlinks=False)
    except OSError:
        return False
    try:
        fd = os.open(new, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            st = os.fstat(fd)
            same = (
                stat.S_ISREG(st.st_mode)
                and stat.S_IMODE(st.st_mode) == _FILE_MODE
                and st.st_nlink == 2
                and st.st_uid == os.geteuid()
                and st.st_size == len(data)
                and (not data or os.read(fd, len(data) + 1) == data)
            )
        finally:
            os.close(fd)
    except OSError:
        same = False
    if not same:
        os.unlink(new)
    return same


def _create(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        # Fixed modes: the output must not depend on the umask of whoever generated it.
        os.fchmod(fd, _FILE_MODE)
    finally:
        os.close(fd)


_NEW = "new"
_OLD = "old"


def _temp_prefix(out: Path, kind: str) -> str:
    return f".{out.name}.{kind}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _owner_pid(name: str, prefix: str) -> int | None:
    head = name[len(prefix) :].split("-", 1)[0]
    return int(head) if head.isdigit() else None


def _recover(out: Path) -> None:
    """Undo what a killed run left beside ``out``: restore a lost ``out``, remove stale temp trees.

    A temp tree is stale when the process that named it (its pid is in the name) is gone; a live
    one belongs to a concurrent run and is left alone. Only the non-atomic fallback swap can lose
    ``out`` (killed between its two renames); its moved-away old tree is then put back, whole.
    """
    parent = out.parent
    try:
        siblings = sorted(os.listdir(parent))
    except OSError:
        return
    for kind in (_OLD, _NEW):
        prefix = _temp_prefix(out, kind)
        for name in siblings:
            if not name.startswith(prefix):
                continue
            pid = _owner_pid(name, prefix)  # None: named by an older aiar, which put no pid in it
            if pid is not None and pid != os.getpid() and _alive(pid):
                continue
            path = parent / name
            if kind == _OLD and not out.exists() and (path / _MARKER).is_file():
                os.rename(path, out)
                continue
            shutil.rmtree(path, ignore_errors=True)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directory entries in one atomic step (Linux ``renameat2``); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False  # this file system (or kernel) cannot exchange: the caller falls back
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def _swap_in(staging: Path, out: Path) -> None:
    """Make ``staging`` the new ``out`` so that, at every instant, ``out`` is the whole old or new tree."""
    if not out.exists():
        os.rename(staging, out)
        return
    if _exchange(staging, out):
        # ``staging`` now names the old tree; a kill here leaves it for the next run to remove.
        shutil.rmtree(staging, ignore_errors=True)
        return
    old = Path(tempfile.mkdtemp(prefix=f"{_temp_prefix(out, _OLD)}{os.getpid()}-", dir=out.parent))
    os.rmdir(old)
    os.rename(out, old)  # a kill between these two renames: the next run renames ``old`` back
    os.rename(staging, out)
    shutil.rmtree(old, ignore_errors=True)


def write_tree(out: Path, files: Files) -> None:
    """Replace ``out`` by exactly ``files``: written to a sibling temp dir, then swapped in atomically.

    Files whose bytes are unchanged since the previous output are hard-linked from it instead of
    written again; the previous output itself is never modified, only removed once replaced. Temp
    trees a killed run left behind are cleaned up first (and a lost ``out`` restored).
    """
    _check_paths(files)
    out = out.absolute()
    _recover(out)
    previous: str | None = None
    if out.exists():
        if (out / _MARKER).exists():
            previous = str(out)
        elif any(out.iterdir()):
            raise OutputError(
                [
                    Problem(
                        str(out),
                        "",
                        f"exists, is not empty and has no {_MARKER}: not aiar's output, refusing to replace it",
                    )
                ]
            )
    directories = _directories(files)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{_temp_prefix(out, _NEW)}{os.getpid()}-", dir=out.parent))
    try:
        root = str(staging)
        for directory in directories:
            os.mkdir(os.path.join(root, directory), _DIR_MODE)
        reusable = _Previous(previous) if previous is not None else None
        try:
            for name in sorted(files):
                data = files[name]
                path = os.path.join(root, name)
                if reusable is not None:
                    directory, base = os.path.split(name)
                    fd = reusable.directory(directory)
                    if fd is not None and _reuse(fd, base, path, data):
                        continue
                _create(path, data)
        finally:
            if reusable is not None:
                reusable.close()
        for directory in ["", *directories]:
            os.chmod(os.path.join(root, directory), _DIR_MODE)
        _swap_in(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


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
