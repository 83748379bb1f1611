"""The environment file as plain data: read as hostile input, before any model sees it.

Whatever a file holds, reading it is bounded work: its size, nesting, number of values and integer
lengths are capped; YAML anchors, aliases and tags are refused before anything is built; only
regular files are read. Every failure is a located problem. ``environment`` validates what this
reads; this module needs no pydantic, so a command can read a file early and cheaply (``aiar
export`` reads the file ``out/`` was generated with this way only, see ``airgap/source``).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import string
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, NoReturn

from .errors import EnvironmentFileError, Problem, escape_pointer_token
from .jsonpos import Positions


def _yaml_positions(node: Any, pointer: str, positions: Positions) -> Any:
    """Plain data from ruamel's round-trip nodes, recording line:col (1-based) by pointer."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(node, CommentedMap):
        out = {}
        for key, value in node.items():
            child = f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}"
            kl, kc, vl, vc = node.lc.data[key]
            positions.keys[child] = (kl + 1, kc + 1)
            positions.values[child] = (vl + 1, vc + 1)
            out[str(key) if not isinstance(key, str) else key] = _yaml_positions(value, child, positions)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for i, value in enumerate(node):
            line, col = node.lc.data[i]
            positions.values[f"{pointer}/{i}"] = (line + 1, col + 1)
            items.append(_yaml_positions(value, f"{pointer}/{i}", positions))
        return items
    # ruamel's scalars are subclasses (ScalarInt, ScalarFloat, ...): strict validation wants the base types.
    for kind in (bool, int, float, str):
        if isinstance(node, kind):
            return kind(node)
    return node


REGISTRY_URL_PATTERN = r"^[a-z0-9.-]+(:\d+)?(/[a-z0-9._/-]+)?$"
"""A registry's host (and optional path), e.g. ``registry.example.com/ml``."""
REGISTRY_URL_MAX = 253
ENV_VAR_PATTERN = r"^[A-Z_][A-Z0-9_]*$"
ENV_VAR_MAX = 128


def beside(env_path: Path, name: str) -> Path:
    """A file the environment names: absolute, or relative to the environment file."""
    path = Path(name)
    return path if path.is_absolute() else env_path.parent / path


def environment_digest(raw: bytes, ca_bundle: bytes | None, layer_files: dict[str, str]) -> str:
    """What ``out/`` records of its environment: the file's bytes and those of the files it names
    (the CA bundle; each layer's file, by layer name)."""
    digest = hashlib.sha256(raw)
    if ca_bundle is not None:
        digest.update(b"\0ca\0" + ca_bundle)
    for name, text in sorted(layer_files.items()):
        digest.update(b"\0layer\0" + name.encode() + b"\0" + text.encode())
    return "sha256:" + digest.hexdigest()


# Bounds on what the environment file and the files it names may hold. A real environment file is
# about a kilobyte, a few levels deep, with a few dozen values whose integers are ports and limits.
MAX_ENVIRONMENT_BYTES = 1 << 20
MAX_CA_BUNDLE_BYTES = 4 << 20
MAX_LAYER_FILE_BYTES = 65536  # as for a layer's ``text``
_MAX_DEPTH = 64
_MAX_VALUES = 10_000
_MAX_INT_DIGITS = 18
_MAX_YAML_PROBLEMS = 10  # past that, more of the same only buries the first

# Not a YAML printable character (YAML 1.2, 5.1): ruamel refuses them without saying where. The
# complement of the printable set (C0 but tab and line ends, DEL, C1 but NEL, surrogates, U+FFFE/F),
# spelt out: the printable set's own negation takes 10 ms to compile, on every aiar start.
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")
# A plain scalar that YAML 1.1 or 1.2 may read as an integer (decimal, octal, hex, binary, base 60).
_INTEGER_LIKE = re.compile(r"[-+]?(?:0[xXoObB][0-9A-Fa-f_]+|[0-9][0-9_:]*)")


def _line_col(text: str, index: int) -> tuple[int, int]:
    return text.count("\n", 0, index) + 1, index - text.rfind("\n", 0, index)


