"""The environment file: where things live, as one reviewed YAML file.

It holds the seed's backend-config values (registry, PIP index, message bus, storage, gateway, data
processor). Secrets are never values here: only names of Kubernetes Secrets or environment variables.

The file is read as hostile input by ``envread`` (bounded work whatever it holds, every failure a
located problem), then validated here; the files it names are read the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from .envread import (
    ENV_VAR_MAX,
    ENV_VAR_PATTERN,
    MAX_CA_BUNDLE_BYTES,
    MAX_LAYER_FILE_BYTES,
    REGISTRY_URL_MAX,
    REGISTRY_URL_PATTERN,
    Unreadable,
    beside,
    environment_digest,
    read_regular_file,
    read_text,
    read_yaml,
)
from .errors import EnvironmentFileError, Problem, escape_pointer_token
from .jsonpos import Positions
from .validate import located_problems

DnsLabel = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
SecretName = Annotated[
    str, StringConstraints(min_length=1, max_length=253, pattern=r"^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$")
]
EnvVarName = Annotated[str, StringConstraints(pattern=ENV_VAR_PATTERN, max_length=ENV_VAR_MAX)]
ImageRef = Annotated[
    str, StringConstraints(min_length=1, max_length=512, pattern=r"^[a-z0-9][^\s@]*(@sha256:[0-9a-f]{64})?$")
]
Host = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:\[\]-]+$")]


def _no_credentials(url: str) -> str:
    """``url``, if it names a host and can hold no credentials.

    These URLs end up in generated files (Dockerfiles, config), so nothing secret may be in them.
    Credentials hide in the user part (``user:pass@``) and just as often in a query (``?token=``,
    ``?password=``, ``?access_key=``) or a fragment (``#user:pass``). Telling a token from a harmless
    parameter is guesswork, and none of these endpoints (a PIP index, S3, Kong's admin API, the data
    processor) needs either part, so any ``?`` or ``#`` is refused. Whitespace and control characters
    are refused too: a URL is one token, and a newline in one would split the file it is written to.
    """
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise ValueError("must not contain whitespace or control characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "amqp", "amqps"):
        raise ValueError("must be an http(s) or amqp(s) URL")
    if "@" in parts.netloc:
        raise ValueError("must not contain credentials; reference a Secret or environment variable instead")
    if "?" in url or "#" in url:
        raise ValueError(
            "must not have a query string or fragment (where tokens hide); "
            "reference a Secret or environment variable for credentials instead"
        )
    if not parts.hostname:
        raise ValueError("must name a host")
    return url


# A URL that can hold no credentials; as a type, so that a list reports the very entry that is wrong.
Url = Annotated[str, AfterValidator(_no_credentials)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Registry(_Model):
    url: Annotated[str, StringConstraints(min_length=1, max_length=REGISTRY_URL_MAX, pattern=REGISTRY_URL_PATTERN)]
    """Registry host (and optional path), e.g. ``registry.example.com/ml``."""
    insecure: bool = False
    repository_prefix: Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+([._/-][a-z0-9]+)*$")] = "aiar"
    pull_secret: SecretName | None = None
    username_env: EnvVarName | None = None
    password_env: EnvVarName | None = None


class BaseImages(_Model):
    python: ImageRef
    java: ImageRef | None = None
    """Image holding a Java runtime (JRE 11 or later), required by H2O models: its JRE is copied into them,
    symbolic links resolved in that image first (so it needs ``sh``, ``find`` and ``cp``)."""
    java_home: Annotated[str, StringConstraints(pattern=r"^(/[A-Za-z0-9._-]+)+$")] = "/opt/java/openjdk"
    """Where that image keeps the JRE (``JAVA_HOME``); the default is the Eclipse Temurin images' layout."""
    kubectl: ImageRef | None = None
    """Image with ``kubectl`` on PATH, run by the scale CronJobs; required when a model has a schedule."""


class Pip(_Model):
    index_url: Url | None = None
    extra_index_urls: list[Url] = Field(default_factory=list)
    trusted_hosts: list[Host] = Field(default_factory=list)
    source_builds: bool = False
    """Let builds install source distributions (running their build code). Off by default: images
    install wheels only, and ``apply`` checks every pin has a wheel for the base image's Python
    before any build starts."""


class Build(_Model):
    ca_bundle: Annotated[str, StringConstraints(min_length=1, max_length=1024)] | None = None
    """PEM file (absolute, or relative to the environment file) trusted while installing packages."""


class MessageBus(_Model):
    host: Host
    port: Annotated[int, Field(ge=1, le=65535)] = 5672
    vhost: Annotated[str, StringConstraints(min_length=1, max_length=255)] = "/"
    credentials_secret: SecretName | None = None
    """Secret with keys ``username`` and ``password``."""


class Storage(_Model):
    endpoint: Url
    bucket: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
    region: Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]+$")] = "us-east-1"
    credentials_secret: SecretName | None = None
    """Secret with keys ``access_key`` and ``secret_key``."""


