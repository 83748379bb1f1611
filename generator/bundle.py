"""Reading a bundle (a directory or a ZIP) into memory, refusing anything unsafe.

This is the only module that touches bundle files. Everything is checked before anything is
returned, so a hostile bundle never gets as far as the output directory.
"""

from __future__ import annotations

import hashlib
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import BundleError, Problem

MAX_ENTRIES = 2_000
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_TOTAL_BYTES = 256 * 1024 * 1024
MAX_RATIO = 200
"""A ZIP entry that claims to inflate more than this many times its stored size is a bomb."""

# Files a bundle picks up from a developer's machine that are never part of the model.
_JUNK_NAMES = frozenset({".DS_Store", "Thumbs.db"})
_JUNK_DIRS = frozenset({"__pycache__", ".git", ".ipynb_checkpoints", ".venv", "__MACOSX"})
_JUNK_SUFFIXES = (".pyc", ".pyo")


_ZIP_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError, ValueError)


@dataclass(frozen=True)
class BundleSource:
    """The bundle's files, by POSIX path relative to the bundle root, in sorted order."""

    origin: str
    files: tuple[tuple[str, bytes], ...]

    def get(self, path: str) -> bytes | None:
        for name, data in self.files:
            if name == path:
                return data
        return None

    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.files)

    def digest(self) -> str:
        """sha256 over every path and its content: the bundle's identity."""
        h = hashlib.sha256()
        for name, data in self.files:
            h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
        return "sha256:" + h.hexdigest()


def _is_junk(path: PurePosixPath) -> bool:
    return (
        path.name in _JUNK_NAMES
        or path.name.endswith(_JUNK_SUFFIXES)
        or any(part in _JUNK_DIRS for part in path.parts[:-1])
        or path.name in _JUNK_DIRS
    )


def _safe_relative(name: str, origin: str) -> PurePosixPath | Problem:
    if "\\" in name or "\0" in name:
        return Problem(origin, "", f"entry {name!r}: backslashes and NUL are not allowed in paths")
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return Problem(origin, "", f"entry {name!r}: absolute paths are not allowed")
    if ".." in path.parts:
        return Problem(origin, "", f"entry {name!r}: '..' is not allowed in paths")
    return path


def _check_totals(origin: str, count: int, total: int) -> list[Problem]:
    problems = []
    if count > MAX_ENTRIES:
        problems.append(Problem(origin, "", f"too many entries: {count} > {MAX_ENTRIES}"))
    if total > MAX_TOTAL_BYTES:
        problems.append(Problem(origin, "", f"uncompressed size {total} bytes exceeds {MAX_TOTAL_BYTES}"))
    return problems


def _read_zip(path: Path, origin: str) -> list[tuple[str, bytes]]:
    try:
        archive = zipfile.ZipFile(path)
    except _ZIP_READ_ERRORS as exc:
        raise BundleError([Problem(origin, "", f"not a readable ZIP file: {exc}")]) from None
    with archive:
        infos = archive.infolist()
        problems = _check_totals(origin, len(infos), sum(i.file_size for i in infos))
        wanted: list[tuple[str, zipfile.ZipInfo]] = []
        for info in infos:
            checked = _safe_relative(info.filename, origin)
            if isinstance(checked, Problem):
                problems.append(checked)
                continue
            mode = info.external_attr >> 16
            if info.is_dir():
                continue
            if stat.S_ISLNK(mode):
                problems.append(Problem(origin, "", f"entry {info.filename!r}: symlinks are not allowed"))
            elif stat.S_IFMT(mode) not in (0, stat.S_IFREG):  # 0: made without Unix modes
                problems.append(Problem(origin, "", f"entry {info.filename!r}: only regular files are allowed"))
            elif info.file_size > MAX_FILE_BYTES:
                problems.append(
                    Problem(origin, "", f"entry {info.filename!r}: {info.file_size} bytes exceeds {MAX_FILE_BYTES}")
                )
            elif info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
                problems.append(
                    Problem(origin, "", f"entry {info.filename!r}: compression ratio over {MAX_RATIO} (zip bomb?)")
                )
            elif not _is_junk(PurePosixPath(checked)):
                wanted.append((str(checked), info))
        if problems:
            raise BundleError(problems)
        files = []
        for name, info in wanted:
            # Read at most the declared size plus one byte: the header may lie about the size.
            try:
                with archive.open(info) as stream:
                    data = stream.read(info.file_size + 1)
            except _ZIP_READ_ERRORS as exc:  # corrupt, encrypted or unsupported entries
                raise BundleError([Problem(origin, "", f"entry {name!r}: cannot be read: {exc}")]) from None
            if len(data) != info.file_size:
                raise BundleError([Problem(origin, "", f"entry {name!r}: size differs from its header")])
            files.append((name, data))
    return files


def _read_dir(root: Path, origin: str) -> list[tuple[str, bytes]]:
    problems: list[Problem] = []
    found: list[tuple[str, Path]] = []
    total = 0
    # os.walk would follow nothing, but we want to *see* symlinks and devices to refuse them.
    stack = [root]
    while stack:
        directory = stack.pop()
        for entry in sorted(directory.iterdir()):
            rel = entry.relative_to(root).as_posix()
            st = entry.lstat()
            if stat.S_ISLNK(st.st_mode):
                problems.append(Problem(origin, "", f"entry {rel!r}: symlinks are not allowed"))
            elif stat.S_ISDIR(st.st_mode):
                if entry.name not in _JUNK_DIRS:
                    stack.append(entry)
            elif not stat.S_ISREG(st.st_mode):
                problems.append(Problem(origin, "", f"entry {rel!r}: only regular files are allowed"))
            elif st.st_size > MAX_FILE_BYTES:
                problems.append(Problem(origin, "", f"entry {rel!r}: {st.st_size} bytes exceeds {MAX_FILE_BYTES}"))
            elif not _is_junk(PurePosixPath(rel)):
                found.append((rel, entry))
                total += st.st_size
            if len(found) > MAX_ENTRIES:
                break
    problems += _check_totals(origin, len(found), total)
    if problems:
        raise BundleError(problems)
    return [(rel, path.read_bytes()) for rel, path in found]


def _strip_single_root(files: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """ZIPs made by zipping a folder put everything under ``folder/``: look inside it."""
    if any(name == "manifest.json" for name, _ in files):
        return files
    tops = {name.split("/", 1)[0] for name, _ in files}
    if len(tops) == 1 and all("/" in name for name, _ in files):
        top = tops.pop() + "/"
        return [(name[len(top) :], data) for name, data in files]
    return files


def read_bundle(path: Path) -> BundleSource:
    """Read a bundle directory or ZIP file; raise :class:`BundleError` with every problem found."""
    origin = str(path)
    if path.is_dir():
        files = _read_dir(path, origin)
    elif path.is_file():
        files = _strip_single_root(_read_zip(path, origin))
    else:
        raise BundleError([Problem(origin, "", "no such bundle directory or ZIP file")])
    files.sort()
    names = [name for name, _ in files]
    if len(set(names)) != len(names):
        raise BundleError([Problem(origin, "", "the bundle has duplicate entries")])
    if "manifest.json" not in names:
        raise BundleError([Problem(origin, "", "manifest.json is missing at the bundle root")])
    return BundleSource(origin, tuple(files))
