"""Which fields differ between a live object and what applying ours would make of it."""

from __future__ import annotations

from typing import Any

# Written by the API server on every write, or owned by controllers: never a difference we cause.
IGNORED_METADATA = ("resourceVersion", "generation", "managedFields", "creationTimestamp", "uid", "selfLink")


def comparable(obj: dict[str, Any]) -> dict[str, Any]:
    trimmed = {k: v for k, v in obj.items() if k != "status"}
    trimmed["metadata"] = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in IGNORED_METADATA}
    return trimmed


def _named(items: list[Any]) -> dict[str, Any] | None:
    """Lists of objects keyed by ``name`` (containers, ports, env) compare by name, not position."""
    if not items or not all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in items):
        return None
    by_name = {i["name"]: i for i in items}
    return by_name if len(by_name) == len(items) else None


def changed_fields(before: Any, after: Any, path: str = "") -> list[str]:
    """Dotted paths (``spec.template.spec.containers[name=predict].image``) where the two differ."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[str] = []
        for key in sorted(set(before) | set(after)):
            child = f"{path}.{key}" if path else str(key)
            if key not in before or key not in after:
                out.append(child)
            else:
                out += changed_fields(before[key], after[key], child)
        return out
    if isinstance(before, list) and isinstance(after, list):
        old, new = _named(before), _named(after)
        if old is not None and new is not None:
            out = []
            for name in sorted(set(old) | set(new)):
                child = f"{path}[name={name}]"
                out += [child] if name not in old or name not in new else changed_fields(old[name], new[name], child)
            return out
        if len(before) == len(after):
            out = []
            for i, (a, b) in enumerate(zip(before, after, strict=True)):
                out += changed_fields(a, b, f"{path}[{i}]")
            return out
    return [] if before == after else [path]


def object_diff(live: dict[str, Any], desired: dict[str, Any]) -> list[str]:
    return changed_fields(comparable(live), comparable(desired))
