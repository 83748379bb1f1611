"""Observability and autoscaling decisions: what to scrape, alert on and chart, and what scales a model.

Both are opt-in from the environment (``observability``, ``autoscaling``) and per model (the
manifest's ``monitoring.prometheus`` and ``autoscaling``), a manifest setting winning over the
environment's. Only aiar's own model server exports the metrics these objects name, so a
DOCKER_LAYERS model (the bundle's own server) gets no monitoring objects; it may still autoscale on CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..environment import Environment
from ..manifest import Manifest
from ..runtime import config as rc

RUNBOOKS_DOC = "docs/runbooks.md"
"""The runbooks' default place: the repository's own document, one section per alert."""


@dataclass(frozen=True)
class MonitorPlan:
    pod_monitor: bool
    alerts: bool
    dashboard: bool
    labels: tuple[tuple[str, str], ...]
    dashboard_labels: tuple[tuple[str, str], ...]
    interval_s: int
    latency_slo_s: float
    error_ratio: float
    runbook_base: str
    """``<runbook_base>#<alert anchor>`` is each alert's ``runbook_url``."""
    bus_consumers: tuple[str, ...]
    """The server's bus consumers (``prediction``, ``training``): the bus panels and alerts are theirs."""
    rest: bool
    bus_training: bool
    """The server trains from the bus (buffered): it counts its trainings and their failures."""
    drift_inputs: tuple[str, ...] = ()
    """The inputs whose drift the server scores (``monitoring.drift``)."""
    drift_psi: float = 0.2


@dataclass(frozen=True)
class BusScaleTarget:
    host: str
    """``amqp://host:port/vhost``, no credentials: those come from the TriggerAuthentication."""
    secret: str | None
    queues: tuple[str, ...]
    """The queues the server consumes, as its config declares them: one trigger each."""


@dataclass(frozen=True)
class ScalerPlan:
    kind: Literal["keda", "hpa"]
    min_replicas: int
    max_replicas: int
    cpu_percent: int
    queue_length: int
    polling_interval_s: int
    cooldown_s: int
    bus: BusScaleTarget | None
    """KEDA only: the RabbitMQ queues that drive it."""


def plan_monitor(m: Manifest, env: Environment, server: rc.ServerConfig, *, own_server: bool) -> MonitorPlan | None:
    obs = env.observability
    wanted = m.monitoring.prometheus if m.monitoring is not None else None
    if obs is None or own_server or wanted is False:
        return None
    consumers: list[str] = []
    if server.message_bus is not None and server.prediction_bus is not None:
        consumers.append("prediction")
    training_bus = server.training.bus if server.training is not None else None
    if server.message_bus is not None and training_bus is not None:
        consumers.append("training")
    monitoring = m.monitoring
    return MonitorPlan(
        pod_monitor=obs.pod_monitor,
        alerts=obs.alerts,
        dashboard=obs.dashboards,
        labels=tuple(sorted(obs.labels.items())),
        dashboard_labels=tuple(sorted(obs.dashboard_labels.items())),
        interval_s=obs.scrape_interval_s,
        latency_slo_s=(monitoring.latencySloSeconds if monitoring and monitoring.latencySloSeconds else None)
        or obs.latency_slo_s,
        error_ratio=(monitoring.errorRatio if monitoring and monitoring.errorRatio else None) or obs.error_ratio,
        runbook_base=obs.runbook_base_url or RUNBOOKS_DOC,
        bus_consumers=tuple(consumers),
        rest=server.rest is not None,
        bus_training=server.message_bus is not None and training_bus is not None and not training_bus.online,
        drift_inputs=server.drift.inputs if server.drift is not None else (),
        drift_psi=obs.drift_psi,
    )


def plan_scaler(m: Manifest, env: Environment, server: rc.ServerConfig, *, own_server: bool) -> ScalerPlan | None:
    auto, own = env.autoscaling, m.autoscaling
    enabled = own.enabled if own is not None and own.enabled is not None else auto.enabled
    if not enabled:
        return None
    minimum = own.minReplicas if own is not None and own.minReplicas is not None else auto.min_replicas
    maximum = own.maxReplicas if own is not None and own.maxReplicas is not None else auto.max_replicas
    bus = None
    # KEDA on the queues for a model the bus alone drives; a REST model needs a pod up: the HPA, on CPU
    keda = not own_server and server.rest is None and server.message_bus is not None
    if keda:
        assert server.message_bus is not None and env.message_bus is not None
        queues = []
        if server.prediction_bus is not None:
            queues.append(server.prediction_bus.queue)
        if server.training is not None and server.training.bus is not None:
            queues.append(server.training.bus.queue)
        vhost = env.message_bus.vhost.removeprefix("/")
        bus = BusScaleTarget(
            host=f"amqp://{env.message_bus.host}:{env.message_bus.port}/{vhost}",
            secret=env.message_bus.credentials_secret,
            queues=tuple(queues),
        )
        keda = bool(queues)
    if not keda:
        minimum = max(minimum, 1)  # a HorizontalPodAutoscaler does not scale to zero
    return ScalerPlan(
        kind="keda" if keda else "hpa",
        min_replicas=minimum,
        max_replicas=max(maximum, minimum, 1),
        cpu_percent=auto.cpu_percent,
        queue_length=auto.queue_length,
        polling_interval_s=auto.polling_interval_s,
        cooldown_s=auto.cooldown_s,
        bus=bus if keda else None,
    )
