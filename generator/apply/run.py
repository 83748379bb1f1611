"""``aiar apply`` and ``aiar destroy``: the order of things, visible in one function each.

apply: images (all built and pushed before the cluster is touched) -> ApplySet parent (covering the
old and new kinds, so an interruption never loses track of an object) -> objects phase by phase,
waiting for training Jobs -> gateway -> Deployments available -> prune -> parent (new kinds only).
Every step is idempotent, so a re-run after any interruption converges.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from ..contract import apply_phase
from . import ApplyError, fail, gateway
from .datasets import missing_datasets
from .drift import additions, removal_patch
from .images import ImageResult
from .kube import Kube, KubeError, describe
from .lifecycle import revive, without_deleted
from .outdir import KubeObject, ObjectKey, key_of
from .plan import WORKERS, recorded
from .preflight import pin_problems
from .prune import (
    check_tooling,
    delete_objects,
    desired_group_kinds,
    live_group_kinds,
    live_members,
    parent_body,
    prunable,
)
from .session import Session
from .wait import deployment_state, job_state, wait_all


@dataclass
class ApplyReport:
    images: list[ImageResult] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    """Objects whose resourceVersion the apply moved (created or updated)."""
    unchanged: int = 0
    pruned: list[str] = field(default_factory=list)
    overridden: list[str] = field(default_factory=list)
    """Changes of other field managers that the apply took over (the API server's conflict message)."""
    removed: list[str] = field(default_factory=list)
    """Fields added outside aiar, in its domain, that the apply removed (see :mod:`.drift`)."""
    skipped: list[str] = field(default_factory=list)
    """Models left out because ``aiar delete`` removed them (until applied by name)."""
    gateway_pushed: bool = False
    seconds: float = 0.0

    @property
    def built(self) -> int:
        return sum(1 for r in self.images if r.action == "built")

    @property
    def pushed(self) -> int:
        return sum(1 for r in self.images if r.action in ("built", "pushed"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "images": [{"ref": r.image.ref, "action": r.action, "seconds": round(r.seconds, 2)} for r in self.images],
            "built": self.built,
            "pushed": self.pushed,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "pruned": self.pruned,
            "overridden": self.overridden,
            "removed": self.removed,
            "skipped": self.skipped,
            "gateway_pushed": self.gateway_pushed,
            "seconds": round(self.seconds, 2),
        }


def phases(objects: Iterable[KubeObject]) -> list[list[KubeObject]]:
    """Objects grouped by apply phase; the order within a phase (by model, then file) is kept."""
    ordered = sorted(objects, key=lambda o: apply_phase(o.kind))
    return [list(group) for _, group in groupby(ordered, key=lambda o: apply_phase(o.kind))]


NAMESPACE_HELP = (
    "create it and the Secrets its objects reference first (README, 'Deploying to a cluster'), "
    "or run apply with --create-namespace"
)


def namespace_exists(session: Session) -> bool:
    namespace = session.out.namespace
    if namespace is None:
        return True
    return session.kube.get("v1", ObjectKey("", "Namespace", "", namespace)) is not None


def apply(
    session: Session, force_conflicts: bool = True, timeout_s: float = 600.0, create_namespace: bool = False
) -> ApplyReport:
    """Make the cluster match out/. ``force_conflicts``: aiar owns its objects, so a field another
    manager changed is taken back (and reported); False keeps the cautious behaviour, failing instead.
    ``create_namespace``: create out/'s namespace when missing (after the builds; never pruned)."""
    start = time.monotonic()
    report = ApplyReport()
    session, skipped = without_deleted(session)
    report.skipped = list(skipped)
    out, progress = session.out, session.progress
    for name in skipped:
        progress.note(
            f"{name} (deleted with `aiar delete`; `aiar apply {name}` brings it back)", label="skipped       "
        )

    # 0. The namespace, checked before any build: without it nothing below can be applied.
    missing_namespace = not namespace_exists(session)
    if missing_namespace and not create_namespace:
        raise fail(f"Namespace {out.namespace}", f"does not exist: {NAMESPACE_HELP}")
    # 1. Images, before anything in the cluster: a failed build leaves the cluster as it was. Before
    #    any build, every dataset a training Job will read is in storage and every pin installs.
    missing = session.images.missing(out.images)
    problems = missing_datasets(session)
    if missing:
        problems += pin_problems(missing, session.env, session.images.docker)
    if problems:
        raise ApplyError(problems)
    present = [i for i in out.images if i not in missing]
    for image in present:
        report.images.append(ImageResult(image, "present", 0.0))
    for image in missing:
        with progress.working(image):
            result = session.images.ensure(image, progress.log, progress.detail)
        report.images.append(result)
        progress.image(result)
    progress.note(f"images: {report.built} built, {report.pushed} pushed, {len(present)} already in the registry")
    if missing_namespace:
        session.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": out.namespace}})
        report.changed.append(f"Namespace {out.namespace}")
        progress.note(f"Namespace {out.namespace}", label="created       ", label_style="green")

    if out.parent is None:
        report.seconds = time.monotonic() - start
        return report
    kube = session.kube

    # 2. The parent first, listing the kinds of both the old and the new set.
    parent_live = kube.get(out.parent.api_version, out.parent.key)
    check_tooling(parent_live)
    now_kinds = desired_group_kinds(out.objects)
    live = live_members(kube, out, now_kinds | live_group_kinds(parent_live))
    gateway_record = recorded(parent_live)
    before = {**live, **({out.parent.key: parent_live} if parent_live else {})}
    _apply_all(
        kube,
        [parent_body(out, now_kinds | live_group_kinds(parent_live), gateway_record)],
        before,
        force_conflicts,
        report,
    )

    # 3. Objects, phase by phase; training must finish before serving rolls out.
    bodies = session.bodies(live)
    for group in phases(out.objects):
        _apply_all(kube, [bodies[o.key] for o in group], before, force_conflicts, report)
        for api_version, keys in _waits(group).items():
            progress.note(f"waiting for {len(keys)} object(s) to complete: {', '.join(k.name for k in keys)}")
            wait_all(kube, api_version, keys, job_state, timeout_s, "complete", progress.waiting)

    # 4. Gateway.
    admin = session.env.gateway.admin_url
    if admin and out.gateway is not None and gateway.diff(admin, out.gateway, gateway_record).changed:
        gateway_record = gateway.push(admin, out.gateway)
        report.gateway_pushed = True
        progress.note(f"gateway: config pushed to {admin}")

    # 5. Serving is up before anything old goes away.
    deployments = [o.key for o in out.objects if o.kind == "Deployment"]
    if deployments:
        progress.note(f"waiting for {len(deployments)} Deployment(s) to be available")
        wait_all(kube, "apps/v1", deployments, deployment_state, timeout_s, "available", progress.waiting)

    # 6. Prune what left out/, then narrow the parent to the kinds the set now holds.
    doomed = prunable(live, out)
    report.pruned = [str(k) for k in delete_objects(kube, doomed)]
    for name in report.pruned:
        progress.note(name, label="pruned        ", label_style="red")
    # A selection leaves the other models' objects live: the parent keeps covering their kinds.
    kinds = now_kinds if out.selection is None else now_kinds | live_group_kinds(parent_live)
    _apply_all(kube, [parent_body(out, kinds, gateway_record)], before, force_conflicts, report, count=False)
    revive(session)  # deleted models named on the command line are back
    report.seconds = time.monotonic() - start
    for name in report.changed:
        progress.note(name, label="changed       ", label_style="yellow")
    for text in report.overridden:
        progress.note(text, label="overrode      ", label_style="yellow")
    for text in report.removed:
        progress.note(text, label="removed       ", label_style="yellow")
    progress.note(
        f"objects: {len(report.changed)} changed, {report.unchanged} unchanged, {len(report.pruned)} pruned "
        f"({report.seconds:.1f}s)"
    )
    return report


def _waits(group: Sequence[KubeObject]) -> dict[str, list[ObjectKey]]:
    """Objects of the phase that later phases wait for (the index's ``wait_for``: training Jobs)."""
    waits: dict[str, list[ObjectKey]] = {}
    for obj in group:
        if obj.wait_for is not None:
            if (obj.kind, obj.wait_for) != ("Job", "Complete"):
                raise fail(obj.path, f"apply cannot wait for {obj.wait_for!r} on a {obj.kind}")
            waits.setdefault(obj.api_version, []).append(obj.key)
    return waits


def _apply_all(
    kube: Kube,
    bodies: Sequence[dict[str, Any]],
    before: dict[ObjectKey, dict[str, Any]],
    force: bool,
    report: ApplyReport,
    count: bool = True,
) -> None:
    def one(body: dict[str, Any]) -> tuple[ObjectKey, bool]:
        key = key_of(body)
        live = before.get(key)
        found = additions(live, body) if live is not None else []
        if found:
            # Removed before aiar's own fields return: some additions (a ``value`` beside aiar's
            # ``valueFrom``) would make the applied object invalid.
            try:
                kube.json_patch(str(body["apiVersion"]), key, removal_patch(found))
            except KubeError as exc:
                raise describe(exc, key) from None
            report.removed += [f"{key}: {a.field}" for a in found]
        try:
            after = kube.apply(body)
        except KubeError as exc:
            if not (exc.conflict and force):
                raise describe(exc, key) from None
            # Someone else changed a field of ours: say whose change is overridden, then take it back.
            report.overridden.append(f"{key}: {exc.message}")
            try:
                after = kube.apply(body, force=True)
            except KubeError as again:
                raise describe(again, key) from None
        old = before.get(key)
        moved = old is None or old["metadata"].get("resourceVersion") != after["metadata"].get("resourceVersion")
        before[key] = after
        return key, moved

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = list(pool.map(one, bodies))
    if not count:
        return
    for key, moved in results:
        if moved:
            report.changed.append(str(key))
        else:
            report.unchanged += 1


@dataclass
class DestroyReport:
    deleted: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"deleted": self.deleted}


def destroy(session: Session, confirm: Callable[[list[str]], bool] | None = None) -> DestroyReport:
    """Delete every member of the set, then the parent; the namespace and anything unlabelled stay.

    ``confirm`` is shown what would be deleted first; when it says no, nothing is.
    """
    out, report = session.out, DestroyReport()
    if out.parent is None:
        return report
    kube = session.kube
    parent_live = kube.get(out.parent.api_version, out.parent.key)
    check_tooling(parent_live)
    live = live_members(kube, out, desired_group_kinds(out.objects) | live_group_kinds(parent_live))
    doomed = sorted(str(k) for k in live) + ([str(out.parent.key)] if parent_live is not None else [])
    if confirm is not None and doomed and not confirm(doomed):
        raise fail(str(out.parent.key), "destroy not confirmed; nothing was deleted")
    report.deleted = [str(k) for k in delete_objects(kube, live.values())]
    if parent_live is not None:
        report.deleted += [str(k) for k in delete_objects(kube, [parent_live])]
    for name in report.deleted:
        session.progress.note(name, label="deleted ", label_style="red")
    return report


@dataclass
class ObjectStatus:
    subject: str
    model: str | None
    state: str

    def as_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "model": self.model, "state": self.state}


def status(session: Session) -> list[ObjectStatus]:
    """Each object of out/: missing, present, or for Jobs and Deployments, their progress."""
    kube = session.kube

    def one(obj: KubeObject) -> ObjectStatus:
        try:
            live = kube.get(obj.api_version, obj.key)
        except KubeError as exc:
            return ObjectStatus(str(obj.key), obj.model, f"error: {exc.message}")
        if live is None:
            return ObjectStatus(str(obj.key), obj.model, "missing")
        if obj.kind in ("Job", "Deployment"):
            check = job_state if obj.kind == "Job" else deployment_state
            try:
                _, why = check(live)
            except Exception as exc:  # a failed Job or stalled rollout is a state to show here
                why = str(exc)
            return ObjectStatus(str(obj.key), obj.model, why)
        return ObjectStatus(str(obj.key), obj.model, "present")

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(one, session.out.objects))