def _unprintable_problems(text: str, source: str) -> list[Problem]:
    return [
        Problem(source, "", f"character U+{ord(m.group()):04X} is not allowed in YAML", *_line_col(text, m.start()))
        for m in islice(_UNPRINTABLE.finditer(text), _MAX_YAML_PROBLEMS)
    ]


@dataclass
class _Open:
    """A mapping or sequence being read: its pointer, and what comes next in it."""

    pointer: str
    is_mapping: bool
    index: int = 0
    """Sequence: the next item's index."""
    key: str | None = None
    """Mapping: the key whose value comes next; None while a key comes next."""


class _Pointers:
    """The JSON pointer of each node as ruamel's event stream goes by, without building anything."""

    def __init__(self) -> None:
        self._open: list[_Open] = []

    @property
    def depth(self) -> int:
        return len(self._open)

    def of(self, scalar: str | None) -> str:
        """The pointer of the node starting now; a mapping key is named by itself (if a scalar)."""
        if not self._open:
            return ""
        top = self._open[-1]
        if not top.is_mapping:
            return f"{top.pointer}/{top.index}"
        name = scalar if top.key is None else top.key
        return top.pointer if name is None else f"{top.pointer}/{escape_pointer_token(name)}"

    def scalar(self, value: str | None) -> None:
        self._next(value)

    def start(self, is_mapping: bool) -> None:
        self._open.append(_Open(self.of(None), is_mapping))

    def end(self) -> None:
        self._open.pop()
        self._next(None)

    def _next(self, scalar: str | None) -> None:
        if not self._open:
            return
        top = self._open[-1]
        if not top.is_mapping:
            top.index += 1
        elif top.key is None:
            top.key = "?" if scalar is None else scalar  # "?": a key that is a collection or an alias
        else:
            top.key = None


