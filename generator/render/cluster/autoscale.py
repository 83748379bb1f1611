"""What scales a model on load: KEDA for a model the bus alone drives, an HPA for a REST model.

The autoscaler owns the Deployment's replica count (the Deployment has no ``spec.replicas``; apply
sets one only to stop it). With a schedule, the stop CronJob pauses a ScaledObject at 0 replicas
(``autoscaling.keda.sh/paused-replicas: "0"``) and the start CronJob lifts the pause, so messages
arriving while the model is stopped do not wake it; an HPA does nothing while its target is at 0
replicas, so for a REST model the CronJobs keep scaling the Deployment itself.
"""

from __future__ import annotations

from ...contract import AUTOSCALED_ANNOTATION, KEDA_PAUSED_ANNOTATION
from ...plan import ModelPlan
from ...plan.observe import ScalerPlan
from .meta import Obj, metadata

KEDA_API = "keda.sh/v1alpha1"
PAUSED_REPLICAS_ANNOTATION = KEDA_PAUSED_ANNOTATION


def _scaler(plan: ModelPlan) -> ScalerPlan:
    assert plan.cluster.scaler is not None, "rendered only for an autoscaled model"
    return plan.cluster.scaler


def trigger_auth_name(plan: ModelPlan) -> str:
    return f"{plan.slug}-rabbitmq"


def trigger_authentication(plan: ModelPlan) -> Obj:
    """KEDA's RabbitMQ login: the keys of the bus Secret the model already uses, never values."""
    bus = _scaler(plan).bus
    assert bus is not None and bus.secret is not None
    refs = [{"parameter": key, "name": bus.secret, "key": key} for key in ("username", "password")]
    return {
        "apiVersion": KEDA_API,
        "kind": "TriggerAuthentication",
        "metadata": metadata(plan, trigger_auth_name(plan), "server"),
        "spec": {"secretTargetRef": refs},
    }


def scaled_object(plan: ModelPlan) -> Obj:
    scaler = _scaler(plan)
    bus = scaler.bus
    assert bus is not None
    triggers: list[Obj] = []
    for queue in bus.queues:
        trigger: Obj = {
            "type": "rabbitmq",
            "metadata": {
                "protocol": "amqp",
                "host": bus.host,
                "queueName": queue,
                "mode": "QueueLength",
                "value": str(scaler.queue_length),
            },
        }
        if bus.secret is not None:
            trigger["authenticationRef"] = {"name": trigger_auth_name(plan)}
        triggers.append(trigger)
    return {
        "apiVersion": KEDA_API,
        "kind": "ScaledObject",
        "metadata": metadata(plan, plan.slug, "server"),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": plan.slug},
            "minReplicaCount": scaler.min_replicas,
            "maxReplicaCount": scaler.max_replicas,
            "pollingInterval": scaler.polling_interval_s,
            "cooldownPeriod": scaler.cooldown_s,
            "triggers": triggers,
        },
    }


def horizontal_autoscaler(plan: ModelPlan) -> Obj:
    scaler = _scaler(plan)
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(plan, plan.slug, "server"),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": plan.slug},
            "minReplicas": scaler.min_replicas,
            "maxReplicas": scaler.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": scaler.cpu_percent},
                    },
                }
            ],
        },
    }


def autoscaler_objects(plan: ModelPlan) -> list[tuple[str, Obj]]:
    scaler = plan.cluster.scaler
    if scaler is None:
        return []
    if scaler.kind == "hpa":
        return [("horizontalpodautoscaler", horizontal_autoscaler(plan))]
    objects: list[tuple[str, Obj]] = []
    if scaler.bus is not None and scaler.bus.secret is not None:
        objects.append(("triggerauthentication", trigger_authentication(plan)))
    objects.append(("scaledobject", scaled_object(plan)))
    return objects


def autoscaled_by(plan: ModelPlan) -> dict[str, str]:
    """The Deployment's annotation naming the kind that owns its replicas (apply reads it)."""
    scaler = plan.cluster.scaler
    if scaler is None:
        return {}
    return {AUTOSCALED_ANNOTATION: "ScaledObject" if scaler.kind == "keda" else "HorizontalPodAutoscaler"}
