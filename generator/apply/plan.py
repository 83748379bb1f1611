"""``aiar plan``: what apply would do, from a server-side dry run of every object. Never writes.

Each object is applied with ``dryRun=All``; the answer is what the object would become, so its
difference from the live object is exactly what apply would change, defaulting and other
managers' fields included. A conflict is shown as such, with the fields a forced apply would take.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from . import gateway
from .datasets import check_datasets
from .diff import object_diff
from .drift import additions
from .kube import Kube, KubeError, describe
from .lifecycle import without_deleted
from .outdir import ObjectKey, key_of
from .prune import (
    check_tooling,
    desired_group_kinds,
    live_group_kinds,
    live_members,
    model_of,
    parent_body,
    prunable,
)
from .session import Session

Action = Literal["create", "update", "delete", "unchanged", "build"]
WORKERS = 8


@dataclass(frozen=True)
class Change:
    action: Action
    subject: str
    """The object (``Kind namespace/name``), the image reference, or ``gateway``."""
    model: str | None = None
    fields: tuple[str, ...] = ()
    conflict: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "subject": self.subject,
            "model": self.model,
            "fields": list(self.fields),
            "conflict": self.conflict,
        }


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    unchanged: tuple[Change, ...] = field(default=())
    skipped: tuple[str, ...] = ()
    """Models left out because ``aiar delete`` removed them (until applied by name)."""

    @property
    def pending(self) -> bool:
        return bool(self.changes)

    def as_dict(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for change in self.changes + self.unchanged:
            counts[change.action] = counts.get(change.action, 0) + 1
        return {
            "changes": [c.as_dict() for c in self.changes],
            "counts": counts,
            "pending": self.pending,
            "skipped": list(self.skipped),
        }


def recorded(parent: Mapping[str, Any] | None) -> dict[str, str]:
    """What apply recorded on the live parent (the gateway's last push)."""
    annotations = ((parent or {}).get("metadata") or {}).get("annotations") or {}
    return {k: str(v) for k, v in annotations.items() if k in (gateway.FILE_DIGEST, gateway.KONG_HASH)}


def dry_run(kube: Kube, body: dict[str, Any], live: dict[str, Any] | None, model: str | None) -> Change:
    key = key_of(body)
    if live is None:
        live = kube.get(str(body["apiVersion"]), key)
    added = additions(live, body) if live is not None else []
    removals = tuple(f"{a.field} (added outside aiar; apply removes it)" for a in added)
    conflict = None
    try:
        after = kube.apply(body, dry_run=True)
    except KubeError as exc:
        if exc.status == 422 and removals:
            # Invalid only together with what apply removes first (a ``value`` beside ``valueFrom``).
            return Change("update", str(key), model, removals)
        if not exc.conflict:
            raise describe(exc, key) from None
        conflict = exc.message
        try:
            after = kube.apply(body, dry_run=True, force=True)
        except KubeError as again:
            if again.status == 422 and removals:
                return Change("update", str(key), model, removals, conflict)
            raise describe(again, key) from None
    if live is None:
        return Change("create", str(key), model)
    fields = tuple(object_diff(live, after)) + removals
    if not fields and _generation(live) != _generation(after):
        # The server normalises something we send (an empty list it drops, say) back to what is live:
        # no visible difference, yet every apply rewrites the object. Say so rather than hide it.
        fields = ("metadata.generation (the server rewrites this object on every apply: it normalises a field)",)
    return Change("update" if fields or conflict else "unchanged", str(key), model, fields, conflict)


def make_plan(session: Session) -> Plan:
    """Raises the problems apply would stop at before changing anything (missing datasets)."""
    session, skipped = without_deleted(session)
    out, kube = session.out, session.kube_factory
    check_datasets(session)
    changes: list[Change] = [Change("build", image.ref, image.model) for image in session.images.missing(out.images)]
    unchanged: list[Change] = []
    if out.parent is not None and out.namespace is not None:
        k = kube()
        if k.get("v1", ObjectKey("", "Namespace", "", out.namespace)) is None:
            # Nothing to dry-run against: every object is new, and apply needs the namespace first.
            changes.append(
                Change("create", f"Namespace {out.namespace}", None, ("only with apply --create-namespace",))
            )
            changes += [Change("create", str(o.key), o.model) for o in out.objects]
            return Plan(tuple(changes), tuple(unchanged), skipped)
        parent_live = k.get(out.parent.api_version, out.parent.key)
        check_tooling(parent_live)
        group_kinds = desired_group_kinds(out.objects) | live_group_kinds(parent_live)
        live = live_members(k, out, group_kinds)
        work: list[tuple[dict[str, Any], dict[str, Any] | None, str | None]] = [
            (parent_body(out, group_kinds, recorded(parent_live)), parent_live, None)
        ]
        bodies = session.bodies(live)
        work += [(bodies[o.key], live.get(o.key), o.model) for o in out.objects]
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            results = list(pool.map(lambda w: dry_run(k, *w), work))
        for change in results:
            (unchanged if change.action == "unchanged" else changes).append(change)
        models = _models_by_key(session)
        for obj in prunable(live, out):
            key = key_of(obj)
            changes.append(Change("delete", str(key), models.get(key) or model_of(obj)))
        admin = session.env.gateway.admin_url
        if admin and out.gateway is not None:
            gw = gateway.diff(admin, out.gateway, recorded(parent_live))
            (changes if gw.changed else unchanged).append(
                Change("update" if gw.changed else "unchanged", "gateway", None, (gw.reason,) if gw.changed else ())
            )
    return Plan(tuple(changes), tuple(unchanged), skipped)


def _models_by_key(session: Session) -> dict[ObjectKey, str]:
    return {o.key: o.model for o in session.out.objects if o.model}


def _generation(obj: Mapping[str, Any]) -> Any:
    return (obj.get("metadata") or {}).get("generation")
