"""Pod specs held to Pod Security Standards *restricted*, for the server, the training Job and the scaler.

Every pod: non-root with a fixed numeric UID (so the kubelet can check ``runAsNonRoot`` without reading
the image), no privilege escalation, every capability dropped, the runtime's default seccomp profile,
a read-only root filesystem with an emptyDir at ``/tmp``. Credentials are only ``secretKeyRef``s to
Secrets the environment names; their values never pass through aiar.
"""

from __future__ import annotations

from ... import defaults
from ...plan import ModelPlan
from ...plan.cluster import Access
from .meta import Obj

SCRATCH_VOLUME = "scratch"
CONFIG_VOLUME = "config"
# the name of a volume or an environment variable, not a secret
API_TOKEN_VOLUME = "api-token"  # noqa: S105


def pod_security_context() -> Obj:
    uid = defaults.RUN_AS_UID
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> Obj:
    uid = defaults.RUN_AS_UID
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _secret_env(name: str, secret: str, key: str) -> Obj:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def credential_env(plan: ModelPlan, access: Access) -> list[Obj]:
    """The credentials one workload uses, in the variables the runtime reads (names fixed in runtime/config.py)."""
    env: list[Obj] = []
    bus, storage = plan.server.message_bus, plan.server.storage
    secrets = access.secrets
    if bus is not None and secrets.bus is not None:
        env += [
            _secret_env(bus.username_env, secrets.bus, "username"),
            _secret_env(bus.password_env, secrets.bus, "password"),
        ]
    if storage is not None and secrets.storage is not None:
        env += [
            _secret_env(storage.access_key_env, secrets.storage, "access_key"),
            _secret_env(storage.secret_key_env, secrets.storage, "secret_key"),
        ]
    return env


def scratch_volume() -> Obj:
    return {"name": SCRATCH_VOLUME, "emptyDir": {"sizeLimit": defaults.SCRATCH_SIZE}}


def config_volume(config_map: str) -> Obj:
    return {"name": CONFIG_VOLUME, "configMap": {"name": config_map}}


def model_mounts() -> list[Obj]:
    return [
        {"name": CONFIG_VOLUME, "mountPath": defaults.CONFIG_MOUNT, "readOnly": True},
        {"name": SCRATCH_VOLUME, "mountPath": defaults.SCRATCH_DIR},
    ]


def api_token_volume() -> Obj:
    """What automounting would give (token, CA, namespace), but explicit and with a short-lived token."""
    return {
        "name": API_TOKEN_VOLUME,
        "projected": {
            "sources": [
                {"serviceAccountToken": {"path": "token", "expirationSeconds": defaults.API_TOKEN_TTL_S}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
            ]
        },
    }


def api_token_mount() -> Obj:
    # the path client-go's in-cluster config reads
    return {"name": API_TOKEN_VOLUME, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": True}


def resources(plan: ModelPlan) -> Obj:
    return {"requests": dict(plan.cluster.requests), "limits": dict(plan.cluster.limits)}


def wazuh_sidecar(plan: ModelPlan) -> list[Obj]:
    """The seed's optional Wazuh monitoring: an agent next to the model, enrolled with the env's manager."""
    wazuh = plan.cluster.wazuh
    if wazuh is None:
        return []
    env: list[Obj] = [
        {"name": "WAZUH_MANAGER", "value": wazuh.manager},
        {"name": "WAZUH_AGENT_NAME", "value": f"{plan.cluster.namespace}-{plan.slug}"},
        {"name": "WAZUH_AGENT_GROUP", "value": defaults.PART_OF},
    ]
    if wazuh.registration_secret is not None:
        env.append(_secret_env("WAZUH_REGISTRATION_PASSWORD", wazuh.registration_secret, "password"))
    # the agent has no HTTP endpoint: its own control tool tells whether its daemons run
    status = {"exec": {"command": ["/var/ossec/bin/wazuh-control", "status"]}, "periodSeconds": 30}
    return [
        {
            "name": "wazuh-agent",
            "image": wazuh.agent_image,
            "imagePullPolicy": "Always",
            "env": env,
            "livenessProbe": status,
            "readinessProbe": status,
            "resources": {k: dict(v) for k, v in defaults.SIDECAR_RESOURCES.items()},
            "securityContext": container_security_context(),
            "volumeMounts": [{"name": SCRATCH_VOLUME, "mountPath": defaults.SCRATCH_DIR}],
        }
    ]


def pod_spec(
    plan: ModelPlan,
    containers: list[Obj],
    volumes: list[Obj],
    *,
    service_account: str,
    restart_policy: str | None = None,
) -> Obj:
    spec: Obj = {
        # no pod gets the automatic token; the scaler, the one that calls the API, mounts its own
        "automountServiceAccountToken": False,
        "containers": containers,
        # service links inject an env var per Service in the namespace: noise, and an information leak
        "enableServiceLinks": False,
        "securityContext": pod_security_context(),
        "serviceAccountName": service_account,
        "volumes": volumes,
    }
    if plan.cluster.pull_secret is not None:
        spec["imagePullSecrets"] = [{"name": plan.cluster.pull_secret}]
    if restart_policy is not None:
        spec["restartPolicy"] = restart_policy
    return spec
