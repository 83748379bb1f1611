"""Autoscaling for real on the platform: the generated objects against the real CRDs, and KEDA's real
operator scaling a bus model's Deployment on its real queue in the platform's RabbitMQ.

- every object of a bus model (KEDA) and a REST model (HPA), monitoring included, passes a
  server-side dry run and then a server-side apply on the platform's kube-apiserver, where the
  pinned Prometheus Operator and KEDA CRDs are installed; a ScaledObject the CRD's schema refuses is
  refused;
- the model server, run from the generated config, declares the very queue the ScaledObject names;
- KEDA's operator (built from its Go module) scales the Deployment 0 -> 1 when messages wait in that
  queue and back to 0 once the server has drained it; the stop CronJob's own kubectl command pauses
  the ScaledObject (messages then wake nothing) and the start CronJob's lifts the pause.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pika
import pytest
import yaml
from pika.exceptions import ChannelClosedByBroker

from generator.pipeline import generate
from tests.conftest import REPO
from tests.platform.keda import ensure_keda_operator, start_operator
from tests.platform.kube import Api
from tests.platform.proc import terminate
from tests.platform.testenv import RABBIT_SECRET, Platform
from tests.waiting import poll

from .conftest import RunningServer

NAMESPACE = "obs-keda"
SLUG = "obs-keda-scorer"
IN_KEY = "obs-keda.in"
# kind -> (API path prefix, resource): what the generated trees hold
RESOURCES = {
    "ConfigMap": ("/api/v1", "configmaps"),
    "ServiceAccount": ("/api/v1", "serviceaccounts"),
    "Service": ("/api/v1", "services"),
    "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles"),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings"),
    "Job": ("/apis/batch/v1", "jobs"),
    "CronJob": ("/apis/batch/v1", "cronjobs"),
    "Deployment": ("/apis/apps/v1", "deployments"),
    "PodDisruptionBudget": ("/apis/policy/v1", "poddisruptionbudgets"),
    "NetworkPolicy": ("/apis/networking.k8s.io/v1", "networkpolicies"),
    "HorizontalPodAutoscaler": ("/apis/autoscaling/v2", "horizontalpodautoscalers"),
    "ScaledObject": ("/apis/keda.sh/v1alpha1", "scaledobjects"),
    "TriggerAuthentication": ("/apis/keda.sh/v1alpha1", "triggerauthentications"),
    "PodMonitor": ("/apis/monitoring.coreos.com/v1", "podmonitors"),
    "PrometheusRule": ("/apis/monitoring.coreos.com/v1", "prometheusrules"),
}
MANIFEST = {
    "name": "Obs Keda Scorer",
    "input": {"prediction": [{"type": "MESSAGE_BUS", "payload": {"routingKeys": [{"name": IN_KEY}]}}]},
    "output": {"prediction": [{"type": "MESSAGE_BUS", "payload": {"routingKeys": [{"name": "obs-keda.out"}]}}]},
    "modelData": {"type": "PYTHON", "payload": {"dependencies": []}},
    "schedule": {"start": [{"at": "06:00"}], "stop": [{"at": "22:00"}]},
}
PREDICT = "def predict(model, reading):\n    return {'score': 1.0}\n"


def _path(obj: dict[str, Any]) -> str:
    prefix, resource = RESOURCES[obj["kind"]]
    meta = obj["metadata"]
    return f"{prefix}/namespaces/{meta['namespace']}/{resource}/{meta['name']}"


def _apply(api: Api, obj: dict[str, Any], *, dry_run: bool) -> tuple[int, str]:
    query = "fieldManager=aiar-obs-test&force=true" + ("&dryRun=All" if dry_run else "")
    return api.request("PATCH", f"{_path(obj)}?{query}", json.dumps(obj).encode(), "application/apply-patch+yaml")


@pytest.fixture(scope="module")
def compiled(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bus-driven model (KEDA) and the REST quality classifier (HPA), both scheduled and monitored,
    compiled against the platform's environment in a namespace of these tests."""
    root = tmp_path_factory.mktemp("keda")
    bundle = root / "bundles" / SLUG
    (bundle / "src").mkdir(parents=True)
    (bundle / "manifest.json").write_text(json.dumps(MANIFEST))
    (bundle / "src" / "predict.py").write_text(PREDICT)
    env = yaml.safe_load(platform.env_file.read_text())
    env["namespace"] = NAMESPACE
    env["observability"] = {}
    env["autoscaling"] = {"enabled": True, "min_replicas": 0, "max_replicas": 2, "queue_length": 5}
    env["autoscaling"] |= {"polling_interval_s": 2, "cooldown_s": 5}
    env_file = root / "environment.yaml"
    env_file.write_text(yaml.safe_dump(env))
    generate([bundle, REPO / "bundles" / "quality-classifier"], env_file, root / "aiar.lock", root / "out")
    api = Api(platform.layout)
    api.apply(
        f"/api/v1/namespaces/{NAMESPACE}", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    )
    api.apply(
        f"/api/v1/namespaces/{NAMESPACE}/secrets/{RABBIT_SECRET}",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": RABBIT_SECRET, "namespace": NAMESPACE},
            "stringData": {"username": "guest", "password": "guest"},
        },
    )
    return root / "out"


