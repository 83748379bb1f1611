"""``aiar status [MODEL]``: each model as the Dashboard showed it, from ``out/`` and the live cluster.

Version generated (out/) against deployed (the live Deployment), replicas, when its pods started,
memory and CPU in use, where it answers (gateway and in-cluster URLs), its bus queues, its last
training and its next scheduled start or stop. Memory and CPU come from ``metrics.k8s.io`` when the
cluster serves it (a metrics server), otherwise from each pod's own ``/metrics`` through the API
server's pod proxy; the result says which.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter

from ..runtime.config import TRAINING_STATS_FILE, ServerConfig
from .kube import Kube, KubeError
from .lifecycle import stopped_by
from .outdir import KubeObject, Model, ObjectKey, OutDir
from .session import Session
from .wait import deployment_state

CPU_SAMPLE_S = 1.0
"""Between two readings of a pod's CPU seconds, when the rate comes from its own /metrics."""


@dataclass(frozen=True)
class Queue:
    name: str
    role: str
    """``predict`` or ``train``."""
    messages: int | None = None
    consumers: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class Training:
    job: str | None
    """The training Job (None for a model trained only from the bus)."""
    state: str
    """``complete``, ``failed``, ``running``, ``missing`` or ``stored`` (only the stored record is known)."""
    completed_at: str | None = None
    model_file: str | None = None
    """Where the trained model file is (``s3://bucket/models/<slug>/<version>/<file>``)."""
    trained_at: str | None = None
    stats: Any = None
    """What train() returned, from the record training stored beside the model file."""


@dataclass(frozen=True)
class Usage:
    memory_bytes: int | None
    cpu_cores: float | None
    source: str
    """``metrics.k8s.io``, ``pod /metrics (API server proxy)`` or ``unavailable: ...``."""


@dataclass
class ModelStatus:
    model: str
    name: str
    state: str
    """``running``, ``stopped``, ``training``, ``failed``, ``pending``, ``deleted`` or ``not applied``."""
    version_generated: str | None
    version_deployed: str | None
    replicas_desired: int | None = None
    replicas_ready: int = 0
    started_at: str | None = None
    usage: Usage | None = None
    public_urls: list[str] = field(default_factory=list)
    cluster_url: str | None = None
    queues: list[Queue] = field(default_factory=list)
    training: Training | None = None
    stopped_by: str | None = None
    next_start: str | None = None
    next_stop: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- what out/ says ------------------------------------------------------------------------------


def _objects(model: Model, kind: str) -> list[KubeObject]:
    return [o for o in model.objects if o.kind == kind]


def server_config(model: Model) -> ServerConfig | None:
    for configmap in _objects(model, "ConfigMap"):
        text = (configmap.body.get("data") or {}).get("model-server.json")
        if text:
            return ServerConfig.model_validate_json(text)
    return None


@lru_cache(maxsize=1)
def _gateway_urls(gateway: bytes) -> dict[str, tuple[str, ...]]:
    """Each Kong service's routes as URLs (``https://host/path``, or the path without a host); the
    merged gateway file is read once for all models."""
    from ruamel.yaml import YAML

    document = YAML(typ="safe", pure=False).load(gateway) or {}
    urls: dict[str, tuple[str, ...]] = {}
    for service in document.get("services") or []:
        found: list[str] = []
        for route in service.get("routes") or []:
            hosts = route.get("hosts") or [""]
            found.extend(f"https://{hosts[0]}{path}" if hosts[0] else str(path) for path in route.get("paths") or [])
        urls[str(service.get("name"))] = tuple(found)
    return urls


def public_urls(out: OutDir, model: Model) -> list[str]:
    """Every Kong route of the model, as a URL."""
    return list(_gateway_urls(out.gateway).get(model.slug, ())) if out.gateway else []


def cluster_url(model: Model) -> str | None:
    for service in _objects(model, "Service"):
        ports = (service.body.get("spec") or {}).get("ports") or []
        if ports:
            meta = service.body["metadata"]
            return f"http://{meta['name']}.{meta['namespace']}.svc:{ports[0]['port']}"
    return None


