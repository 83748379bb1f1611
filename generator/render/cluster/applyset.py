"""The ApplySet parent: one ConfigMap per namespace that owns every object aiar applies there.

Members carry ``applyset.kubernetes.io/part-of: <id>``; the parent carries ``applyset.kubernetes.io/id``
with the same ID (computed from the parent's own name, namespace, kind and group, so no tool can
claim another's objects) and the tooling annotation. Apply prunes only labelled members of this set.
"""

from __future__ import annotations

from collections.abc import Iterable

from ... import defaults
from ...contract import APPLYSET_FILE, APPLYSET_GROUP_KINDS_ANNOTATION, APPLYSET_ID_LABEL, APPLYSET_TOOLING_ANNOTATION
from ...yamlout import dump_bytes
from .. import Files
from .meta import Obj, parent_applyset_id, tooling


def group_kind(obj: Obj) -> str:
    """``Kind.group`` as ApplySet annotations spell it (``Deployment.apps``; core kinds bare)."""
    api_version = str(obj["apiVersion"])
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    return f"{obj['kind']}.{group}" if group else str(obj["kind"])


def applyset_parent(namespace: str, members: Iterable[Obj]) -> Obj:
    kinds = sorted({group_kind(m) for m in members})
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": defaults.APPLYSET_PARENT,
            "namespace": namespace,
            "labels": {
                APPLYSET_ID_LABEL: parent_applyset_id(namespace),
                "app.kubernetes.io/managed-by": defaults.PART_OF,
            },
            "annotations": {APPLYSET_TOOLING_ANNOTATION: tooling(), APPLYSET_GROUP_KINDS_ANNOTATION: ",".join(kinds)},
        },
    }


def render_applyset(namespace: str, members: Iterable[Obj]) -> Files:
    return {APPLYSET_FILE: dump_bytes(applyset_parent(namespace, members))}
