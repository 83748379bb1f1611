"""``aiar start|stop|delete MODEL``: the Deployer page's buttons, as commands over ``out/`` and the cluster.

stop scales the model to 0 through the scale subresource as the ``kubectl`` field manager, the one
its schedule CronJobs scale with (``kubectl scale``), so apply and the schedule agree with it rather
than fight it; records who stopped it and when as annotations; and suspends the model's schedule
CronJobs, so a scheduled start does not wake a model a person stopped. apply keeps a stopped model
at 0 until ``aiar start`` clears the record, resumes the schedule and scales it back to what the
schedule (or the Deployment) says now.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from ..contract import DELETED_MODELS_ANNOTATION, KEDA_PAUSED_ANNOTATION, STOPPED_AT_ANNOTATION, STOPPED_BY_ANNOTATION
from . import fail
from .kube import Kube, KubeError, describe
from .outdir import KubeObject, key_of
from .prune import delete_objects, desired_group_kinds, live_group_kinds, live_members, model_of
from .replicas import scheduled_replicas
from .session import Session

SCALER_FIELD_MANAGER = "kubectl"
"""What ``kubectl scale`` (the schedule CronJobs' command) writes the scale subresource as."""
OPS_FIELD_MANAGER = "aiar-ops"
"""Who writes the stop record and the CronJobs' ``suspend``: not apply's manager, so apply leaves them."""
MERGE_PATCH = "application/merge-patch+json"


def who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _deployment(session: Session, model: str) -> KubeObject:
    out = session.out.select([model])
    found = [o for o in out.objects if o.kind == "Deployment"]
    if not found:
        raise fail(model, "has no Deployment in out/ (nothing to start or stop)")
    return found[0]


def _cronjobs(session: Session, model: str) -> list[KubeObject]:
    return [o for o in session.out.select([model]).objects if o.kind == "CronJob"]


def _scaled_objects(session: Session, model: str) -> list[KubeObject]:
    """KEDA would wake a stopped model when messages wait: a stop pauses its ScaledObject at 0."""
    return [o for o in session.out.select([model]).objects if o.kind == "ScaledObject"]


def _patch(kube: Kube, obj: KubeObject, body: dict[str, Any], manager: str, subresource: str = "") -> dict[str, Any]:
    resource = kube.resource(obj.api_version, obj.kind)
    path = resource.path(obj.key.namespace, obj.key.name) + (f"/{subresource}" if subresource else "")
    try:
        result: dict[str, Any] = kube.request("PATCH", path, [("fieldManager", manager)], body, MERGE_PATCH)
    except KubeError as exc:
        if exc.status == 404:
            raise fail(str(obj.key), "is not in the cluster: run `aiar apply` first") from None
        raise describe(exc, obj.key) from None
    return result


def scale(kube: Kube, deployment: KubeObject, replicas: int) -> None:
    _patch(kube, deployment, {"spec": {"replicas": replicas}}, SCALER_FIELD_MANAGER, "scale")


@dataclass(frozen=True)
class Lifecycle:
    model: str
    replicas: int
    stopped_by: str | None
    suspended: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "replicas": self.replicas,
            "stopped_by": self.stopped_by,
            "schedule_suspended": list(self.suspended),
        }


def stop(session: Session, model: str, by: str | None = None) -> Lifecycle:
    deployment = _deployment(session, model)
    kube = session.kube
    by = by or who()
    stamp = session.clock().isoformat(timespec="seconds")
    annotations = {STOPPED_BY_ANNOTATION: by, STOPPED_AT_ANNOTATION: stamp}
    _patch(kube, deployment, {"metadata": {"annotations": annotations}}, OPS_FIELD_MANAGER)
    cronjobs = _cronjobs(session, model)
    for cronjob in cronjobs:
        _patch(kube, cronjob, {"spec": {"suspend": True}}, OPS_FIELD_MANAGER)
    for scaled in _scaled_objects(session, model):
        _patch(kube, scaled, {"metadata": {"annotations": {KEDA_PAUSED_ANNOTATION: "0"}}}, OPS_FIELD_MANAGER)
    scale(kube, deployment, 0)
    return Lifecycle(model, 0, by, tuple(c.key.name for c in cronjobs))