def next_fires(model: Model, now: datetime, suspended: set[str]) -> dict[str, str]:
    """The next scheduled start and stop (ISO 8601 in the schedule's timezone); none while suspended."""
    found: dict[str, datetime] = {}
    for cronjob in _objects(model, "CronJob"):
        if cronjob.key.name in suspended:
            continue
        spec = cronjob.body["spec"]
        action = "start" if cronjob.key.name.startswith(f"{model.slug}-start") else "stop"
        tz = ZoneInfo(spec.get("timeZone") or "UTC")
        fire: datetime = croniter(spec["schedule"], now.astimezone(tz)).get_next(datetime)
        if action not in found or fire < found[action]:
            found[action] = fire
    return {action: fire.isoformat(timespec="minutes") for action, fire in found.items()}


# --- what the cluster says ----------------------------------------------------------------------


def _pods(kube: Kube, deployment: Mapping[str, Any]) -> list[dict[str, Any]]:
    selector = (deployment.get("spec") or {}).get("selector", {}).get("matchLabels") or {}
    labels = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    return kube.list(kube.resource("v1", "Pod"), deployment["metadata"]["namespace"], labels)


def _ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def parse_quantity(text: str) -> float:
    """A Kubernetes quantity (``250m``, ``512Mi``, ``1.5G``, ``12345n``) as a plain number."""
    suffixes = {
        "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
        "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
    }  # fmt: skip
    for suffix in sorted(suffixes, key=len, reverse=True):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * suffixes[suffix]
    return float(text)


def _from_metrics_api(kube: Kube, namespace: str, pods: Sequence[Mapping[str, Any]]) -> Usage | None:
    """Usage from metrics.k8s.io; None when the cluster does not serve that API."""
    names = {p["metadata"]["name"] for p in pods}
    try:
        listing = kube.request("GET", f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods")
    except KubeError as exc:
        if exc.status in (404, 503):
            return None
        raise
    memory, cpu = 0.0, 0.0
    for item in listing.get("items") or []:
        if item["metadata"]["name"] in names:
            for container in item.get("containers") or []:
                memory += parse_quantity(container["usage"]["memory"])
                cpu += parse_quantity(container["usage"]["cpu"])
    return Usage(int(memory), round(cpu, 4), "metrics.k8s.io")


def prometheus_value(text: str, metric: str) -> float | None:
    """One unlabelled sample of ``metric`` in Prometheus' text format."""
    for line in text.splitlines():
        if line.startswith(metric + " ") or line.startswith(metric + "{}"):
            return float(line.rsplit(" ", 1)[1])
    return None


def _port_number(pod: Mapping[str, Any], name: str) -> str:
    """A named container port as its number: the API server's pod proxy is given numbers (v1.34 fails
    on some named ports with a server error)."""
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == name:
                return str(port["containerPort"])
    return name


def _scrape(kube: Kube, pod: Mapping[str, Any], port: str) -> str:
    meta = pod["metadata"]
    path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}:{_port_number(pod, port)}/proxy/metrics"
    text: str = kube.request_text("GET", path)
    return text


def _from_pod_metrics(
    kube: Kube, pods: Sequence[Mapping[str, Any]], port: str, sleep: Callable[[float], None] = time.sleep
) -> Usage:
    """Usage from each ready pod's own /metrics (the aiar server exports process metrics)."""
    ready = [p for p in pods if _ready(p)]
    if not ready:
        return Usage(None, None, "unavailable: no ready pod")
    try:
        first = [_scrape(kube, p, port) for p in ready]
        sleep(CPU_SAMPLE_S)
        second = [_scrape(kube, p, port) for p in ready]
    except KubeError as exc:
        return Usage(None, None, f"unavailable: pod /metrics through the API server proxy: {exc.message[:200]}")
    memory = [prometheus_value(t, "process_resident_memory_bytes") for t in second]
    cpu = []
    for before, after in zip(first, second, strict=True):
        a, b = (
            prometheus_value(before, "process_cpu_seconds_total"),
            prometheus_value(after, "process_cpu_seconds_total"),
        )
        cpu.append(None if a is None or b is None else max(b - a, 0.0) / CPU_SAMPLE_S)
    return Usage(
        int(sum(m for m in memory if m is not None)) if any(m is not None for m in memory) else None,
        round(sum(c for c in cpu if c is not None), 4) if any(c is not None for c in cpu) else None,
        "pod /metrics (API server proxy)",
    )


