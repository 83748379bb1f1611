"""Reading a bundle (a directory or a ZIP) into memory, refusing anything unsafe.

This is the only module that touches bundle files. Everything is checked before anything is
returned, so a hostile bundle never gets as far as the output directory.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import struct
import unicodedata
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import BundleError, Problem

MAX_ENTRIES = 2_000
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_TOTAL_BYTES = 256 * 1024 * 1024
MAX_RATIO = 200
"""A ZIP entry that claims to inflate more than this many times its stored size is a bomb."""
MAX_NAME_BYTES = 255
"""Longest file or directory name (UTF-8) that common file systems hold."""
MAX_PATH_BYTES = 1024
"""Longest path in a bundle (UTF-8): room is left for where the bundle is checked out or generated."""
MAX_CENTRAL_ENTRY_BYTES = 46 + MAX_PATH_BYTES + 1024
"""What one entry of a ZIP's central directory may take: fixed header, name, extra fields and comment."""

_CONTROL = re.compile("[\x00-\x1f\x7f]")
# The end records of a ZIP (APPNOTE 4.3.14-16), read before zipfile parses the central directory.
_EOCD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_MAX_COMMENT = 0xFFFF

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

    def entry_origin(self, name: str) -> str:
        """How one of its files is named in problems: ``dir/name`` or ``bundle.zip!name``."""
        return f"{self.origin}!{name}" if self.origin.endswith(".zip") else f"{self.origin}/{name}"

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


def _name_problem(name: str) -> str | None:
    """Why a path cannot be carried to every file system the bundle and out/ may land on, if it cannot."""
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:  # a directory bundle's name that is not UTF-8 (os gives it surrogates)
        return "names must be UTF-8"
    if _CONTROL.search(name):
        return "control characters are not allowed in paths"
    if len(encoded) > MAX_PATH_BYTES:
        return f"the path is longer than {MAX_PATH_BYTES} bytes"
    if any(len(part.encode("utf-8")) > MAX_NAME_BYTES for part in name.split("/")):
        return f"a name in the path is longer than {MAX_NAME_BYTES} bytes"
    return None


def _safe_relative(name: str, origin: str) -> PurePosixPath | Problem:
    if "\\" in name:
        return Problem(origin, "", f"entry {name!r}: backslashes are not allowed in paths")
    why = _name_problem(name)
    if why is not None:
        return Problem(origin, "", f"entry {name!r}: {why}")
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


def _eocd_at(tail: bytes, search_from: int) -> int | None:
    """Where in ``tail`` the End Of Central Directory record is, found as zipfile finds it."""
    last = len(tail) - _EOCD.size
    # without an archive comment, the record ends the file; with one, it is the last signature
    if last >= 0 and tail.startswith(b"PK\x05\x06", last) and tail.endswith(b"\0\0"):
        return last
    at = tail.rfind(b"PK\x05\x06", search_from)
    return at if 0 <= at <= last else None


def _declared_directory(path: Path) -> tuple[int, int] | None:
    """The entry count and central directory size the archive's end records declare (ZIP64 included),
    or None when there are none (zipfile then says what is wrong).

    zipfile.ZipFile parses the whole central directory, however large, before anything can be
    counted; these few bytes at the end of the file say how large it is.
    """
    try:
        with path.open("rb") as stream:
            size = stream.seek(0, os.SEEK_END)
            search_from = max(size - _EOCD.size - _MAX_COMMENT, 0)
            read_from = max(search_from - _ZIP64_LOCATOR.size - _ZIP64_EOCD.size, 0)
            stream.seek(read_from)
            tail = stream.read()
    except OSError:
        return None
    at = _eocd_at(tail, search_from - read_from)
    if at is None:
        return None
    _, _, _, on_disk, total, directory_size, _, _ = _EOCD.unpack_from(tail, at)
    # ZIP64: a locator right before the record, and the ZIP64 record right before that; zipfile then
    # uses the ZIP64 record's figures.
    locator, record = at - _ZIP64_LOCATOR.size, at - _ZIP64_LOCATOR.size - _ZIP64_EOCD.size
    if record >= 0 and tail.startswith(b"PK\x06\x07", locator) and tail.startswith(b"PK\x06\x06", record):
        _, _, _, _, _, _, on_disk, total, directory_size, _ = _ZIP64_EOCD.unpack_from(tail, record)
    return max(on_disk, total), directory_size


def _check_declared(path: Path, origin: str) -> None:
    """Refuse an archive whose central directory is too large, before zipfile parses all of it."""
    declared = _declared_directory(path)
    if declared is None:
        return
    entries, directory_size = declared
    if entries > MAX_ENTRIES:
        raise BundleError([Problem(origin, "", f"too many entries: {entries} > {MAX_ENTRIES}")])
    # The count can lie, but zipfile reads as many entries as the directory's size holds: bound that too.
    if directory_size > MAX_ENTRIES * MAX_CENTRAL_ENTRY_BYTES:
        raise BundleError(
            [Problem(origin, "", f"central directory of {directory_size} bytes is too large for {MAX_ENTRIES} entries")]
        )


def _read_zip(path: Path, origin: str) -> list[tuple[str, bytes]]:
    _check_declared(path, origin)
    try:
        archive = zipfile.ZipFile(path)
    except _ZIP_READ_ERRORS as exc:
        raise BundleError([Problem(origin, "", f"not a readable ZIP file: {exc}")]) from None
    with archive:
        infos = archive.infolist()
        problems = _check_totals(origin, len(infos), sum(i.file_size for i in infos))
        wanted: list[tuple[str, zipfile.ZipInfo]] = []
        for info in infos:
            # zipfile cuts a name at its first NUL: the name as stored is what is checked
            checked = _safe_relative(info.orig_filename, origin)
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
    while stack and len(found) <= MAX_ENTRIES:
        directory = stack.pop()
        for entry in sorted(directory.iterdir()):
            rel = entry.relative_to(root).as_posix()
            st = entry.lstat()
            why = _name_problem(rel)
            if why is not None:  # not descended into: what is below has the same problem
                problems.append(Problem(origin, "", f"entry {rel!r}: {why}"))
            elif stat.S_ISLNK(st.st_mode):
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


def _collisions(names: list[str], origin: str) -> list[Problem]:
    """Entries that would be one file (or one directory) on a case-insensitive or normalising file
    system, as on macOS and Windows: the same up to case and Unicode normalisation (NFC vs NFD)."""
    spellings: dict[str, str] = {}
    problems = []
    for name in names:
        parts = name.split("/")
        for depth in range(1, len(parts) + 1):
            spelled = "/".join(parts[:depth])
            first = spellings.setdefault(unicodedata.normalize("NFC", spelled).casefold(), spelled)
            if first != spelled:
                problems.append(
                    Problem(
                        origin,
                        "",
                        f"entry {name!r}: {spelled!r} and {first!r} differ only in case or Unicode normalisation"
                        " (one file on macOS and Windows)",
                    )
                )
                break
    return problems


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
        repeated = sorted(name for name, count in Counter(names).items() if count > 1)
        raise BundleError(
            [Problem(origin, "", f"entry {name!r}: the bundle has duplicate entries") for name in repeated]
        )
    collisions = _collisions(names, origin)
    if collisions:
        raise BundleError(collisions)
    if "manifest.json" not in names:
        raise BundleError([Problem(origin, "", "manifest.json is missing at the bundle root")])
    return BundleSource(origin, tuple(files))