def _objects(out: Path, slug: str) -> list[dict[str, Any]]:
    index = json.loads((out / "index.json").read_text())
    return [yaml.safe_load((out / f).read_text()) for f in index["models"][slug]["kubernetes"]]


def test_every_object_is_accepted_by_the_api_server(platform: Platform, compiled: Path) -> None:
    api = Api(platform.layout)
    kinds = set()
    for slug in (SLUG, "quality-classifier"):
        for obj in _objects(compiled, slug):
            kinds.add(obj["kind"])
            status, text = _apply(api, obj, dry_run=True)
            assert status in (200, 201), (obj["kind"], obj["metadata"]["name"], text[:800])
            status, text = _apply(api, obj, dry_run=False)
            assert status in (200, 201), (obj["kind"], obj["metadata"]["name"], text[:800])
            live = api.get(_path(obj))
            assert live is not None
            assert live["spec" if "spec" in obj else "metadata"]
    assert {"ScaledObject", "TriggerAuthentication", "HorizontalPodAutoscaler", "PodMonitor", "PrometheusRule"} <= kinds


def test_the_crds_refuse_a_bad_custom_resource(platform: Platform, compiled: Path) -> None:
    """The acceptance above has teeth: the real CRD schemas are enforced."""
    api = Api(platform.layout)
    [scaled] = [o for o in _objects(compiled, SLUG) if o["kind"] == "ScaledObject"]
    del scaled["spec"]["scaleTargetRef"]["name"]  # required by the CRD's schema
    status, text = _apply(api, scaled, dry_run=True)
    assert status == 422, text
    assert "scaleTargetRef.name" in text
    [rule] = [o for o in _objects(compiled, SLUG) if o["kind"] == "PrometheusRule"]
    rule["spec"]["groups"][0]["rules"][0]["for"] = "ten minutes"
    status, text = _apply(api, rule, dry_run=True)
    assert status == 422, text


# --- the real queue and KEDA's operator --------------------------------------------------------------


def _server_config(out: Path, platform: Platform) -> dict[str, Any]:
    [config_map] = [
        o for o in _objects(out, SLUG) if o["kind"] == "ConfigMap" and not o["metadata"]["name"].endswith("dashboard")
    ]
    [text] = config_map["data"].values()
    config: dict[str, Any] = json.loads(text)
    config["code"]["src_dir"] = str(out.parent / "bundles" / SLUG / "src")
    return config


def _channel(platform: Platform) -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.URLParameters(platform.amqp_url))


def _depth(platform: Platform, queue: str) -> int:
    connection = _channel(platform)
    try:
        count = connection.channel().queue_declare(queue, durable=True, passive=True).method.message_count
        assert count is not None
        return int(count)
    finally:
        connection.close()


def _publish(platform: Platform, count: int) -> None:
    connection = _channel(platform)
    try:
        channel = connection.channel()
        for i in range(count):
            channel.basic_publish("amq.topic", IN_KEY, json.dumps({"reading": i}).encode())
    finally:
        connection.close()


