"""A JSON reader that remembers where every value came from.

The standard library parser forgets positions and silently keeps the last of duplicate keys; both are
needed to report manifest problems as ``pointer`` plus ``line:col``. This reader is strict RFC 8259
(no NaN, no trailing commas) and records, for every JSON pointer, the position of the value and, for
object members, of the key.

It also refuses values that are valid JSON text but cannot be carried through to what is generated:
numbers that overflow a double (``1e400`` would become ``Infinity``), integers outside 64 bits, and
strings or keys holding a lone UTF-16 surrogate (``"\\ud800"``, which no UTF-8 file can hold).

Most documents are valid: they are parsed by the standard library's C parser first, and positions
are worked out only when something asks for them (a problem to locate).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from .errors import escape_pointer_token

_scanstring: Any = getattr(json.decoder, "scanstring")  # noqa: B009 - untyped in typeshed
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?")
_WS = re.compile(r"[ \t\n\r]*")
_LITERALS: dict[str, Any] = {"true": True, "false": False, "null": None}
_MAX_DEPTH = 64
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
_INT_MAX_DIGITS = len(str(_INT_MAX))
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_MESSAGE = "holds a lone UTF-16 surrogate (\\ud800-\\udfff), which cannot be written as UTF-8"
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


class Positions:
    """Line and column (1-based) of values and keys, by JSON pointer.

    Made from a JSON text, they are worked out on first use: a valid document, the usual case, never
    needs them.
    """

    def __init__(
        self,
        values: dict[str, tuple[int, int]] | None = None,
        keys: dict[str, tuple[int, int]] | None = None,
    ) -> None:
        self._values = {} if values is None else values
        self._keys = {} if keys is None else keys
        self._text: str | None = None

    @classmethod
    def of_text(cls, text: str) -> Positions:
        """The positions in ``text``, a document already known to parse, located when first asked for."""
        positions = cls()
        positions._text = text
        return positions

    def _locate(self) -> None:
        text, self._text = self._text, None
        if text is not None:
            reader = _Reader(text, self)
            reader.value(0, "", 0)

    @property
    def values(self) -> dict[str, tuple[int, int]]:
        self._locate()
        return self._values

    @property
    def keys(self) -> dict[str, tuple[int, int]]:
        self._locate()
        return self._keys

    def of(self, pointer: str, value_first: bool = False) -> tuple[int, int] | None:
        """The best position for a pointer: its key (or value), else the nearest ancestor's."""
        first, second = (self.values, self.keys) if value_first else (self.keys, self.values)
        while True:
            pos = first.get(pointer) or second.get(pointer)
            if pos is not None or not pointer:
                return pos
            pointer = pointer.rsplit("/", 1)[0]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Positions):
            return NotImplemented
        return (self.values, self.keys) == (other.values, other.keys)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Positions(values={self.values!r}, keys={self.keys!r})"


@dataclass(frozen=True)
class DuplicateKey:
    pointer: str
    line: int
    col: int


@dataclass(frozen=True)
class RefusedValue:
    """A value that is valid JSON but cannot be carried through (it reads as ``None``)."""

    pointer: str
    line: int
    col: int
    message: str


class JsonSyntaxError(ValueError):
    def __init__(self, message: str, line: int, col: int) -> None:
        super().__init__(f"{message} (line {line}, column {col})")
        self.message = message
        self.line = line
        self.col = col


@dataclass(frozen=True)
class ParsedJson:
    value: Any
    positions: Positions
    duplicates: tuple[DuplicateKey, ...]
    refused: tuple[RefusedValue, ...] = ()
    """Like duplicates, reported rather than raised; a caller must not use ``value`` when there are any."""


class _OutOfRange(ValueError):
    """A number that is valid JSON but has no faithful value here (a ValueError: the fast path falls back)."""


def _excerpt(token: str) -> str:
    return token if len(token) <= 30 else f"{token[:20]}... ({len(token)} characters)"


def _to_int(token: str) -> int:
    # Digits are counted before converting: int() of a huge literal is slow, and past 4300 digits raises.
    value = int(token) if len(token.lstrip("-")) <= _INT_MAX_DIGITS else None
    if value is None or not _INT_MIN <= value <= _INT_MAX:
        raise _OutOfRange(f"integer {_excerpt(token)} does not fit in 64 bits; write it as a string")
    return value


def _to_float(token: str) -> float:
    value = float(token)
    if not math.isfinite(value):
        raise _OutOfRange(f"number {_excerpt(token)} is beyond the range of a double (it would become infinite)")
    return value


def _may_hold_surrogates(text: str) -> bool:
    """Whether the document may decode to a lone surrogate, which the fast path cannot see: it holds
    one raw, or an escape of one, \\uD800 to \\uDFFF (a proper pair too: it only costs the slower path).
    The substring and ASCII tests first spare the usual document a regular-expression scan."""
    if "\\u" in text and _ESCAPED_SURROGATE.search(text):
        return True
    return not text.isascii() and _SURROGATE.search(text) is not None


def _printable(pointer: str) -> str:
    """A pointer that can be printed and written as UTF-8 even if a key holds a lone surrogate."""
    return pointer.encode("utf-8", "backslashreplace").decode("utf-8")


