"""Parse and validate documents, turning every failure into located :class:`Problem` s.

pydantic reports locations as tuples that include union tags (``'HISTORIC_DATA'``) and validator
names; :func:`located_problems` walks them against the actual document so that what the user sees is
the pointer into what they wrote, with the line and column of that spot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from .errors import Problem, pointer_of
from .jsonpos import JsonSyntaxError, Positions, parse_json

M = TypeVar("M", bound=BaseModel)


def _document_path(document: Any, loc: Iterable[str | int]) -> tuple[str | int, ...]:
    """The part of a pydantic location that names real keys and indexes of ``document``."""
    path: list[str | int] = []
    node = document
    for part in loc:
        if isinstance(node, dict) and isinstance(part, str) and part in node:  # noqa: SIM114 - mypy narrows each
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and not part[:1].isupper() and "[" not in part:
            # A missing field: the pointer names what is absent. Union tags (``PYTHON``) and
            # validator labels (``function-after[...]``) are not part of the document: skipped.
            path.append(part)
            node = None
    return tuple(path)


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "union_tag_invalid":
        ctx = error.get("ctx", {})
        return f"unknown type {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags', '')}"
    if kind == "union_tag_not_found":
        return "required field is missing"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def located_problems(error: ValidationError, document: Any, positions: Positions, source: str) -> list[Problem]:
    problems = []
    for item in error.errors():
        path = _document_path(document, item["loc"])
        if item["type"] in ("union_tag_invalid", "union_tag_not_found"):
            # the problem is the discriminator, not the whole entry
            path += (str(item.get("ctx", {}).get("discriminator", "'type'")).strip("'"),)
        pointer = pointer_of(path)
        # A wrong value is shown where the value is; a missing or unknown field where its key is.
        where = positions.of(pointer, value_first=item["type"] not in ("missing", "extra_forbidden"))
        line, col = where if where else (None, None)
        problems.append(Problem(source, pointer, _message(item), line, col))
    return sorted(set(problems), key=lambda p: (p.line or 0, p.col or 0, p.pointer, p.message))


def parse_and_validate(
    text: str,
    source: str,
    model: type[M],
    extra_checks: Callable[[M, Positions], list[Problem]] | None = None,
    fallback_checks: Callable[[Any, Positions], list[Problem]] | None = None,
) -> tuple[M | None, list[Problem], Positions]:
    """Parse JSON text into ``model``: the model (if valid), every problem found, and positions.

    ``extra_checks`` run on a valid model; ``fallback_checks`` on the raw document when it is not, so
    that what can still be checked (files the bundle lacks, say) is reported with the schema errors.
    """
    try:
        parsed = parse_json(text)
    except JsonSyntaxError as exc:
        return None, [Problem(source, "", f"invalid JSON: {exc.message}", exc.line, exc.col)], Positions()
    problems = [Problem(source, d.pointer, "duplicate key", d.line, d.col) for d in parsed.duplicates]
    if parsed.refused:
        # A refused value reads as None: validating the document would only add misleading problems.
        problems += [Problem(source, r.pointer, r.message, r.line, r.col) for r in parsed.refused]
        return None, problems, parsed.positions
    try:
        result = model.model_validate(parsed.value)
    except ValidationError as exc:
        problems += located_problems(exc, parsed.value, parsed.positions, source)
        if fallback_checks is not None:
            problems += fallback_checks(parsed.value, parsed.positions)
        return None, problems, parsed.positions
    if extra_checks is not None:
        problems += extra_checks(result, parsed.positions)
    return (None if problems else result), problems, parsed.positions
