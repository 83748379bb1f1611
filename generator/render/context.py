"""What every image build context shares: aiar's ``.dockerignore`` and the bundle's files put beside
what aiar generates, refusing those that would take the place of a generated file.
"""

from __future__ import annotations

import posixpath
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..errors import BundleError, Problem
from ..textrender import render
from . import Files

IGNORE_FILE = ".dockerignore"


def ignore_file() -> Files:
    """aiar's ``.dockerignore``, the same in every context."""
    return {IGNORE_FILE: render("dockerignore.j2").encode()}


def _fold(name: str) -> str:
    """One spelling for the names a case-insensitive, normalising file system (macOS, Windows) takes as one."""
    return unicodedata.normalize("NFC", name).casefold()


def _parents(path: str) -> Iterator[str]:
    directory = posixpath.dirname(path)
    while directory:
        yield directory
        directory = posixpath.dirname(directory)


@dataclass(frozen=True)
class _Taken:
    """The paths of a build context a bundle file may not have, folded (see :func:`_fold`).

    Names that differ only in case are one file where names ignore case (macOS, Windows), and a
    path cannot be a file on one side and a directory on the other.
    """

    files: dict[str, str]
    """Generated file -> its name as written."""
    directories: dict[str, str]
    """Directory of generated files -> one of them."""
    ignore_files: frozenset[str]
    """What engines read in place of aiar's ``.dockerignore`` when it exists: Podman's
    ``.containerignore``, BuildKit's ``<Dockerfile>.dockerignore`` beside the Dockerfile."""

    @classmethod
    def of(cls, context: Files, dockerfiles: Iterable[str]) -> _Taken:
        ignore_files = [
            ".containerignore",
            *(f"{d}{end}" for d in dockerfiles for end in (IGNORE_FILE, ".containerignore")),
        ]
        return cls(
            files={_fold(name): name for name in context},
            directories={_fold(parent): name for name in sorted(context) for parent in _parents(name)},
            ignore_files=frozenset(_fold(name) for name in ignore_files),
        )

    def clash(self, name: str) -> str | None:
        """Why the bundle file ``name`` cannot go into the context, or None."""
        folded = _fold(name)
        if folded in self.files:
            generated = self.files[folded]
            case = "" if generated == name else " (the same file where names ignore case, as on macOS and Windows)"
            return f"aiar writes {generated!r} into the image's build context itself{case}"
        if folded in self.directories:
            return f"aiar writes {self.directories[folded]!r}, so this must stay a directory"
        if folded in self.ignore_files:
            return f"the image builder would read it instead of aiar's {IGNORE_FILE!r}"
        parent = next((p for p in _parents(folded) if p in self.files), None)
        if parent is not None:
            return f"aiar writes the file {self.files[parent]!r}, which cannot hold other files"
        return None


def add_bundle_files(
    context: Files, files: Iterable[tuple[str, bytes]], origin: str, dockerfiles: Iterable[str]
) -> None:
    """Put the bundle's ``files`` into ``context``, which already holds everything aiar generates.

    A bundle file at a generated path would silently replace aiar's: its Dockerfile (layers, labels
    and the non-root check gone), its .dockerignore, the runtime archive. Such files are refused,
    all at once, whatever the model type.
    """
    taken = _Taken.of(context, dockerfiles)
    problems: list[Problem] = []
    for name, data in files:
        reason = taken.clash(name)
        if reason is None:
            context[name] = data
        else:
            problems.append(Problem(origin, "", f"entry {name!r}: {reason}; rename or remove the bundle's file"))
    if problems:
        raise BundleError(problems)
