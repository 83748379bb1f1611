"""Waiting for the cluster: training Jobs to complete, Deployments to be available and rolled out.

Each check returns (done, why-not); a definite failure raises at once instead of waiting out the
timeout, and a timeout says what was still missing, down to the pods' waiting reasons.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from . import ApplyError, fail
from .kube import Kube
from .outdir import ObjectKey

POLL_S = 0.5


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def job_state(job: dict[str, Any]) -> tuple[bool, str]:
    for kind in ("Failed", "FailureTarget"):
        failed = _condition(job, kind)
        if failed and failed.get("status") == "True":
            raise fail(_name(job), f"training Job failed: {failed.get('reason')}: {failed.get('message')}")
    done = _condition(job, "Complete")
    if done and done.get("status") == "True":
        return True, "complete"
    status = job.get("status") or {}
    return False, (
        f"not complete (active={status.get('active', 0)}, succeeded={status.get('succeeded', 0)}, "
        f"failed={status.get('failed', 0)})"
    )


def deployment_state(deployment: dict[str, Any]) -> tuple[bool, str]:
    """Rolled out and available, as ``kubectl rollout status`` judges it."""
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    progressing = _condition(deployment, "Progressing")
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        raise fail(_name(deployment), f"rollout stalled: {progressing.get('message')}")
    if status.get("observedGeneration", 0) < deployment["metadata"].get("generation", 0):
        return False, "the Deployment controller has not seen the new spec yet"
    replicas = spec.get("replicas", 1)
    if replicas == 0:  # scaled to zero by its stop schedule: nothing to wait for
        return True, "scaled to 0"
    updated = status.get("updatedReplicas", 0)
    if updated < replicas:
        return False, f"{updated} of {replicas} replicas updated"
    if status.get("replicas", 0) > updated:
        return False, f"{status.get('replicas', 0) - updated} old replica(s) still terminating"
    available = status.get("availableReplicas", 0)
    if available < updated:
        return False, f"{available} of {updated} updated replicas available"
    return True, "available"


def _name(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind', '')} {meta.get('namespace', '')}/{meta.get('name', '')}"


def _pods(kube: Kube, obj: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The object's pods (by its selector); None when it has no selector to find them by."""
    selector = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    if not selector:
        return None
    return kube.list(
        kube.resource("v1", "Pod"),
        obj["metadata"]["namespace"],
        ",".join(f"{k}={v}" for k, v in sorted(selector.items())),
    )


def _reasons(pods: list[dict[str, Any]]) -> str:
    """Why the pods are not ready: phase, waiting containers, failing conditions."""
    if not pods:
        return "no pods"
    reasons = []
    for pod in pods:
        status = pod.get("status") or {}
        why = [str(status.get("phase", "Unknown"))]
        for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
            waiting = (cs.get("state") or {}).get("waiting")
            if waiting:
                why.append(f"{cs.get('name')} {waiting.get('reason')}: {waiting.get('message') or ''}".strip(": "))
        why.extend(
            f"{cond.get('type')}={cond.get('reason')} {cond.get('message') or ''}".strip()
            for cond in status.get("conditions") or []
            if cond.get("status") != "True" and cond.get("reason")
        )
        reasons.append(f"{pod['metadata']['name']} ({', '.join(why)})")
    return "; ".join(sorted(reasons))


def pod_reasons(kube: Kube, obj: dict[str, Any]) -> str:
    pods = _pods(kube, obj)
    return "" if pods is None else _reasons(pods)


def unschedulable(pods: list[dict[str, Any]]) -> str | None:
    """The scheduler's word on a pod it cannot place (taints, resources, affinity), if any.

    Waiting cannot fix that on its own, so the wait fails at once with the scheduler's reason
    rather than after its whole timeout.
    """
    for pod in pods:
        for cond in (pod.get("status") or {}).get("conditions") or []:
            if (cond.get("type"), cond.get("status"), cond.get("reason")) == ("PodScheduled", "False", "Unschedulable"):
                why = cond.get("message") or "no reason given"
                return f"pod {pod['metadata']['name']} cannot be scheduled: {why}"
    return None


Report = Callable[[str], None]
"""Where a wait tells what is still not ready, and why, whenever that changes."""

DETAIL_EVERY_S = 2.0
"""How often the pods of a waiting object are looked at (one LIST each)."""


def wait_all(
    kube: Kube,
    api_version: str,
    keys: Sequence[ObjectKey],
    state: Callable[[dict[str, Any]], tuple[bool, str]],
    timeout_s: float,
    what: str,
    report: Report | None = None,
) -> None:
    """Poll until every object is done; on timeout, one problem per object still waiting.

    A pod the scheduler cannot place fails the wait at once, naming the scheduler's reason.
    """
    start = time.monotonic()
    deadline = start + timeout_s
    pending = list(keys)
    last: dict[ObjectKey, tuple[dict[str, Any] | None, str]] = {}
    shown: dict[ObjectKey, str] = {}
    next_detail = start
    while pending:
        still = []
        look_at_pods = time.monotonic() >= next_detail
        for key in pending:
            obj = kube.get(api_version, key)
            if obj is None:
                raise fail(str(key), f"disappeared while waiting for it to be {what}")
            done, why = state(obj)
            if done:
                if report is not None and key in shown:
                    report(f"{key}: {why}")
                continue
            still.append(key)
            last[key] = (obj, why)
            if look_at_pods:
                pods = _pods(kube, obj)
                if pods is not None:
                    stuck = unschedulable(pods)
                    if stuck is not None:
                        raise fail(str(key), f"not {what}: {stuck}")
                    why = f"{why}; pods: {_reasons(pods)}"
            if report is not None and shown.get(key) != why and (look_at_pods or key not in shown):
                shown[key] = why
                report(f"{key}: {why} ({time.monotonic() - start:.0f}s)")
        if look_at_pods:
            next_detail = time.monotonic() + DETAIL_EVERY_S
        pending = still
        if not pending:
            return
        if time.monotonic() > deadline:
            problems = []
            for key in pending:
                obj, why = last[key]
                reasons = pod_reasons(kube, obj) if obj is not None else ""
                detail = f"{why}; pods: {reasons}" if reasons else why
                problems.append(fail(str(key), f"not {what} after {timeout_s:.0f}s: {detail}").problems[0])
            raise ApplyError(problems)
        time.sleep(POLL_S)
