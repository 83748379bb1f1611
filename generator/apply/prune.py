"""ApplySet bookkeeping (KEP-3659): the parent's annotations, the live members, what to prune.

Members are found by label (``applyset.kubernetes.io/part-of=<id>``) but only among the kinds the
parent says the set contains: a label alone could be copied onto a Pod template or a foreign object
of another kind, and we must never delete what we did not create. Namespaces are never members.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .. import __version__
from ..contract import APPLYSET_GROUP_KINDS_ANNOTATION as GROUP_KINDS
from ..contract import APPLYSET_PART_OF_LABEL
from ..contract import APPLYSET_TOOLING_ANNOTATION as TOOLING
from . import fail
from .kube import Kube, KubeError, describe
from .outdir import KubeObject, ObjectKey, OutDir, key_of

TOOL = "aiar"
NEVER_PRUNED = {("", "Namespace")}


def group_kind(key: ObjectKey) -> str:
    """``Kind.group``, or ``Kind`` for the core group: the KEP's spelling."""
    return f"{key.kind}.{key.group}" if key.group else key.kind


def parse_group_kind(text: str) -> tuple[str, str]:
    kind, _, group = text.strip().partition(".")
    return group, kind


def live_group_kinds(parent: Mapping[str, Any] | None) -> set[str]:
    if parent is None:
        return set()
    raw = str(((parent.get("metadata") or {}).get("annotations") or {}).get(GROUP_KINDS, ""))
    return {gk.strip() for gk in raw.split(",") if gk.strip()}


def check_tooling(parent: Mapping[str, Any] | None) -> None:
    """The KEP asks tools to leave alone a set another tool manages."""
    if parent is None:
        return
    tooling = str(((parent.get("metadata") or {}).get("annotations") or {}).get(TOOLING, ""))
    if tooling and not tooling.startswith(f"{TOOL}/"):
        raise fail(str(key_of(parent)), f"ApplySet is managed by {tooling!r}, not aiar: refusing to touch it")


def parent_body(out: OutDir, group_kinds: Iterable[str], extra: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The parent object to apply: as generated, plus the kinds it covers and what apply records."""
    assert out.parent is not None
    body = {**out.parent.body, "metadata": dict(out.parent.body["metadata"])}
    annotations = dict(body["metadata"].get("annotations") or {})
    annotations.setdefault(TOOLING, f"{TOOL}/v{__version__}")
    annotations[GROUP_KINDS] = ",".join(sorted(set(group_kinds)))
    annotations |= dict(extra or {})
    body["metadata"]["annotations"] = annotations
    return body


def desired_group_kinds(objects: Iterable[KubeObject]) -> set[str]:
    return {group_kind(o.key) for o in objects}


def live_members(kube: Kube, out: OutDir, group_kinds: Iterable[str]) -> dict[ObjectKey, dict[str, Any]]:
    """Every live object of the set, by key (one LIST per kind)."""
    assert out.namespace is not None and out.applyset_id is not None
    members: dict[ObjectKey, dict[str, Any]] = {}
    selector = f"{APPLYSET_PART_OF_LABEL}={out.applyset_id}"
    for gk in sorted(set(group_kinds)):
        group, kind = parse_group_kind(gk)
        if (group, kind) in NEVER_PRUNED:
            continue
        resource = kube.resource_of(ObjectKey(group, kind, out.namespace, ""))
        if resource is None:  # the kind's API is gone: nothing of it can be live
            continue
        try:
            items = kube.list(resource, out.namespace if resource.namespaced else "", selector)
        except KubeError as exc:
            raise describe(exc, ObjectKey(group, kind, out.namespace, "*")) from None
        for item in items:
            if resource.namespaced:  # cluster-scoped objects are never ours to delete
                members[key_of(item)] = item
    return members


MODEL_LABEL = "app.kubernetes.io/name"
"""The label naming the model (slug) a member belongs to: every object of a model carries it."""


def model_of(obj: Mapping[str, Any]) -> str | None:
    """The model (slug) a live member belongs to: its ``app.kubernetes.io/name`` (the instance label
    names the component's instance, ``<slug>-training`` for the training Job and its policy)."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    value = labels.get(MODEL_LABEL)
    return str(value) if value else None


def prunable(live: Mapping[ObjectKey, dict[str, Any]], out: OutDir) -> list[dict[str, Any]]:
    """Live members that ``out/`` no longer holds, not already being deleted; with a model selection,
    only the selected models' members are candidates."""
    wanted = {o.key for o in out.objects}
    return [
        obj
        for key, obj in sorted(live.items(), key=lambda kv: str(kv[0]))
        if key not in wanted and not obj["metadata"].get("deletionTimestamp") and out.owns(model_of(obj))
    ]


def delete_objects(kube: Kube, objects: Iterable[dict[str, Any]]) -> list[ObjectKey]:
    deleted = []
    for obj in objects:
        key = key_of(obj)
        resource = kube.resource(str(obj["apiVersion"]), key.kind)
        try:
            if kube.delete(resource, key.namespace, key.name, obj["metadata"].get("uid")):
                deleted.append(key)
        except KubeError as exc:
            raise describe(exc, key) from None
    return deleted
