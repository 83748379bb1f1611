"""The model's own objects: ServiceAccount, config, training Job, Deployment, Service and PodDisruptionBudget."""

from __future__ import annotations

from ... import defaults
from ...plan import ModelPlan
from ..image import BuiltImage
from .autoscale import autoscaled_by
from .meta import WAIT_ANNOTATION, Obj, content_hash, labels, metadata, selector
from .pod import (
    config_volume,
    container_security_context,
    credential_env,
    model_mounts,
    pod_spec,
    resources,
    scratch_volume,
    wazuh_sidecar,
)

HTTP_PORT_NAME = "http"


def service_account(plan: ModelPlan) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(plan, plan.cluster.service_account, "server"),
        # the model never calls the API server; pods also opt out, this makes it the default
        "automountServiceAccountToken": False,
    }


def config_map(plan: ModelPlan, server_json: bytes) -> Obj:
    """The model-server config under a content-hashed name: a change makes a new ConfigMap and so a rollout."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(plan, f"{plan.slug}-config-{content_hash(server_json)}", "server"),
        "immutable": True,
        "data": {defaults.CONFIG_FILE: server_json.decode("utf-8")},
    }


def _pod_annotations(plan: ModelPlan) -> dict[str, str]:
    if plan.layers is not None:  # the bundle's own server: no /metrics to promise
        return _job_pod_annotations(plan)
    return {
        f"{defaults.ANNOTATION_PREFIX}/model": plan.manifest.name,
        f"{defaults.ANNOTATION_PREFIX}/model-version": str(plan.version),
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(defaults.HTTP_PORT),
        "prometheus.io/path": "/metrics",
    }


def _http_probe(path: str, **timing: int) -> Obj:
    return {"httpGet": {"path": path, "port": HTTP_PORT_NAME}, "periodSeconds": defaults.PROBE_PERIOD_S, **timing}


def _tcp_probe(**timing: int) -> Obj:
    return {"tcpSocket": {"port": HTTP_PORT_NAME}, "periodSeconds": defaults.PROBE_PERIOD_S, **timing}


def _probes(plan: ModelPlan) -> Obj:
    if plan.layers is not None:
        # The bundle's own server has no OIP health routes: it is alive when it accepts connections, and
        # ready when the health route its OpenAPI document declares answers (else, when it accepts them).
        # Liveness stays TCP: a health route that reports a dependency down must not restart the server.
        path = plan.cluster.readiness_path
        return {
            "startupProbe": _tcp_probe(periodSeconds=5, failureThreshold=defaults.STARTUP_FAILURES),
            "livenessProbe": _tcp_probe(failureThreshold=3),
            "readinessProbe": _tcp_probe(failureThreshold=3) if path is None else _http_probe(path, failureThreshold=3),
        }
    return {
        # OIP health routes: live once the process serves, ready only once the model is loaded
        "startupProbe": _http_probe("/v2/health/live", periodSeconds=5, failureThreshold=defaults.STARTUP_FAILURES),
        "livenessProbe": _http_probe("/v2/health/live", failureThreshold=3),
        "readinessProbe": _http_probe("/v2/health/ready", failureThreshold=3),
    }


def _server_container(plan: ModelPlan, image: BuiltImage) -> Obj:
    container: Obj = {
        "name": "model-server",
        "image": image.ref,
        # tags are content digests, so Always costs one manifest check and guards against a re-pushed tag
        "imagePullPolicy": "Always",
        "ports": [{"name": HTTP_PORT_NAME, "containerPort": defaults.HTTP_PORT, "protocol": "TCP"}],
        **_probes(plan),
        "resources": resources(plan),
        "securityContext": container_security_context(),
        "volumeMounts": model_mounts(),
    }
    env = credential_env(plan, plan.cluster.server)
    if plan.layers is not None:
        # the manifest's envVars (also ENV in the image, so that it runs the same outside the cluster)
        env = [{"name": name, "value": value} for name, value in plan.layers.env_vars] + env
    if env:
        container["env"] = env
    return container


def _spread(plan: ModelPlan) -> list[Obj]:
    """Replicas on different nodes, then zones, where the cluster has them; never a reason not to schedule."""
    return [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": selector(plan, "server")},
            # a rollout's new pods are counted apart from the old ones they replace
            "matchLabelKeys": ["pod-template-hash"],
        }
        for key in defaults.SPREAD_TOPOLOGY_KEYS
    ]


def deployment(plan: ModelPlan, image: BuiltImage, config_name: str) -> Obj:
    pod = pod_spec(
        plan,
        [_server_container(plan, image), *wazuh_sidecar(plan)],
        [config_volume(config_name), scratch_volume()],
        service_account=plan.cluster.service_account,
    )
    if plan.cluster.max_replicas > 1:
        pod["topologySpreadConstraints"] = _spread(plan)
    spec: Obj = {
        "revisionHistoryLimit": defaults.REVISION_HISTORY,
        "selector": {"matchLabels": selector(plan, "server")},
        "template": {
            "metadata": {"labels": labels(plan, "server", member=False), "annotations": _pod_annotations(plan)},
            "spec": pod,
        },
    }
    # With a schedule the scale CronJobs own the replica count; a replicas field here would make every
    # apply undo the last start or stop.
    # Under an autoscaler, it owns the count: the same holds.
    if plan.cluster.replicas is not None:
        spec["replicas"] = plan.cluster.replicas
    obj = _serving_object(plan, "apps/v1", "Deployment", spec)
    obj["metadata"]["annotations"] |= autoscaled_by(plan)
    return obj


def _serving_object(plan: ModelPlan, api_version: str, kind: str, spec: Obj) -> Obj:
    """An object of the model's server, named after the model: its Deployment, Service and budget."""
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata(plan, plan.slug, "server"), "spec": spec}


