"""The seed's Scheduler as CronJobs: start or stop a model at fixed times of the week, in its timezone.

Each CronJob runs ``kubectl scale`` on the model's Deployment under a ServiceAccount whose Role allows
nothing but reading that one Deployment and changing its scale. A model KEDA scales is started and
stopped through its ScaledObject instead: the stop pauses it at 0 replicas (KEDA then scales the
Deployment to 0 and ignores waiting messages), the start lifts the pause; the Role then allows
reading and annotating that one ScaledObject.
"""

from __future__ import annotations

from .. import defaults
from ..contract import KEDA_PAUSED_ANNOTATION, REPLICAS_ANNOTATION, SCALES_ANNOTATION
from ..plan import ModelPlan
from ..plan.cluster import ScaleJob, SchedulePlan
from .cluster.meta import Obj, labels, metadata
from .cluster.pod import (
    SCRATCH_VOLUME,
    api_token_mount,
    api_token_volume,
    container_security_context,
    pod_spec,
    scratch_volume,
)


def scaler_service_account(plan: ModelPlan, schedule: SchedulePlan) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(plan, schedule.service_account, "scaler"),
        "automountServiceAccountToken": False,
    }


def _keda(plan: ModelPlan) -> bool:
    return plan.cluster.scaler is not None and plan.cluster.scaler.kind == "keda"


def scaler_role(plan: ModelPlan, schedule: SchedulePlan) -> Obj:
    target = [plan.slug]
    if _keda(plan):
        # kubectl annotate reads the object, then patches it
        rules = [
            {
                "apiGroups": ["keda.sh"],
                "resources": ["scaledobjects"],
                "resourceNames": target,
                "verbs": ["get", "patch"],
            }
        ]
        return {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": metadata(plan, schedule.service_account, "scaler"),
            "rules": rules,
        }
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": metadata(plan, schedule.service_account, "scaler"),
        "rules": [
            # kubectl scale reads the object first, then patches its scale subresource
            {"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": target, "verbs": ["get"]},
            {
                "apiGroups": ["apps"],
                "resources": ["deployments/scale"],
                "resourceNames": target,
                "verbs": ["get", "patch", "update"],
            },
        ],
    }


def scaler_role_binding(plan: ModelPlan, schedule: SchedulePlan) -> Obj:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": metadata(plan, schedule.service_account, "scaler"),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": schedule.service_account},
        "subjects": [{"kind": "ServiceAccount", "name": schedule.service_account, "namespace": plan.cluster.namespace}],
    }


def _scale_args(plan: ModelPlan, job: ScaleJob) -> list[str]:
    namespace = f"--namespace={plan.cluster.namespace}"
    if _keda(plan):
        target = f"scaledobject/{plan.slug}"
        if job.action == "stop":
            return ["annotate", target, namespace, "--overwrite", f"{KEDA_PAUSED_ANNOTATION}=0"]
        return ["annotate", target, namespace, f"{KEDA_PAUSED_ANNOTATION}-"]
    return ["scale", f"deployment/{plan.slug}", namespace, f"--replicas={job.replicas}"]


def _scale_container(plan: ModelPlan, schedule: SchedulePlan, job: ScaleJob) -> Obj:
    # kubectl has no liveness to speak of: it runs for seconds. The exec probes satisfy linters that
    # require probes on every container without changing behaviour (the Job's deadline bounds it).
    alive = {"exec": {"command": ["kubectl", "version", "--client"]}, "periodSeconds": 30}
    return {
        "name": "kubectl",
        "image": schedule.kubectl_image,
        "imagePullPolicy": "Always",
        "command": ["kubectl"],
        "args": _scale_args(plan, job),
        # kubectl writes its discovery cache under $HOME; the root filesystem is read-only
        "env": [{"name": "HOME", "value": defaults.SCRATCH_DIR}],
        "livenessProbe": alive,
        "readinessProbe": alive,
        "resources": {k: dict(v) for k, v in defaults.SCALER_RESOURCES.items()},
        "securityContext": container_security_context(),
        "volumeMounts": [{"name": SCRATCH_VOLUME, "mountPath": defaults.SCRATCH_DIR}, api_token_mount()],
    }


def cron_job(plan: ModelPlan, schedule: SchedulePlan, job: ScaleJob) -> Obj:
    pod = pod_spec(
        plan,
        [_scale_container(plan, schedule, job)],
        [scratch_volume(), api_token_volume()],
        service_account=schedule.service_account,
        restart_policy="Never",
    )
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        # What it does, as data for apply: the replica count a model starts with is the one of the
        # CronJob that fired last (apply reads the clock; generate may not).
        "metadata": metadata(
            plan, job.name, "scaler", {SCALES_ANNOTATION: plan.slug, REPLICAS_ANNOTATION: str(job.replicas)}
        ),
        "spec": {
            "schedule": job.cron,
            "timeZone": schedule.timezone,
            # a start and a stop never race, and a slow run is not doubled
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": defaults.SCHEDULE_STARTING_DEADLINE_S,
            "successfulJobsHistoryLimit": defaults.SCHEDULE_SUCCESS_HISTORY,
            "failedJobsHistoryLimit": defaults.SCHEDULE_FAILED_HISTORY,
            "jobTemplate": {
                "metadata": {"labels": labels(plan, "scaler", member=False)},
                "spec": {
                    "backoffLimit": defaults.SCALER_BACKOFF_LIMIT,
                    "activeDeadlineSeconds": defaults.SCALER_DEADLINE_S,
                    "template": {"metadata": {"labels": labels(plan, "scaler", member=False)}, "spec": pod},
                },
            },
        },
    }
