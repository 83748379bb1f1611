"""The replica count a scheduled model gets when apply creates or updates its Deployment.

A model's scale CronJobs own its replica count between applies; at apply time the count is the one
of the CronJob that fired last, in its own timezone. So a model applied on a Friday evening, and
scheduled Mon–Fri 06:00–22:00, starts at 0 replicas rather than running until Monday. Without this
the Deployment would come up with the API server's default of 1.

A Deployment under an autoscaler (``aiar.dev/autoscaled-by``) has its replicas owned by that
autoscaler: apply sends a count only when the model is to be stopped (0), and never otherwise, so
apply and the autoscaler do not fight. Its ScaledObject is held paused at 0 while stopped
(``autoscaling.keda.sh/paused-replicas``), so KEDA does not wake it either.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from ..contract import AUTOSCALED_ANNOTATION, KEDA_PAUSED_ANNOTATION, REPLICAS_ANNOTATION, SCALES_ANNOTATION
from . import fail
from .outdir import KubeObject


def _last_fire(cronjob: Mapping[str, Any], now: datetime) -> datetime:
    spec = cronjob.get("spec") or {}
    zone = spec.get("timeZone") or "UTC"
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise fail(f"CronJob {cronjob['metadata']['name']}", f"unknown timezone {zone!r}") from None
    # get_prev is strictly before its start: from a second later, a CronJob due this very minute counts.
    previous: datetime = croniter(spec["schedule"], now.astimezone(tz) + timedelta(seconds=1)).get_prev(datetime)
    return previous


def scheduled_replicas(objects: Iterable[KubeObject], now: datetime) -> dict[str, int]:
    """Deployment name → the replicas its schedule says it has at ``now`` (an aware datetime)."""
    latest: dict[str, tuple[datetime, int]] = {}
    for obj in objects:
        annotations = obj.body.get("metadata", {}).get("annotations") or {}
        if obj.kind != "CronJob" or SCALES_ANNOTATION not in annotations:
            continue
        target, replicas = annotations[SCALES_ANNOTATION], int(annotations[REPLICAS_ANNOTATION])
        fired = _last_fire(obj.body, now)
        if target not in latest or fired > latest[target][0]:
            latest[target] = (fired, replicas)
    return {target: replicas for target, (_, replicas) in latest.items()}


def _paused(obj: KubeObject, replicas: Mapping[str, int]) -> dict[str, Any]:
    target = ((obj.body.get("spec") or {}).get("scaleTargetRef") or {}).get("name")
    if not isinstance(target, str) or replicas.get(target) != 0:
        return obj.body
    body = copy.deepcopy(obj.body)
    body["metadata"].setdefault("annotations", {})[KEDA_PAUSED_ANNOTATION] = "0"
    return body


def with_replicas(obj: KubeObject, replicas: Mapping[str, int]) -> dict[str, Any]:
    """The body apply sends: a scheduled Deployment gets its replica count for now; under an
    autoscaler, only a stop (0) is sent, and a stopped model's ScaledObject is paused at 0."""
    if obj.kind == "ScaledObject":
        return _paused(obj, replicas)
    name = obj.body.get("metadata", {}).get("name")
    if obj.kind != "Deployment" or name not in replicas:
        return obj.body
    autoscaled = AUTOSCALED_ANNOTATION in (obj.body.get("metadata", {}).get("annotations") or {})
    if autoscaled and replicas[name] != 0:
        return obj.body  # the autoscaler's to set
    if "replicas" in obj.body.get("spec", {}) and replicas[name] != 0:
        return obj.body  # its own count (no schedule); only a stop overrides it
    body = copy.deepcopy(obj.body)
    body["spec"]["replicas"] = replicas[name]
    return body