class _Reader:
    def __init__(self, text: str, positions: Positions | None = None) -> None:
        self.text = text
        self.positions = Positions() if positions is None else positions
        self.duplicates: list[DuplicateKey] = []
        self.refused: list[RefusedValue] = []
        # Offsets of line starts make offset -> (line, col) a bisection, not a rescan.
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def where(self, offset: int) -> tuple[int, int]:
        lo, hi = 0, len(self._line_starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._line_starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1, offset - self._line_starts[lo] + 1

    def fail(self, message: str, offset: int) -> JsonSyntaxError:
        line, col = self.where(offset)
        return JsonSyntaxError(message, line, col)

    def refuse(self, pointer: str, offset: int, message: str) -> None:
        self.refused.append(RefusedValue(_printable(pointer), *self.where(offset), message))

    def skip_ws(self, i: int) -> int:
        m = _WS.match(self.text, i)
        assert m is not None  # the pattern matches the empty string
        return m.end()

    def value(self, i: int, pointer: str, depth: int) -> tuple[Any, int]:
        i = self.skip_ws(i)
        if depth > _MAX_DEPTH:
            raise self.fail(f"nesting deeper than {_MAX_DEPTH} levels", i)
        self.positions.values[pointer] = self.where(i)
        if i >= len(self.text):
            raise self.fail("unexpected end of input, expected a value", i)
        ch = self.text[i]
        if ch == "{":
            return self.object(i + 1, pointer, depth + 1)
        if ch == "[":
            return self.array(i + 1, pointer, depth + 1)
        if ch == '"':
            text, end = self.string(i + 1)
            if _SURROGATE.search(text):
                self.refuse(pointer, i, f"the string {_SURROGATE_MESSAGE}")
                return None, end
            return text, end
        for word, literal in _LITERALS.items():
            if self.text.startswith(word, i):
                return literal, i + len(word)
        m = _NUMBER.match(self.text, i)
        if m is not None and m.end() > i:
            token = m.group(0)
            try:
                return (_to_float(token) if m.group(1) or m.group(2) else _to_int(token)), m.end()
            except _OutOfRange as exc:
                self.refuse(pointer, i, str(exc))
                return None, m.end()
        raise self.fail(f"unexpected character {ch!r}, expected a value", i)

    def string(self, i: int) -> tuple[str, int]:
        try:
            value, end = _scanstring(self.text, i, True)
            return str(value), int(end)
        except json.JSONDecodeError as exc:
            raise self.fail(exc.msg.lower(), exc.pos) from None

    def object(self, i: int, pointer: str, depth: int) -> tuple[dict[str, Any], int]:
        result: dict[str, Any] = {}
        i = self.skip_ws(i)
        if self.text.startswith("}", i):
            return result, i + 1
        while True:
            i = self.skip_ws(i)
            if not self.text.startswith('"', i):
                raise self.fail("expected a string key in double quotes", i)
            key_offset, key_at = i, self.where(i)
            key, i = self.string(i + 1)
            child = pointer + "/" + escape_pointer_token(key)
            if _SURROGATE.search(key):
                self.refuse(child, key_offset, f"the key {_SURROGATE_MESSAGE}")
            if key in result:
                self.duplicates.append(DuplicateKey(_printable(child), *key_at))
            self.positions.keys[child] = key_at
            i = self.skip_ws(i)
            if not self.text.startswith(":", i):
                raise self.fail("expected ':' after an object key", i)
            result[key], i = self.value(i + 1, child, depth)
            i = self.skip_ws(i)
            if self.text.startswith(",", i):
                i += 1
                continue
            if self.text.startswith("}", i):
                return result, i + 1
            raise self.fail("expected ',' or '}' in an object", i)

    def array(self, i: int, pointer: str, depth: int) -> tuple[list[Any], int]:
        result: list[Any] = []
        i = self.skip_ws(i)
        if self.text.startswith("]", i):
            return result, i + 1
        while True:
            item, i = self.value(i, f"{pointer}/{len(result)}", depth)
            result.append(item)
            i = self.skip_ws(i)
            if self.text.startswith(",", i):
                i += 1
                continue
            if self.text.startswith("]", i):
                return result, i + 1
            raise self.fail("expected ',' or ']' in an array", i)


class _Duplicate(Exception):
    """A duplicate key, found by the fast path: the careful reader says where."""


class _Unsupported(Exception):
    """What the standard library accepts and this reader refuses (NaN, Infinity)."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _Duplicate
    return result


def _constant(name: str) -> Any:
    raise _Unsupported(name)


# The number hooks raise _OutOfRange for what the reader refuses, sending such documents to the reader.
_FAST = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_constant, parse_int=_to_int, parse_float=_to_float)


def _depth(value: Any) -> int:
    """Nesting depth of containers (a scalar is 0, ``[]`` is 1)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children: Any
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def parse_json(text: str) -> ParsedJson:
    """Parse one JSON document, keeping positions and duplicate keys (the last one wins)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    # Fast path: the standard library's C parser, when it finds nothing to report. It agrees with the
    # reader below on every document without duplicate keys, NaN or Infinity, refused values, and deep
    # nesting; anything else (errors included) goes to the reader, which locates what it finds.
    fast = None if _may_hold_surrogates(text) else _fast_parse(text)
    if fast is not None:
        return fast
    reader = _Reader(text)
    value, end = reader.value(0, "", 0)
    end = reader.skip_ws(end)
    if end != len(text):
        raise reader.fail("unexpected data after the JSON document", end)
    return ParsedJson(value, reader.positions, tuple(reader.duplicates), tuple(reader.refused))


def _fast_parse(text: str) -> ParsedJson | None:
    """The document, if the C parser reads it and there is nothing to report; else None."""
    try:
        value = _FAST.decode(text)
    except (ValueError, RecursionError, _Duplicate, _Unsupported):
        return None
    # nesting deeper than the limit needs more brackets than the limit: count before walking
    if text.count("{") + text.count("[") <= _MAX_DEPTH or _depth(value) <= _MAX_DEPTH:
        return ParsedJson(value, Positions.of_text(text), ())
    return None
