"""The cluster part of the plan: every decision the Kubernetes, schedule and gateway renderers need.

:func:`generator.plan.plan_model` calls :func:`plan_cluster` once the checks step passed, and the
result is part of the frozen :class:`~generator.plan.ModelPlan`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from .. import defaults
from ..environment import Environment, PeerSelector, Wazuh
from ..kinds.docker_layers import ApiRoute
from ..load import LoadedBundle
from ..manifest import Manifest, ScheduleEntry
from ..runtime import config as rc
from .observe import MonitorPlan, ScalerPlan, plan_monitor, plan_scaler

ScaleAction = Literal["start", "stop"]

# cron's day-of-week numbers (0 = Sunday), as batch/v1 CronJob reads them
_CRON_DAY = {"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}


@dataclass(frozen=True)
class ScaleJob:
    action: ScaleAction
    name: str
    """CronJob name: ``<slug>-start`` or, with several entries, ``<slug>-start-<n>``."""
    cron: str
    replicas: int


@dataclass(frozen=True)
class SchedulePlan:
    timezone: str
    jobs: tuple[ScaleJob, ...]
    kubectl_image: str
    service_account: str
    api_server_cidrs: tuple[str, ...]
    api_server_ports: tuple[int, ...]
    """The scalers' only egress besides DNS (the environment's ``api_server``)."""


@dataclass(frozen=True)
class Secrets:
    bus: str | None
    """Secret with keys ``username``/``password`` for the message bus, when the model uses the bus."""
    storage: str | None
    """Secret with keys ``access_key``/``secret_key`` for S3, when the model uses storage."""


@dataclass(frozen=True)
class Egress:
    bus_port: int | None
    storage_port: int | None
    wazuh_ports: tuple[int, ...]


@dataclass(frozen=True)
class Access:
    """What one workload's pods may use: the credentials they get and where their egress may go.

    Each workload gets only what its own code path touches (see :func:`plan_cluster`), so a leaked
    pod holds no credential it would not use anyway.
    """

    secrets: Secrets
    egress: Egress


@dataclass(frozen=True)
class GatewayPlan:
    service: str
    route: str
    path: str
    """Public path prefix of the model's OIP routes: ``<path_prefix>/<slug>/v2``."""
    upstream_url: str
    host: str | None
    roles: tuple[str, ...]
    auth: Literal["key-auth", "jwt"]
    rate_limit_per_minute: int | None
    api_routes: tuple[ApiRoute, ...] = ()
    """A DOCKER_LAYERS model's own OpenAPI paths: one Kong route each, instead of the OIP route."""


@dataclass(frozen=True)
class ClusterPlan:
    namespace: str
    service_account: str
    requests: dict[str, str]
    limits: dict[str, str]
    replicas: int | None
    """None when a schedule owns the replica count: the Deployment then leaves ``spec.replicas`` out."""
    max_replicas: int
    """The most pods the Deployment runs: its replicas, or the most a start CronJob scales it to. Above
    one it gets a PodDisruptionBudget and spreads its pods over nodes and zones."""
    serves_rest: bool
    server: Access
    """The Deployment's pods."""
    training: Access | None
    """The training Job's pods; None when the model does not train from storage."""
    readiness_path: str | None
    """A DOCKER_LAYERS server's declared health route, probed for readiness; None: TCP probes only."""
    ingress_from: PeerSelector | None
    """Gateway pods admitted to port 8080; None for a model without REST input."""
    metrics_scrapers: PeerSelector | None
    pull_secret: str | None
    wazuh: Wazuh | None
    schedule: SchedulePlan | None
    gateway: GatewayPlan | None
    monitor: MonitorPlan | None = None
    """PodMonitor, alert rules and dashboard; None without the environment's ``observability``."""
    scaler: ScalerPlan | None = None
    """KEDA ScaledObject or HorizontalPodAutoscaler; None unless autoscaling is on for the model.
    With one, the Deployment leaves ``spec.replicas`` to it."""


def cron_expression(entry: ScheduleEntry) -> str:
    hour, minute = (int(part) for part in entry.at.split(":"))
    days = sorted(_CRON_DAY[d] for d in entry.days)
    dow = "*" if len(days) == 7 else ",".join(str(d) for d in days)
    return f"{minute} {hour} * * {dow}"


def _url_port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme in ("https", "amqps") else 80)


def _schedule(slug: str, m: Manifest, env: Environment, scaler: ScalerPlan | None) -> SchedulePlan | None:
    if m.schedule is None:
        return None
    assert env.base_images.kubectl is not None, "required by the checks step"
    jobs: list[ScaleJob] = []
    for action, entries, replicas in (
        # under an autoscaler a start hands the model back to it: its minimum (KEDA: its pause lifted)
        ("start", m.schedule.start, max(scaler.min_replicas, 1) if scaler is not None else defaults.REPLICAS),
        ("stop", m.schedule.stop, 0),
    ):
        for i, entry in enumerate(entries, start=1):
            name = f"{slug}-{action}" if len(entries) == 1 else f"{slug}-{action}-{i}"
            jobs.append(ScaleJob(action, name, cron_expression(entry), replicas))  # type: ignore[arg-type]
    return SchedulePlan(
        m.schedule.timezone,
        tuple(jobs),
        env.base_images.kubectl,
        f"{slug}-scaler",
        tuple(dict.fromkeys(env.api_server.cidrs)),
        tuple(sorted(set(env.api_server.ports))),
    )


