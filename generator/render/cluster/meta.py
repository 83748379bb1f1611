"""Names, labels and annotations shared by every Kubernetes object aiar renders.

Labels follow the recommended ``app.kubernetes.io/*`` set. ``name`` is the model's slug; ``instance``
tells apart the model's separate workloads (the server, its training run, its scaler) so that the
selectors, which use only ``name`` + ``instance``, never match a Job's pods: a Service selecting a
running training pod would send it traffic. ``version`` changes with every release, so it is never in
a selector (selectors of Deployments are immutable).
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Literal

from ... import __version__, defaults
from ...contract import APPLYSET_PART_OF_LABEL
from ...plan import ModelPlan

Obj = dict[str, Any]
Component = Literal["server", "training", "scaler"]

WAIT_ANNOTATION = f"{defaults.ANNOTATION_PREFIX}/apply-wait-for"
"""On a training Job: the condition apply waits for before it rolls out serving (``Complete``)."""


def applyset_id(name: str, namespace: str, kind: str, group: str) -> str:
    """The ApplySet ID of a parent object, as KEP-3659 and kubectl compute it.

    ``applyset-<base64url(sha256("<name>.<namespace>.<kind>.<group>")), unpadded>-v1``.
    """
    digest = hashlib.sha256(f"{name}.{namespace}.{kind}.{group}".encode()).digest()
    return f"applyset-{base64.urlsafe_b64encode(digest).decode().rstrip('=')}-v1"


def parent_applyset_id(namespace: str) -> str:
    """The ID of aiar's ApplySet parent: a ConfigMap (core group) in the models' namespace."""
    return applyset_id(defaults.APPLYSET_PARENT, namespace, "ConfigMap", "")


def content_hash(data: Any) -> str:
    """A short hash of JSON-able data or bytes, for names of objects whose content is immutable."""
    raw = data if isinstance(data, bytes) else json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(raw).hexdigest()[: defaults.NAME_HASH_LENGTH]


def instance(plan: ModelPlan, component: Component) -> str:
    return plan.slug if component == "server" else f"{plan.slug}-{component}"


def selector(plan: ModelPlan, component: Component) -> dict[str, str]:
    return {"app.kubernetes.io/name": plan.slug, "app.kubernetes.io/instance": instance(plan, component)}


def labels(plan: ModelPlan, component: Component, *, member: bool = True) -> dict[str, str]:
    """Every label of an object; ``member=False`` for pod templates (pods are not ApplySet members)."""
    result = selector(plan, component) | {
        "app.kubernetes.io/version": str(plan.version),
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": defaults.PART_OF,
        "app.kubernetes.io/managed-by": defaults.PART_OF,
    }
    if member:
        result[APPLYSET_PART_OF_LABEL] = parent_applyset_id(plan.cluster.namespace)
    return result


def model_annotations(plan: ModelPlan) -> dict[str, str]:
    return {
        f"{defaults.ANNOTATION_PREFIX}/model": plan.manifest.name,
        f"{defaults.ANNOTATION_PREFIX}/model-version": str(plan.version),
    }


def metadata(plan: ModelPlan, name: str, component: Component, extra: dict[str, str] | None = None) -> Obj:
    return {
        "name": name,
        "namespace": plan.cluster.namespace,
        "labels": labels(plan, component),
        "annotations": model_annotations(plan) | (extra or {}),
    }


def tooling() -> str:
    return f"{defaults.PART_OF}/v{__version__}"