def service(plan: ModelPlan) -> Obj:
    port = {"name": HTTP_PORT_NAME, "port": defaults.SERVICE_PORT, "targetPort": HTTP_PORT_NAME, "protocol": "TCP"}
    return _serving_object(
        plan, "v1", "Service", {"type": "ClusterIP", "selector": selector(plan, "server"), "ports": [port]}
    )


def disruption_budget(plan: ModelPlan) -> Obj:
    """For a model with more than one replica: a node drain evicts its pods one at a time."""
    spec = {
        "maxUnavailable": defaults.PDB_MAX_UNAVAILABLE,
        "selector": {"matchLabels": selector(plan, "server")},
        # a pod that is not ready (a model that fails to load) protects nothing: let drains evict it
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
    }
    return _serving_object(plan, "policy/v1", "PodDisruptionBudget", spec)


def training_job(plan: ModelPlan, image: BuiltImage, config_name: str) -> Obj:
    """Training from storage, once per (image, config): Job specs are immutable, so the name is their hash."""
    container: Obj = {
        "name": "train",
        "image": image.ref,
        "imagePullPolicy": "Always",
        "resources": resources(plan),
        "securityContext": container_security_context(),
        "volumeMounts": model_mounts(),
    }
    assert plan.cluster.training is not None  # rendered only for a model that trains from storage
    env = credential_env(plan, plan.cluster.training)
    if env:
        container["env"] = env
    spec: Obj = {
        "backoffLimit": defaults.TRAINING_BACKOFF_LIMIT,
        "activeDeadlineSeconds": defaults.TRAINING_DEADLINE_S,
        "template": {
            "metadata": {"labels": labels(plan, "training", member=False), "annotations": _job_pod_annotations(plan)},
            "spec": pod_spec(
                plan,
                [container],
                [config_volume(config_name), scratch_volume()],
                service_account=plan.cluster.service_account,
                restart_policy="Never",
            ),
        },
    }
    # No ttlSecondsAfterFinished: a Job deleted after finishing would be re-created, and so re-run, by
    # the next apply. The Job goes when its hash changes (pruned with the ApplySet).
    name = f"{plan.slug}-train-{content_hash(spec)}"
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(plan, name, "training", {WAIT_ANNOTATION: "Complete"}),
        "spec": spec,
    }


def _job_pod_annotations(plan: ModelPlan) -> dict[str, str]:
    return {
        f"{defaults.ANNOTATION_PREFIX}/model": plan.manifest.name,
        f"{defaults.ANNOTATION_PREFIX}/model-version": str(plan.version),
    }
