"""Kubernetes objects of one model, one object per file under ``<slug>/k8s/``, in apply order.

The order is the contract's (:data:`generator.contract.KIND_PHASE`): config, RBAC, the training Job
(apply waits for it), the Deployment, its Service and PodDisruptionBudget, its autoscaler, the
schedule's CronJobs, the NetworkPolicies, then monitoring (PodMonitor, PrometheusRule; the dashboard
is a ConfigMap); within a phase, the order they are built in here.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...contract import K8S_DIR, apply_phase
from ...plan import ModelPlan
from ...yamlout import dump_bytes
from .. import Files
from ..image import BuiltImage
from ..schedule import cron_job, scaler_role, scaler_role_binding, scaler_service_account
from .autoscale import autoscaler_objects
from .dashboard import dashboard_config_map
from .meta import WAIT_ANNOTATION, Obj
from .monitor import pod_monitor, prometheus_rule
from .network import scaler_policy, server_policy, training_policy
from .workload import config_map, deployment, disruption_budget, service, service_account, training_job


@dataclass(frozen=True)
class ClusterObjects:
    files: Files
    order: tuple[str, ...]
    """Paths of the object files, relative to the output root, in apply order."""
    waits: tuple[tuple[str, str], ...]
    """(path, condition) of objects apply must see reach that condition before going on."""
    objects: tuple[Obj, ...]


def _objects(plan: ModelPlan, images: tuple[BuiltImage, ...], server_json: bytes) -> list[tuple[str, Obj]]:
    by_role = {image.role: image for image in images}
    config = config_map(plan, server_json)
    config_name = str(config["metadata"]["name"])
    objects: list[tuple[str, Obj]] = [("configmap", config), ("serviceaccount", service_account(plan))]
    schedule = plan.cluster.schedule
    if schedule is not None:
        objects += [
            ("serviceaccount-scaler", scaler_service_account(plan, schedule)),
            ("role-scaler", scaler_role(plan, schedule)),
            ("rolebinding-scaler", scaler_role_binding(plan, schedule)),
        ]
    if plan.trains_from_storage:
        objects.append(("job-train", training_job(plan, by_role["train"], config_name)))
    objects.append(("deployment", deployment(plan, by_role["predict"], config_name)))
    if plan.cluster.serves_rest:
        objects.append(("service", service(plan)))
    if plan.cluster.max_replicas > 1:
        objects.append(("poddisruptionbudget", disruption_budget(plan)))
    objects += autoscaler_objects(plan)
    if schedule is not None:
        for job in schedule.jobs:
            objects.append((f"cronjob-{job.name.removeprefix(plan.slug + '-')}", cron_job(plan, schedule, job)))
    objects.append(("networkpolicy", server_policy(plan)))
    if plan.trains_from_storage:
        objects.append(("networkpolicy-training", training_policy(plan)))
    if schedule is not None:
        objects.append(("networkpolicy-scaler", scaler_policy(plan, schedule)))
    monitor = plan.cluster.monitor
    if monitor is not None:
        if monitor.dashboard:
            objects.append(("configmap-dashboard", dashboard_config_map(plan)))
        if monitor.pod_monitor:
            objects.append(("podmonitor", pod_monitor(plan)))
        if monitor.alerts:
            objects.append(("prometheusrule", prometheus_rule(plan)))
    return objects


def render_cluster(plan: ModelPlan, images: tuple[BuiltImage, ...], server_json: bytes) -> ClusterObjects:
    files: Files = {}
    order: list[str] = []
    waits: list[tuple[str, str]] = []
    # sorted is stable: within a phase, the order of _objects; a kind without a phase is an error here
    objects = sorted(_objects(plan, images, server_json), key=lambda item: apply_phase(str(item[1]["kind"])))
    for stem, obj in objects:
        path = f"{plan.slug}/{K8S_DIR}/{stem}.yaml"
        files[path] = dump_bytes(obj)
        order.append(path)
        wait = obj["metadata"].get("annotations", {}).get(WAIT_ANNOTATION)
        if wait is not None:
            waits.append((path, str(wait)))
    return ClusterObjects(files, tuple(order), tuple(waits), tuple(obj for _, obj in objects))