def _replicas(api: Api) -> int:
    deployment = api.get(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{SLUG}") or {}
    return int((deployment.get("spec") or {}).get("replicas") or 0)


def _wait_replicas(api: Api, wanted: Callable[[int], bool], what: str, log: Path) -> None:
    poll(
        f"the Deployment to be scaled {what}",
        lambda: True if wanted(_replicas(api)) else None,
        timeout=90,
        interval=0.5,
        diagnostics=lambda: f"replicas {_replicas(api)}; operator log tail:\n{log.read_text()[-3000:]}",
    )


@pytest.fixture
def operator(platform: Platform, compiled: Path, tmp_path: Path) -> Iterator[Path]:
    binary = ensure_keda_operator(platform.layout.cachedir)
    process = start_operator(binary, platform.kubeconfig, NAMESPACE, tmp_path)
    try:
        yield tmp_path / "keda-operator.log"
    finally:
        terminate(process)


def _kubectl(platform: Platform, args: list[str]) -> None:
    kubectl = shutil.which("kubectl") or str(platform.layout.k8s_bin / "kubectl")
    proc = subprocess.run(
        [kubectl, f"--kubeconfig={platform.kubeconfig}", *args], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr


def _cron_args(out: Path, name: str) -> list[str]:
    [cron] = [o for o in _objects(out, SLUG) if o["kind"] == "CronJob" and o["metadata"]["name"] == name]
    [container] = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    args: list[str] = container["args"]
    return args


def test_keda_scales_the_model_on_its_real_queue(
    platform: Platform,
    compiled: Path,
    operator: Path,
    start_server: Callable[..., RunningServer],
) -> None:
    api = Api(platform.layout)
    for obj in _objects(compiled, SLUG):
        status, text = _apply(api, obj, dry_run=False)
        assert status in (200, 201), text[:500]
    [scaled] = [o for o in _objects(compiled, SLUG) if o["kind"] == "ScaledObject"]
    config = _server_config(compiled, platform)
    queue = config["prediction_bus"]["queue"]
    assert [t["metadata"]["queueName"] for t in scaled["spec"]["triggers"]] == [queue]
    assert scaled["spec"]["triggers"][0]["metadata"]["host"] == "amqp://127.0.0.1:5672/"

    # the model server declares its queue (the one the ScaledObject names) and drains it
    server = start_server(config, platform.runtime_credentials())
    server.wait_ready()
    poll(
        "the server's queue",
        lambda: True if _depth(platform, queue) == 0 else None,
        timeout=30,
        retry_on=(ChannelClosedByBroker,),
    )
    _wait_replicas(api, lambda n: n == 0, "to 0 while its queue is idle", operator)

    # messages wait (the server stopped): 0 -> 1
    server.process.terminate()
    server.process.wait(15)
    _publish(platform, 12)
    assert _depth(platform, queue) == 12
    _wait_replicas(api, lambda n: n >= 1, "up while messages wait", operator)

    # the server drains the queue: back to 0 once idle (cooldown 5s)
    server = start_server(config, platform.runtime_credentials())
    poll("the queue to drain", lambda: True if _depth(platform, queue) == 0 else None, timeout=60)
    _wait_replicas(api, lambda n: n == 0, "back to 0 when idle", operator)
    server.process.terminate()
    server.process.wait(15)

    # stopped by its schedule: the stop CronJob's command pauses it, and waiting messages wake nothing
    _kubectl(platform, _cron_args(compiled, f"{SLUG}-stop"))
    live = api.get(_path(scaled)) or {}
    assert live["metadata"]["annotations"]["autoscaling.keda.sh/paused-replicas"] == "0"
    _publish(platform, 12)
    time.sleep(8)  # four polling intervals: the operator would have scaled it up by now
    assert _replicas(api) == 0
    # started: the pause is lifted and KEDA scales it for the waiting messages
    _kubectl(platform, _cron_args(compiled, f"{SLUG}-start"))
    live = api.get(_path(scaled)) or {}
    assert "autoscaling.keda.sh/paused-replicas" not in (live["metadata"].get("annotations") or {})
    _wait_replicas(api, lambda n: n >= 1, "up again once started", operator)
    connection = _channel(platform)
    try:
        connection.channel().queue_purge(queue)
    finally:
        connection.close()