def _syntax_problem(exc: Any, source: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
    message = " ".join(str(p) for p in (exc.context, exc.problem) if p).split("\n")[0]
    return Problem(source, "", f"invalid YAML: {message}", line, col)


def _long_integer(plain: str) -> bool:
    # Checked before ruamel calls int(): converting a long literal is quadratic in its length (and
    # refused by Python past 4300 digits, with an exception no caller expects).
    return _INTEGER_LIKE.fullmatch(plain) is not None and sum(ch in string.hexdigits for ch in plain) > _MAX_INT_DIGITS


class _Stop(Exception):
    """Stops reading the document: the problems found so far are the ones to report."""


class _Screen:
    """Refuses what an environment file never needs, one parser event at a time.

    ruamel's parser is iterative and each of its events is seen here before the composer acts on it
    (recursing into a collection, registering an anchor, following an alias), so reading stops at the
    first collection nested too deep or value too many, before the composer's recursion gets deep or
    the document big. Anchors and aliases (the billion laughs), tags (arbitrary types) and integers too
    long to convert cheaply are collected wherever they are; reading then stops at the end of the
    stream, before anything is constructed.
    """

    def __init__(self, source: str) -> None:
        from ruamel.yaml import events

        self._events = events
        self.source = source
        self.problems: list[Problem] = []
        self._pointers = _Pointers()
        self._values = 0
        self.saw_the_end = False

    def see(self, event: Any) -> None:
        events = self._events
        if isinstance(event, events.CollectionEndEvent):
            self._pointers.end()
        elif isinstance(event, events.NodeEvent):
            self._node(event)
        elif isinstance(event, events.StreamEndEvent):
            self.saw_the_end = True
            if self.problems:
                raise _Stop

    def _node(self, event: Any) -> None:
        scalar = event.value if isinstance(event, self._events.ScalarEvent) else None
        pointer = self._pointers.of(scalar)
        line, col = event.start_mark.line + 1, event.start_mark.column + 1
        self._values += 1
        if self._values > _MAX_VALUES:
            self._stop(pointer, f"more than {_MAX_VALUES} keys and values", line, col)
        message = self._problem(event)
        if message is not None:
            self.problems.append(Problem(self.source, pointer, message, line, col))
            if len(self.problems) == _MAX_YAML_PROBLEMS:
                raise _Stop
        if not isinstance(event, self._events.CollectionStartEvent):
            self._pointers.scalar(scalar)
            return
        self._pointers.start(isinstance(event, self._events.MappingStartEvent))
        if self._pointers.depth > _MAX_DEPTH:
            self._stop(pointer, f"nested deeper than {_MAX_DEPTH} levels", line, col)

    def _problem(self, event: Any) -> str | None:
        """What is wrong with one node (scalar, alias, collection start), if anything."""
        if isinstance(event, self._events.AliasEvent):
            return f"YAML alias '*{event.anchor}' is not allowed; write the value out"
        if event.anchor is not None:
            return f"YAML anchor '&{event.anchor}' is not allowed; write the value out where it is needed"
        if event.tag is not None:
            return f"YAML tag '{event.tag}' is not allowed; an environment file holds plain values"
        if isinstance(event, self._events.ScalarEvent) and event.style is None and _long_integer(event.value):
            return f"integer of more than {_MAX_INT_DIGITS} digits; the numbers here are ports and limits"
        return None

    def _stop(self, pointer: str, message: str, line: int, col: int) -> NoReturn:
        self.problems.append(Problem(self.source, pointer, message, line, col))
        raise _Stop


def _screened_yaml(screen: _Screen) -> Any:
    """ruamel's round-trip reader (it keeps line:col), every event it parses shown to ``screen`` first."""
    from ruamel.yaml import YAML
    from ruamel.yaml.parser import RoundTripParser

    class ScreenedParser(RoundTripParser):
        def get_event(self) -> Any:
            # Every event reaches the composer through here (peeking does not consume it).
            event = super().get_event()
            screen.see(event)
            return event

    yaml = YAML(typ="rt")
    yaml.Parser = ScreenedParser
    yaml.allow_duplicate_keys = False
    return yaml


def read_yaml(text: str, source: str) -> tuple[Any, Positions]:
    """The document in ``text`` as plain data, and where each of its values is."""
    from ruamel.yaml.error import MarkedYAMLError

    problems = _unprintable_problems(text, source)
    if problems:
        raise EnvironmentFileError(problems)
    screen = _Screen(source)
    try:
        raw = _screened_yaml(screen).load(text)
    except _Stop:
        raw = None  # the screen holds the problems
    except MarkedYAMLError as exc:
        raw = None
        screen.problems.append(_syntax_problem(exc, source))
    if screen.problems:
        raise EnvironmentFileError(screen.problems)
    if not screen.saw_the_end:
        # ruamel changed how its composer takes events: what it read was never screened.
        raise RuntimeError("the environment file was read past the screen")
    positions = Positions()
    return _yaml_positions(raw, "", positions), positions


class Unreadable(Exception):
    """Why a file is not read: the message of a problem."""


def read_regular_file(path: Path, limit: int) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes.

    A FIFO would block and a device (``/dev/zero``) never end, so only regular files are read: the
    path is looked at before it is opened (opening some devices has effects) and the file once open
    (it may have been swapped), opened non-blocking so a FIFO cannot stall the open itself. At most
    ``limit + 1`` bytes are read, whatever the size said: a file can grow while it is read.
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise Unreadable("not a regular file")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise Unreadable("not a regular file")
            if info.st_size > limit:
                raise Unreadable(f"larger than {limit} bytes")
            chunks: list[bytes] = []
            left = limit + 1
            while left > 0 and (chunk := os.read(fd, min(left, 1 << 16))):
                chunks.append(chunk)
                left -= len(chunk)
        finally:
            os.close(fd)
    except OSError as exc:
        raise Unreadable(exc.strerror or str(exc)) from None
    if left <= 0:
        raise Unreadable(f"larger than {limit} bytes")
    return b"".join(chunks)


def read_text(path: Path) -> tuple[bytes, str]:
    """The environment file's bytes and its text, within :data:`MAX_ENVIRONMENT_BYTES`."""
    source = str(path)
    try:
        raw = read_regular_file(path, MAX_ENVIRONMENT_BYTES)
    except Unreadable as exc:
        raise EnvironmentFileError([Problem(source, "", f"cannot read: {exc}")]) from None
    try:
        return raw, raw.decode("utf-8")
    except UnicodeDecodeError:
        raise EnvironmentFileError([Problem(source, "", "not UTF-8 text")]) from None