LabelKey = Annotated[
    str,
    StringConstraints(
        max_length=253, pattern=r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
    ),
]
LabelValue = Annotated[str, StringConstraints(max_length=63, pattern=r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")]


class PeerSelector(_Model):
    """Pods allowed to reach the models (a NetworkPolicy peer): by their namespace's and their own labels."""

    namespace_labels: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    pod_labels: dict[LabelKey, LabelValue] = Field(default_factory=dict)


# Kong's Helm chart labels its pods app.kubernetes.io/name=kong; the namespace is usually "kong".
_KONG_PODS = PeerSelector(
    namespace_labels={"kubernetes.io/metadata.name": "kong"}, pod_labels={"app.kubernetes.io/name": "kong"}
)


class Gateway(_Model):
    host: Host | None = None
    path_prefix: Annotated[str, StringConstraints(pattern=r"^(/[a-z0-9._-]+)+$")] = "/models"
    admin_url: Url | None = None
    auth: Literal["key-auth", "jwt"] = "key-auth"
    rate_limit_per_minute: Annotated[int, Field(ge=1)] | None = None
    ingress_from: PeerSelector = _KONG_PODS
    """The gateway's pods: the only peers a model's NetworkPolicy admits to its HTTP port."""


class DataProcessor(_Model):
    url: Url
    timeout_s: Annotated[float, Field(gt=0, le=300)] = 10.0


class Wazuh(_Model):
    manager: Host
    agent_image: ImageRef
    """Must run as a non-root user: the pod is held to Pod Security Standards *restricted*."""
    registration_secret: SecretName | None = None
    """Secret with key ``password``: the manager's agent enrollment password."""
    ports: Annotated[list[Annotated[int, Field(ge=1, le=65535)]], Field(min_length=1)] = Field(
        default_factory=lambda: [1514, 1515]
    )
    """Manager ports the agent connects to (events, enrollment); opened in the NetworkPolicy."""


LayerName = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9._-]*$")]


class Layer(_Model):
    """A Dockerfile fragment that DOCKER_LAYERS bundles name in ``layers``: its text, or a file holding it."""

    text: Annotated[str, StringConstraints(min_length=1, max_length=65536)] | None = None
    file: Annotated[str, StringConstraints(min_length=1, max_length=1024)] | None = None
    """Absolute, or relative to the environment file."""

    @model_validator(mode="after")
    def _one_source(self) -> Layer:
        if (self.file is None) == (self.text is None):
            raise ValueError("a layer needs exactly one of 'text' and 'file'")
        return self


def _cidr(text: str) -> str:
    import ipaddress

    try:
        ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise ValueError(f"must be a CIDR block with no host bits set, e.g. 10.0.0.1/32 ({exc})") from None
    return text


Cidr = Annotated[str, AfterValidator(_cidr)]


class ApiServer(_Model):
    """Where the scale CronJobs may reach the Kubernetes API server: their only egress besides DNS.

    A NetworkPolicy names addresses, not Services, and the API server's address differs per cluster,
    so the default cannot be exact: it is the private IPv4 ranges (RFC 1918), which keeps the scaler
    off the internet and works where the control plane has private addresses (most clusters). To
    allow the API server alone, set ``cidrs`` to the ``kubernetes`` Service's endpoints (``kubectl
    get endpointslices -n default -l kubernetes.io/service-name=kubernetes``) and its ClusterIP, each
    as a /32: some network plugins match the policy before the Service address is translated, some
    after. A control plane on public addresses (some managed clusters) needs this setting.
    """

    cidrs: Annotated[list[Cidr], Field(min_length=1)] = Field(
        default_factory=lambda: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
    )
    ports: Annotated[list[Annotated[int, Field(ge=1, le=65535)]], Field(min_length=1)] = Field(
        default_factory=lambda: [443, 6443]
    )
    """The Service's port and the API server's own (what the endpoints listen on, usually 6443)."""


class Observability(_Model):
    """Prometheus Operator and Grafana objects for every model aiar serves (a manifest may opt out).

    The kinds are the Prometheus Operator's (``PodMonitor``, ``PrometheusRule``) and a ConfigMap the
    Grafana sidecar picks up by its label; the cluster must run those for them to do anything.
    """

    pod_monitor: bool = True
    alerts: bool = True
    dashboards: bool = True
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    """On the PodMonitor and PrometheusRule: what the Prometheus' selectors match (e.g. ``release``)."""
    dashboard_labels: dict[LabelKey, LabelValue] = Field(default_factory=lambda: {"grafana_dashboard": "1"})
    """On the dashboard ConfigMaps: the Grafana sidecar's label (its chart's default)."""
    scrape_interval_s: Annotated[int, Field(ge=5, le=3600)] = 30
    latency_slo_s: Annotated[float, Field(gt=0, le=600)] = 1.0
    """p99 request latency above which the latency alert fires; a manifest may set its own."""
    error_ratio: Annotated[float, Field(gt=0, lt=1)] = 0.05
    """Share of failed requests or predictions above which the error alert fires."""
    drift_psi: Annotated[float, Field(gt=0, le=10)] = 0.2
    """Population Stability Index of an input above which the drift alert fires (models with ``monitoring.drift``)."""
    runbook_base_url: Url | None = None
    """Where the runbooks are published (``<url>#<alert>``); unset: the repository's docs/runbooks.md."""


class Autoscaling(_Model):
    """Scaling on load: KEDA on the queue depth for bus-driven models, a HorizontalPodAutoscaler on CPU
    for REST models. Off by default; a manifest may turn it on or off and set its own bounds."""

    enabled: bool = False
    min_replicas: Annotated[int, Field(ge=0, le=100)] = 0
    """Bus-driven models (KEDA): 0 scales to zero when idle. REST models keep at least one."""
    max_replicas: Annotated[int, Field(ge=1, le=100)] = 3
    cpu_percent: Annotated[int, Field(ge=1, le=100)] = 70
    """REST models: the average CPU utilisation (of the requests) the HPA aims at."""
    queue_length: Annotated[int, Field(ge=1, le=100_000)] = 20
    """Bus-driven models: messages waiting per replica KEDA aims at."""
    polling_interval_s: Annotated[int, Field(ge=1, le=3600)] = 15
    cooldown_s: Annotated[int, Field(ge=0, le=86_400)] = 300
    """Bus-driven models: idle time before the last replica goes."""


class Environment(_Model):
    """The environment file, as written."""

    namespace: DnsLabel
    registry: Registry
    base_images: BaseImages
    pip: Pip = Pip()
    build: Build = Build()
    message_bus: MessageBus | None = None
    storage: Storage | None = None
    gateway: Gateway = Gateway()
    data_processor: DataProcessor | None = None
    wazuh: Wazuh | None = None
    metrics_scrapers: PeerSelector | None = None
    """Prometheus' pods, admitted to every model's HTTP port for ``/metrics``; none when unset."""
    api_server: ApiServer = ApiServer()
    """The API server's addresses and ports, for the scale CronJobs' NetworkPolicy."""
    layers: dict[LayerName, Layer] = Field(default_factory=dict)
    """Dockerfile fragments for DOCKER_LAYERS bundles, beside (and overriding) those shipped with aiar."""
    observability: Observability | None = None
    """PodMonitors, alert rules and dashboards per model; none when unset."""
    autoscaling: Autoscaling = Autoscaling()


@dataclass(frozen=True)
class LoadedEnvironment:
    """The environment plus the files it references, read at the I/O edge."""

    env: Environment
    digest: str
    ca_bundle: bytes | None
    layers: dict[str, str] = field(default_factory=dict)
    """The environment's Dockerfile fragments by name, ``file`` ones read."""


def _parse(text: str, source: str) -> tuple[Environment, Positions]:
    document, positions = read_yaml(text, source)
    if not isinstance(document, dict):
        raise EnvironmentFileError([Problem(source, "", "the environment file must be a YAML mapping", 1, 1)])
    try:
        return Environment.model_validate(document), positions
    except ValidationError as exc:
        raise EnvironmentFileError(located_problems(exc, document, positions, source)) from None


def parse_environment(text: str, source: str) -> Environment:
    """The environment written in ``text`` (from the file ``source``); every problem located."""
    return _parse(text, source)[0]


class _Located:
    """Problems at pointers of the environment file, with the line and column of the value."""

    def __init__(self, source: str, positions: Positions) -> None:
        self.source = source
        self.positions = positions
        self.problems: list[Problem] = []

    def add(self, pointer: str, message: str) -> None:
        line, col = self.positions.of(pointer, value_first=True) or (None, None)
        self.problems.append(Problem(self.source, pointer, message, line, col))


def _read_ca_bundle(env: Environment, env_path: Path, found: _Located) -> bytes | None:
    if env.build.ca_bundle is None:
        return None
    path = beside(env_path, env.build.ca_bundle)
    try:
        ca_bundle = read_regular_file(path, MAX_CA_BUNDLE_BYTES)
    except Unreadable as exc:
        found.add("/build/ca_bundle", f"cannot read {path}: {exc}")
        return None
    if b"-----BEGIN CERTIFICATE-----" not in ca_bundle:
        found.add("/build/ca_bundle", f"{path} holds no PEM certificate")
        return None
    return ca_bundle


def _read_layer_files(env: Environment, env_path: Path, found: _Located) -> dict[str, str]:
    """The text of every layer that names a ``file``, by layer name."""
    texts: dict[str, str] = {}
    for name, layer in sorted(env.layers.items()):
        if layer.file is None:
            continue
        path = beside(env_path, layer.file)
        pointer = f"/layers/{escape_pointer_token(name)}/file"
        try:
            texts[name] = read_regular_file(path, MAX_LAYER_FILE_BYTES).decode("utf-8")
        except Unreadable as exc:
            found.add(pointer, f"cannot read {path}: {exc}")
        except UnicodeDecodeError:
            found.add(pointer, f"cannot read {path}: not UTF-8 text")
    return texts


def load_environment(path: Path) -> LoadedEnvironment:
    """Read the environment file and the files it names (CA bundle, layers), reporting all their problems."""
    source = str(path)
    raw, text = read_text(path)
    env, positions = _parse(text, source)
    found = _Located(source, positions)
    ca_bundle = _read_ca_bundle(env, path, found)
    layer_files = _read_layer_files(env, path, found)
    if found.problems:
        raise EnvironmentFileError(found.problems)
    digest = environment_digest(raw, ca_bundle, layer_files)
    layers = {
        name: layer_files[name] if layer.text is None else layer.text for name, layer in sorted(env.layers.items())
    }
    return LoadedEnvironment(env, digest, ca_bundle, layers)