def _resources(m: Manifest) -> tuple[dict[str, str], dict[str, str]]:
    requests, limits = dict(defaults.RESOURCE_REQUESTS), dict(defaults.RESOURCE_LIMITS)
    if m.resources is not None:
        requests |= m.resources.requests.model_dump(exclude_none=True)
        limits |= m.resources.limits.model_dump(exclude_none=True)
    return requests, limits


def _server_uses_bus(server: rc.ServerConfig, own_server: bool) -> bool:
    if server.message_bus is None:
        return False
    if own_server:
        # a DOCKER_LAYERS image runs the bundle's code: its manifest's bus inputs and outputs are all we know
        return True
    # aiar's server consumes bus predictions and bus training (and publishes what those produce); the
    # statistics of historic training are the Job's to publish
    training = server.training
    return server.prediction_bus is not None or (training is not None and training.bus is not None)


def _server_uses_storage(server: rc.ServerConfig, own_server: bool) -> bool:
    # aiar's server touches the bucket only at model_key: it polls for the trained model file there, and
    # uploads there after bus training. The datasets are the training Job's.
    return not own_server and server.storage is not None and server.model_key is not None


def _training_uses_bus(server: rc.ServerConfig) -> bool:
    # the Job publishes its statistics to the training output keys, and consumes nothing
    training = server.training
    return server.message_bus is not None and training is not None and bool(training.output_keys)


def _access(env: Environment, *, bus: bool, storage: bool, wazuh: Wazuh | None = None) -> Access:
    bus_env = env.message_bus if bus else None
    storage_env = env.storage if storage else None
    return Access(
        secrets=Secrets(
            bus=bus_env.credentials_secret if bus_env is not None else None,
            storage=storage_env.credentials_secret if storage_env is not None else None,
        ),
        egress=Egress(
            bus_port=bus_env.port if bus_env is not None else None,
            storage_port=_url_port(storage_env.endpoint) if storage_env is not None else None,
            wazuh_ports=tuple(wazuh.ports) if wazuh is not None else (),
        ),
    )


def health_route(api_routes: tuple[ApiRoute, ...]) -> str | None:
    """The OpenAPI document's health route, if it declares one: a plain GET path named like a health check.

    Only what the document declares is probed: a guessed path would keep a working server unready.
    """
    candidates = [r.path for r in api_routes if "GET" in r.methods and "{" not in r.path]
    for name in defaults.HEALTH_ROUTE_NAMES:
        named = sorted((p for p in candidates if p.rstrip("/").rsplit("/", 1)[-1] == name), key=lambda p: (len(p), p))
        if named:
            return named[0]
    return None


def plan_cluster(
    slug: str,
    loaded: LoadedBundle,
    env: Environment,
    server: rc.ServerConfig,
    *,
    own_server: bool,
    api_routes: tuple[ApiRoute, ...] = (),
) -> ClusterPlan:
    """``own_server``: the image runs the bundle's server (DOCKER_LAYERS), not aiar's."""
    m = loaded.manifest
    scaler = plan_scaler(m, env, server, own_server=own_server)
    schedule = _schedule(slug, m, env, scaler)
    # The model server's config already decided what the model talks to; each workload's credentials and
    # egress follow the part of it that its own code path uses.
    wazuh = env.wazuh if m.monitoring is not None and m.monitoring.wazuh else None
    historic = server.training is not None and server.training.historic is not None
    requests, limits = _resources(m)
    rest = m.has_rest() or bool(api_routes)
    gateway = None
    if rest:
        prefix = env.gateway.path_prefix
        # a DOCKER_LAYERS model's routes are its own, from the server's root; others expose OIP's /v2
        base = "" if api_routes else "/v2"
        gateway = GatewayPlan(
            service=slug,
            route=f"{slug}-predict",
            path=f"{prefix}/{slug}{base}",
            upstream_url=f"http://{slug}.{env.namespace}.svc:{defaults.SERVICE_PORT}{base}",
            host=env.gateway.host,
            roles=tuple(m.access.roles) if m.access is not None else (),
            auth=env.gateway.auth,
            rate_limit_per_minute=env.gateway.rate_limit_per_minute,
            api_routes=api_routes,
        )
    return ClusterPlan(
        namespace=env.namespace,
        service_account=slug,
        requests=requests,
        limits=limits,
        replicas=None if schedule is not None or scaler is not None else defaults.REPLICAS,
        max_replicas=scaler.max_replicas
        if scaler is not None
        else max((j.replicas for j in schedule.jobs), default=0)
        if schedule
        else defaults.REPLICAS,
        serves_rest=rest,
        server=_access(
            env,
            bus=_server_uses_bus(server, own_server),
            storage=_server_uses_storage(server, own_server),
            wazuh=wazuh,
        ),
        # the Job downloads its dataset and uploads the model: storage, always
        training=_access(env, bus=_training_uses_bus(server), storage=True) if historic else None,
        readiness_path=health_route(api_routes) if own_server else None,
        ingress_from=env.gateway.ingress_from if rest else None,
        metrics_scrapers=env.metrics_scrapers,
        pull_secret=env.registry.pull_secret,
        wazuh=wazuh,
        schedule=schedule,
        gateway=gateway,
        monitor=plan_monitor(m, env, server, own_server=own_server),
        scaler=scaler,
    )
