"""Stage 3, cluster side: every decision the Kubernetes, schedule and gateway renderers need.

Separate from :mod:`generator.plan` only to keep modules small; :func:`generator.plan.plan_model`
calls :func:`plan_cluster` and the result is part of the frozen :class:`~generator.plan.ModelPlan`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from . import defaults
from .environment import Environment, PeerSelector, Wazuh
from .errors import ManifestError, Problem
from .load import LoadedBundle
from .manifest import Manifest, ScheduleEntry
from .plan_layers import ApiRoute
from .runtime import config as rc

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
    serves_rest: bool
    secrets: Secrets
    egress: Egress
    ingress_from: PeerSelector | None
    """Gateway pods admitted to port 8080; None for a model without REST input."""
    metrics_scrapers: PeerSelector | None
    pull_secret: str | None
    wazuh: Wazuh | None
    schedule: SchedulePlan | None
    gateway: GatewayPlan | None


def cron_expression(entry: ScheduleEntry) -> str:
    hour, minute = (int(part) for part in entry.at.split(":"))
    days = sorted(_CRON_DAY[d] for d in entry.days)
    dow = "*" if len(days) == 7 else ",".join(str(d) for d in days)
    return f"{minute} {hour} * * {dow}"


def _url_port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme in ("https", "amqps") else 80)


def _schedule(slug: str, m: Manifest, env: Environment, loaded: LoadedBundle) -> SchedulePlan | None:
    if m.schedule is None:
        return None
    if env.base_images.kubectl is None:
        raise ManifestError(
            [
                loaded.problem(
                    "/schedule", "a schedule needs 'base_images.kubectl' in the environment (the scaler image)"
                )
            ]
        )
    jobs: list[ScaleJob] = []
    for action, entries, replicas in (
        ("start", m.schedule.start, defaults.REPLICAS),
        ("stop", m.schedule.stop, 0),
    ):
        for i, entry in enumerate(entries, start=1):
            name = f"{slug}-{action}" if len(entries) == 1 else f"{slug}-{action}-{i}"
            jobs.append(ScaleJob(action, name, cron_expression(entry), replicas))  # type: ignore[arg-type]
    return SchedulePlan(m.schedule.timezone, tuple(jobs), env.base_images.kubectl, f"{slug}-scaler")


def _resources(m: Manifest) -> tuple[dict[str, str], dict[str, str]]:
    requests, limits = dict(defaults.RESOURCE_REQUESTS), dict(defaults.RESOURCE_LIMITS)
    if m.resources is not None:
        requests |= m.resources.requests.model_dump(exclude_none=True)
        limits |= m.resources.limits.model_dump(exclude_none=True)
    return requests, limits


def plan_cluster(
    slug: str, loaded: LoadedBundle, env: Environment, server: rc.ServerConfig, api_routes: tuple[ApiRoute, ...] = ()
) -> ClusterPlan:
    m = loaded.manifest
    problems: list[Problem] = []
    wants_wazuh = m.monitoring is not None and m.monitoring.wazuh
    if wants_wazuh and env.wazuh is None:
        problems.append(
            loaded.problem(
                "/monitoring/wazuh", "Wazuh monitoring is enabled but the environment has no 'wazuh' section"
            )
        )
    try:
        schedule = _schedule(slug, m, env, loaded)
    except ManifestError as exc:
        problems.extend(exc.problems)
        schedule = None
    if problems:
        raise ManifestError(problems)

    # The model server's config already decided what the model talks to; credentials and egress follow it.
    bus = env.message_bus if server.message_bus is not None else None
    storage = env.storage if server.storage is not None else None
    wazuh = env.wazuh if wants_wazuh else None
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
        replicas=None if schedule is not None else defaults.REPLICAS,
        serves_rest=rest,
        secrets=Secrets(
            bus=bus.credentials_secret if bus is not None else None,
            storage=storage.credentials_secret if storage is not None else None,
        ),
        egress=Egress(
            bus_port=bus.port if bus is not None else None,
            storage_port=_url_port(storage.endpoint) if storage is not None else None,
            wazuh_ports=tuple(wazuh.ports) if wazuh is not None else (),
        ),
        ingress_from=env.gateway.ingress_from if rest else None,
        metrics_scrapers=env.metrics_scrapers,
        pull_secret=env.registry.pull_secret,
        wazuh=wazuh,
        schedule=schedule,
        gateway=gateway,
    )