def usage(kube: Kube, deployment: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> Usage:
    found = _from_metrics_api(kube, deployment["metadata"]["namespace"], pods)
    return found if found is not None else _from_pod_metrics(kube, pods, "http")


def _training(kube: Kube, model: Model) -> Training | None:
    jobs = _objects(model, "Job")
    if not jobs:
        return None
    job = jobs[0]
    live = kube.get(job.api_version, job.key)
    if live is None:
        return Training(job.key.name, "missing")
    conditions = {c.get("type"): c for c in (live.get("status") or {}).get("conditions") or []}
    if (conditions.get("Complete") or {}).get("status") == "True":
        return Training(job.key.name, "complete", (live.get("status") or {}).get("completionTime"))
    if (conditions.get("Failed") or {}).get("status") == "True":
        return Training(job.key.name, "failed")
    return Training(job.key.name, "running")


QueueReader = Callable[[ServerConfig, Sequence[tuple[str, str]]], list[Queue]]
RecordReader = Callable[[str], dict[str, Any] | None]
"""The training record stored at a key (None when there is none)."""


def with_record(
    training: Training | None, config: ServerConfig | None, bucket: str, read: RecordReader | None
) -> Training | None:
    """The Job's state plus what training stored beside the model file: when, its stats, the file."""
    if config is None or not config.model_key or read is None:
        return training
    key = config.model_key.rpartition("/")[0] + "/" + TRAINING_STATS_FILE
    record = read(key)
    if record is None:
        return training
    base = training or Training(None, "stored")
    return replace(
        base,
        model_file=f"s3://{bucket}/{config.model_key}",
        trained_at=str(record.get("trained_at") or "") or None,
        stats=record.get("stats"),
    )


def s3_records(session: Session) -> RecordReader | None:
    """Reads training records from the environment's storage; None without storage."""
    if session.env.storage is None:
        return None
    from .datasets import read_training_record, s3_client

    client = s3_client(session.env.storage)
    bucket = session.env.storage.bucket

    def read(key: str) -> dict[str, Any] | None:
        record = read_training_record(client, bucket, key)
        return record if isinstance(record, dict) else None

    return read


def one_model(
    session: Session, model: Model, queues: QueueReader | None = None, records: RecordReader | None = None
) -> ModelStatus:
    kube = session.kube
    config = server_config(model)
    deployments = _objects(model, "Deployment")
    generated = (
        (deployments[0].body["metadata"].get("annotations") or {}).get("aiar.dev/model-version")
        if deployments
        else None
    )
    status = ModelStatus(
        model=model.slug,
        name=config.model.name if config else model.slug,
        state="not applied",
        version_generated=generated,
        version_deployed=None,
        public_urls=public_urls(session.out, model),
        cluster_url=cluster_url(model),
    )
    bucket = session.env.storage.bucket if session.env.storage else ""
    status.training = with_record(_training(kube, model), config, bucket, records)
    live = kube.get(deployments[0].api_version, deployments[0].key) if deployments else None
    suspended = set()
    for cronjob in _objects(model, "CronJob"):
        live_cron = kube.get(cronjob.api_version, cronjob.key)
        if live_cron is not None and (live_cron.get("spec") or {}).get("suspend"):
            suspended.add(cronjob.key.name)
    fires = next_fires(model, session.clock(), suspended)
    status.next_start, status.next_stop = fires.get("start"), fires.get("stop")
    if config is not None and queues is not None:
        wanted = []
        if config.prediction_bus is not None:
            wanted.append((config.prediction_bus.queue, "predict"))
        if config.training is not None and config.training.bus is not None:
            wanted.append((config.training.bus.queue, "train"))
        if wanted:
            status.queues = queues(config, wanted)
    if live is None:
        if status.training is not None and status.training.state in ("running", "failed"):
            status.state = "training" if status.training.state == "running" else "failed"
        return status
    meta, spec, st = live["metadata"], live.get("spec") or {}, live.get("status") or {}
    status.version_deployed = (meta.get("annotations") or {}).get("aiar.dev/model-version")
    status.replicas_desired = spec.get("replicas")
    status.replicas_ready = int(st.get("readyReplicas") or 0)
    status.stopped_by = stopped_by(live)
    pods = _pods(kube, live)
    starts = sorted(p["status"]["startTime"] for p in pods if (p.get("status") or {}).get("startTime"))
    status.started_at = starts[0] if starts else None
    if status.replicas_desired == 0:
        status.state = "stopped"
        if status.stopped_by is None and _objects(model, "CronJob"):
            status.stopped_by = "schedule"
    else:
        try:
            done, _ = deployment_state(live)
            status.state = "running" if done and status.replicas_ready else "pending"
        except Exception:  # a stalled rollout
            status.state = "failed"
        if status.training is not None and status.training.state == "failed":
            status.state = "failed"
    status.usage = usage(kube, live, pods) if pods else Usage(None, None, "unavailable: no pods")
    return status


def model_statuses(
    session: Session, queues: QueueReader | None = None, records: RecordReader | None = None
) -> list[ModelStatus]:
    from .lifecycle import deleted_models

    deleted = deleted_models(session) if session.out.parent is not None else frozenset()
    statuses = [one_model(session, model, queues, records) for model in session.out.models]
    for status in statuses:
        if status.model in deleted and status.state == "not applied":
            status.state = "deleted"  # by `aiar delete`: apply leaves it out until applied by name
    return statuses


class AmqpQueues:
    """Queue depth and consumers by a passive declare, with the credentials of the environment's
    Secret: ``with AmqpQueues(session) as queues: model_statuses(session, queues)``.

    One connection serves every model of a status (a handshake each cost every page of the web
    app's Dashboard as many connections as it has bus models); it opens at the first read and
    closes with the context. A broker that cannot be reached is tried once: the other models get
    the same error at once, instead of each waiting out its own connection timeout. A connection
    lost after it opened is opened again, once per queue read.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self._connection: Any = None
        self._failure: str | None = None

    def __enter__(self) -> AmqpQueues:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and connection.is_open:
            from pika.exceptions import AMQPError

            with contextlib.suppress(AMQPError):
                connection.close()

    def _credentials(self) -> tuple[str, str]:
        import base64

        bus = self.session.env.message_bus
        assert bus is not None
        if bus.credentials_secret:
            key = ObjectKey("", "Secret", self.session.out.namespace or "", bus.credentials_secret)
            secret = self.session.kube.get("v1", key) or {}
            data = secret.get("data") or {}
            if "username" in data and "password" in data:
                return base64.b64decode(data["username"]).decode(), base64.b64decode(data["password"]).decode()
        return "guest", "guest"

    def _connect(self) -> Any:
        """The open connection, or None with ``_failure`` saying why there is none."""
        if self._connection is not None or self._failure is not None:
            return self._connection
        import pika
        from pika.exceptions import AMQPError

        bus = self.session.env.message_bus
        assert bus is not None
        username, password = self._credentials()
        params = pika.ConnectionParameters(
            host=bus.host,
            port=bus.port,
            virtual_host=bus.vhost,
            credentials=pika.PlainCredentials(username, password),
            connection_attempts=1,
            socket_timeout=5,
            blocked_connection_timeout=5,
        )
        try:
            self._connection = pika.BlockingConnection(params)
        except AMQPError as exc:
            self._failure = f"broker unreachable: {type(exc).__name__}"
        return self._connection

    def __call__(self, config: ServerConfig, wanted: Sequence[tuple[str, str]]) -> list[Queue]:
        if self.session.env.message_bus is None:
            return [Queue(name, role, error="no message_bus in the environment") for name, role in wanted]
        if importlib.util.find_spec("pika") is None:
            return [Queue(name, role, error="pika is not installed") for name, role in wanted]
        return [self._read(name, role) for name, role in wanted]

    def _read(self, name: str, role: str, retry: bool = True) -> Queue:
        from pika.exceptions import AMQPError, ChannelClosedByBroker

        connection = self._connect()
        if connection is None:
            return Queue(name, role, error=self._failure)
        try:
            channel = connection.channel()
            try:
                ok = channel.queue_declare(name, passive=True)
            except ChannelClosedByBroker as exc:  # the channel only: the connection serves the next
                if exc.reply_code == 404:
                    return Queue(name, role, error="no such queue (nothing has consumed it yet)")
                return Queue(name, role, error=f"refused by the broker: {exc.reply_text}")
        except AMQPError as exc:
            # The connection itself (idle past its heartbeat between two models, or the broker
            # restarted): a new one, once.
            self.close()
            if retry:
                return self._read(name, role, retry=False)
            return Queue(name, role, error=f"broker connection lost: {type(exc).__name__}")
        with contextlib.suppress(AMQPError):  # a loss here shows at the next read, which reconnects
            channel.close()
        return Queue(name, role, ok.method.message_count, ok.method.consumer_count)


def to_json(statuses: Sequence[ModelStatus]) -> str:
    return json.dumps({"ok": True, "models": [s.as_dict() for s in statuses]}, indent=2, sort_keys=True)
