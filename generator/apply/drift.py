"""Fields someone else added to the objects aiar owns, in the parts of them that are aiar's to decide.

Server-side apply restores the fields aiar sets, but it never removes a field another manager added:
a sidecar container, an extra env var, a label. In aiar's domain — containers, their env and volume
mounts, volumes, and labels and annotations under aiar's prefixes — such additions are drift: plan
shows them and apply removes them with a JSON patch that first tests each element is still the one
it looked at. Everything else (other prefixes' labels, fields controllers or webhooks own) stays.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..contract import OPERATIONAL_ANNOTATIONS
from ..errors import escape_pointer_token

OWNED_LABEL_PREFIXES = ("app.kubernetes.io/", "aiar.dev/", "applyset.kubernetes.io/")
OWNED_ANNOTATION_PREFIXES = ("aiar.dev/",)

# Where each kind keeps its pod template, as a path of keys.
POD_TEMPLATES: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


@dataclass(frozen=True)
class Addition:
    field: str
    """Dotted, as plan shows fields: ``spec.template.spec.containers[name=sidecar]``."""
    pointer: str
    """JSON pointer into the live object, for the patch that removes it."""
    test: tuple[str, Any] | None = None
    """(pointer, value) the patch tests first: a list element is removed only if it is still that one."""


def _get(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _pointer(path: tuple[str | int, ...]) -> str:
    return "".join("/" + escape_pointer_token(p) for p in path)


def _dotted(path: tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in path)


def _keys(live: Any, desired: Any, path: tuple[str, ...], prefixes: tuple[str, ...]) -> Iterator[Addition]:
    have = _get(live, path) or {}
    want = _get(desired, path) or {}
    if not isinstance(have, Mapping) or not isinstance(want, Mapping):
        return
    for key in sorted(have):
        if key.startswith(prefixes) and key not in want and key not in OPERATIONAL_ANNOTATIONS:
            yield Addition(f"{_dotted(path)}.{key}", _pointer((*path, key)))


def _named(
    live: Any, desired: Any, path: tuple[str, ...], shown: str, key: str = "name"
) -> Iterator[tuple[Addition | None, tuple[str | int, ...], Mapping[str, Any] | None, Mapping[str, Any]]]:
    """Elements of the list at ``path`` by ``key``: (an Addition if only live has it, the element's
    path, the desired element, the live element)."""
    have = _get(live, path) or []
    want = _get(desired, path) or []
    if not isinstance(have, list) or not isinstance(want, list):
        return
    wanted = {item.get(key): item for item in want if isinstance(item, Mapping)}
    for index, item in enumerate(have):
        if not isinstance(item, Mapping):
            continue
        element: tuple[str | int, ...] = (*path, index)
        name = item.get(key)
        if name in wanted:
            yield None, element, wanted[name], item
        else:
            test = (_pointer((*element, key)), name)
            yield Addition(f"{shown}[{key}={name}]", _pointer(element), test), element, None, item


def _pod(live: Any, desired: Any, template: tuple[str, ...]) -> Iterator[Addition]:
    yield from _keys(live, desired, (*template, "metadata", "labels"), OWNED_LABEL_PREFIXES)
    yield from _keys(live, desired, (*template, "metadata", "annotations"), OWNED_ANNOTATION_PREFIXES)
    spec = (*template, "spec")
    for list_name in ("initContainers", "containers", "volumes"):
        shown = _dotted((*spec, list_name))
        for addition, element, want, _ in _named(live, desired, (*spec, list_name), shown):
            if addition is not None:
                yield addition
            elif list_name != "volumes" and want is not None:
                yield from _container(live, desired, element, want)


def _container(live: Any, desired: Any, element: tuple[str | int, ...], want: Mapping[str, Any]) -> Iterator[Addition]:
    live_container: Any = live
    for key in element:
        live_container = live_container[key]
    name = live_container.get("name")
    shown = f"{_dotted(element[:-1])}[name={name}]"
    for list_name, key in (("env", "name"), ("envFrom", "prefix"), ("volumeMounts", "mountPath")):
        have = live_container.get(list_name) or []
        wanted = {item.get(key): item for item in want.get(list_name) or [] if isinstance(item, Mapping)}
        for index, item in enumerate(have):
            if not isinstance(item, Mapping):
                continue
            pointer = _pointer((*element, list_name, index))
            test = (f"{pointer}/{key}", item.get(key))
            if item.get(key) not in wanted:
                yield Addition(f"{shown}.{list_name}[{key}={item.get(key)}]", pointer, test)
            elif list_name == "env":
                # ``kubectl set env`` on a variable aiar reads from a Secret replaces ``valueFrom`` by a
                # ``value``: the two together are invalid, so the stray one goes before aiar's returns.
                for source in ("value", "valueFrom"):
                    if source in item and source not in wanted[item.get(key)]:
                        yield Addition(f"{shown}.env[name={item.get(key)}].{source}", f"{pointer}/{source}", test)


def additions(live: Mapping[str, Any], desired: Mapping[str, Any]) -> list[Addition]:
    """What ``live`` holds in aiar's domain that ``desired`` (aiar's body) does not."""
    found = list(_keys(live, desired, ("metadata", "labels"), OWNED_LABEL_PREFIXES))
    found += _keys(live, desired, ("metadata", "annotations"), OWNED_ANNOTATION_PREFIXES)
    template = POD_TEMPLATES.get(str(desired.get("kind", "")))
    if template is not None:
        found += _pod(live, desired, template)
    return found


def removal_patch(found: list[Addition]) -> list[dict[str, Any]]:
    """A JSON patch (RFC 6902) removing them; list elements from the last index down, each tested first."""
    ops: list[dict[str, Any]] = []
    for addition in sorted(found, key=lambda a: _sort_key(a.pointer), reverse=True):
        if addition.test is not None:
            ops.append({"op": "test", "path": addition.test[0], "value": addition.test[1]})
        ops.append({"op": "remove", "path": addition.pointer})
    return ops


def _sort_key(pointer: str) -> tuple[tuple[int, int | str], ...]:
    """Pointer segments in order, indexes compared as numbers (``/10`` after ``/9``)."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in pointer.split("/")[1:])