def start(session: Session, model: str) -> Lifecycle:
    deployment = _deployment(session, model)
    kube = session.kube
    annotations = {STOPPED_BY_ANNOTATION: None, STOPPED_AT_ANNOTATION: None}  # merge patch: null removes
    _patch(kube, deployment, {"metadata": {"annotations": annotations}}, OPS_FIELD_MANAGER)
    cronjobs = _cronjobs(session, model)
    for cronjob in cronjobs:
        _patch(kube, cronjob, {"spec": {"suspend": None}}, OPS_FIELD_MANAGER)
    for scaled in _scaled_objects(session, model):
        _patch(kube, scaled, {"metadata": {"annotations": {KEDA_PAUSED_ANNOTATION: None}}}, OPS_FIELD_MANAGER)
    replicas = starting_replicas(session, deployment)
    scale(kube, deployment, replicas)
    return Lifecycle(model, replicas, None)


def starting_replicas(session: Session, deployment: KubeObject, now: datetime | None = None) -> int:
    """What a started model runs with: its own replica count, at least one.

    A person's start means "run it now", even outside its scheduled hours; the schedule takes over
    again at its next start or stop.
    """
    scheduled = scheduled_replicas(session.out.objects, now or session.clock()).get(deployment.key.name)
    own = int(deployment.body.get("spec", {}).get("replicas") or 1)
    return max(own, scheduled or 0, 1)


def stopped_by(live: dict[str, Any] | None) -> str | None:
    annotations = ((live or {}).get("metadata") or {}).get("annotations") or {}
    value = annotations.get(STOPPED_BY_ANNOTATION)
    return str(value) if value else None


@dataclass
class DeleteReport:
    model: str
    deleted: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "deleted": self.deleted}


def deleted_models(session: Session) -> frozenset[str]:
    """The models ``aiar delete`` removed, as recorded on the live ApplySet parent."""
    parent = session.out.parent
    live = session.kube.get(parent.api_version, parent.key) if parent is not None else None
    raw = str(((live or {}).get("metadata") or {}).get("annotations", {}).get(DELETED_MODELS_ANNOTATION) or "")
    return frozenset(name for name in raw.split(",") if name)


def _record_deleted(session: Session, models: frozenset[str]) -> None:
    parent = session.out.parent
    if parent is None:  # out/ without Kubernetes objects: nothing was applied, nothing to record
        return
    value = ",".join(sorted(models)) or None  # merge patch: null removes the annotation
    _patch(session.kube, parent, {"metadata": {"annotations": {DELETED_MODELS_ANNOTATION: value}}}, OPS_FIELD_MANAGER)


def without_deleted(session: Session) -> tuple[Session, tuple[str, ...]]:
    """plan's and apply's session: the models ``aiar delete`` removed are left out (they stay deleted
    across applies), unless named on the command line; and which were left out."""
    if session.out.selection is not None or session.out.parent is None:
        return session, ()
    deleted = deleted_models(session) & {m.slug for m in session.out.models}
    if not deleted:
        return session, ()
    kept = [m.slug for m in session.out.models if m.slug not in deleted]
    narrowed = replace(session, out=session.out.select(kept))
    return narrowed, tuple(sorted(deleted))


def revive(session: Session) -> tuple[str, ...]:
    """After an apply that named deleted models: they are back, so no longer recorded as deleted."""
    if session.out.selection is None or session.out.parent is None:
        return ()
    deleted = deleted_models(session)
    back = deleted & session.out.selection
    if back:
        _record_deleted(session, deleted - back)
    return tuple(sorted(back))


def delete(session: Session, model: str, confirm: Callable[[list[str]], bool] | None = None) -> DeleteReport:
    """Delete every live object of the model's (and only those): the ApplySet parent and the other
    models stay. It stays deleted across applies (recorded on the parent) until applied by name."""
    out = session.out.select([model])
    report = DeleteReport(model)
    if out.parent is None:
        return report
    kube = session.kube
    parent_live = kube.get(out.parent.api_version, out.parent.key)
    live = live_members(kube, out, desired_group_kinds(out.objects) | live_group_kinds(parent_live))
    mine = [obj for obj in live.values() if model_of(obj) == model]
    doomed = sorted(str(key_of(obj)) for obj in mine)
    if not doomed:
        return report
    if confirm is not None and not confirm(doomed):
        raise fail(model, "delete not confirmed; nothing was deleted")
    if parent_live is not None:
        _record_deleted(session, deleted_models(session) | {model})
    report.deleted = [str(k) for k in delete_objects(kube, mine)]
    return report
