"""etcd + kube-apiserver + kube-controller-manager + kube-scheduler + kwok fake nodes."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ..waiting import poll
from .config import HOST, Layout
from .proc import TRANSIENT, Daemon, StepError, port_open

FIELD_MANAGER = "aiar-testenv"
KWOK_NODES = ("kwok-node-0", "kwok-node-1")


def _daemon(layout: Layout, name: str) -> Daemon:
    return Daemon(name, layout.pids, layout.logs)


class Api:
    """Minimal REST client for the local apiserver (admin client certificate)."""

    def __init__(self, layout: Layout) -> None:
        pki = layout.pki
        self.base = layout.apiserver_url
        self.ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self.ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json"
    ) -> tuple[int, str]:
        req = urllib.request.Request(
            self.base + path,
            data=body,
            method=method,
            headers={"Content-Type": content_type, "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=10) as resp:
                return int(resp.status), resp.read().decode()
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read().decode(errors="replace")

    def get(self, path: str) -> dict[str, Any] | None:
        status, text = self.request("GET", path)
        if status == 404:
            return None
        if status != 200:
            raise StepError(f"GET {path} -> {status}: {text[:500]}")
        result: dict[str, Any] = json.loads(text)
        return result

    def apply(self, path: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply ``obj`` at ``path`` (the object's own URL)."""
        status, text = self.request(
            "PATCH",
            f"{path}?fieldManager={FIELD_MANAGER}&force=true",
            json.dumps(obj).encode(),
            "application/apply-patch+yaml",
        )
        if status not in (200, 201):
            raise StepError(f"server-side apply {path} -> {status}: {text[:500]}")
        result: dict[str, Any] = json.loads(text)
        return result


# --------------------------------------------------------------------------- etcd


def start_etcd(layout: Layout, etcd: Path) -> None:
    d = _daemon(layout, "etcd")
    p = layout.ports
    if not d.running():
        if port_open(p.etcd):
            raise StepError(f"etcd: 127.0.0.1:{p.etcd} is used by a process this platform did not start")
        client, peer = f"http://{HOST}:{p.etcd}", f"http://{HOST}:{p.etcd_peer}"
        d.start(
            [
                str(etcd),
                "--name=aiar-testenv",
                f"--data-dir={layout.rundir / 'etcd'}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=aiar-testenv={peer}",
                "--initial-cluster-state=new",
                "--logger=zap",
                "--log-level=warn",
                # throwaway data: skip fsync (flag exists from etcd 3.5; not in Debian's 3.4)
                *(["--unsafe-no-fsync"] if etcd == layout.etcd_bin else []),
            ]
        )

    def healthy() -> bool:
        if not d.running():
            raise StepError("etcd exited\n" + d.log_tail())
        with urllib.request.urlopen(f"http://{HOST}:{p.etcd}/health", timeout=2) as resp:
            return bool(json.load(resp).get("health") == "true")

    poll("etcd /health", healthy, timeout=60, retry_on=TRANSIENT, diagnostics=d.log_tail)


# --------------------------------------------------------------------------- control plane


SERVICE_CIDR = "10.0.0.0/24"  # its first address (the `kubernetes` Service) is in the serving cert


def start_apiserver(layout: Layout, bindir: Path) -> None:
    from .pki import ensure_pki, write_kubeconfig  # cryptography: imported after ensure_installed() ran

    ensure_pki(layout.pki)
    write_kubeconfig(layout.kubeconfig, layout.pki, layout.apiserver_url)
    d = _daemon(layout, "kube-apiserver")
    pki = layout.pki
    if not d.running():
        if port_open(layout.ports.apiserver):
            raise StepError(f"kube-apiserver: 127.0.0.1:{layout.ports.apiserver} is used by another process")
        d.start(
            [
                str(bindir / "kube-apiserver"),
                f"--etcd-servers=http://{HOST}:{layout.ports.etcd}",
                f"--bind-address={HOST}",
                f"--advertise-address={HOST}",
                f"--secure-port={layout.ports.apiserver}",
                f"--cert-dir={pki}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=RBAC",
                "--allow-privileged=true",
                # a loopback advertise address is not a valid Endpoints address
                "--endpoint-reconciler-type=none",
                "--profiling=false",
            ]
        )
    api = Api(layout)

    def ready() -> bool:
        if not d.running():
            raise StepError("kube-apiserver exited\n" + d.log_tail())
        return api.request("GET", "/readyz")[0] == 200

    poll("kube-apiserver /readyz", ready, timeout=120, retry_on=TRANSIENT, interval=0.5, diagnostics=d.log_tail)


def start_controllers(layout: Layout, bindir: Path) -> None:
    pki = layout.pki
    kcm = _daemon(layout, "kube-controller-manager")
    if not kcm.running():
        kcm.start(
            [
                str(bindir / "kube-controller-manager"),
                f"--kubeconfig={layout.kubeconfig}",
                f"--bind-address={HOST}",
                "--secure-port=0",
                "--leader-elect=false",
                "--use-service-account-credentials=false",
                # The node lifecycle controller must run: it alone removes the not-ready:NoSchedule
                # taint that the API server puts on every new node, so without it no pod is ever
                # scheduled on a fresh platform. kwok's fake nodes miss heartbeats while image builds
                # load both cores; a grace period of hours keeps the controller from then marking
                # them NotReady (and evicting their pods).
                "--node-monitor-grace-period=6h",
                "--node-startup-grace-period=6h",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--root-ca-file={pki / 'ca.crt'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--cluster-name=aiar-testenv",
                "--profiling=false",
            ]
        )
    sched = _daemon(layout, "kube-scheduler")
    if not sched.running():
        sched.start(
            [
                str(bindir / "kube-scheduler"),
                f"--kubeconfig={layout.kubeconfig}",
                f"--bind-address={HOST}",
                "--secure-port=0",
                "--leader-elect=false",
                "--profiling=false",
            ]
        )
    api = Api(layout)

    def default_sa() -> bool:
        for d in (kcm, sched):
            if not d.running():
                raise StepError(f"{d.name} exited\n" + d.log_tail())
        return api.get("/api/v1/namespaces/default/serviceaccounts/default") is not None

    poll(
        "kube-controller-manager to create the default ServiceAccount",
        default_sa,
        timeout=90,
        retry_on=TRANSIENT,
        interval=0.5,
        diagnostics=lambda: kcm.log_tail() + "\n" + sched.log_tail(),
    )


def start_kwok(layout: Layout, kwok: Path) -> None:
    d = _daemon(layout, "kwok")
    if not d.running():
        workdir = layout.rundir / "kwok"
        workdir.mkdir(parents=True, exist_ok=True)
        d.start(
            [
                str(kwok),
                f"--kubeconfig={layout.kubeconfig}",
                "--manage-all-nodes=false",
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                # Fake pods and nodes get loopback addresses: nothing on this machine may try to reach
                # a private-range address, and the API server refuses to proxy to loopback at once
                # (a test that wants a pod's /metrics gives it a podman container's address).
                "--cidr=127.244.0.0/16",
                "--node-ip=127.0.1.1",
            ],
            env={"KWOK_WORKDIR": str(workdir)},
        )
    api = Api(layout)
    for name in KWOK_NODES:
        api.apply(f"/api/v1/nodes/{name}", fake_node(name))

    def nodes_ready() -> bool:
        if not d.running():
            raise StepError("kwok exited\n" + d.log_tail())
        for name in KWOK_NODES:
            node = api.get(f"/api/v1/nodes/{name}") or {}
            conditions = node.get("status", {}).get("conditions", [])
            if not any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
                return False
        return True

    poll("kwok nodes to be Ready", nodes_ready, timeout=60, retry_on=TRANSIENT, interval=0.5, diagnostics=d.log_tail)


PROBE_POD = "/api/v1/namespaces/default/pods/aiar-testenv-probe"


def check_scheduling(layout: Layout) -> None:
    """Prove the platform runs pods: a plain pod (no tolerations) is scheduled and kwok runs it.

    A fresh platform once stored objects but never scheduled a pod (its nodes kept the not-ready
    taint); this makes ``up`` fail at once, with the scheduler's reason, instead of every test later.
    """
    api = Api(layout)
    api.request("DELETE", PROBE_POD + "?gracePeriodSeconds=0")
    poll("the previous probe pod to go", lambda: api.get(PROBE_POD) is None, timeout=30, retry_on=TRANSIENT)
    api.apply(
        PROBE_POD,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "aiar-testenv-probe", "namespace": "default"},
            "spec": {"containers": [{"name": "probe", "image": "probe:none"}]},
        },
    )

    def running() -> bool:
        pod = api.get(PROBE_POD) or {}
        return bool(pod.get("status", {}).get("phase") == "Running")

    def why() -> str:
        pod = api.get(PROBE_POD) or {}
        conditions = pod.get("status", {}).get("conditions", [])
        reasons = [f"{c.get('reason')}: {c.get('message')}" for c in conditions if c.get("status") != "True"]
        nodes = (api.get("/api/v1/nodes") or {}).get("items", [])
        taints = {n["metadata"]["name"]: n.get("spec", {}).get("taints", []) for n in nodes}
        return f"pod conditions: {reasons or conditions}\nnode taints: {taints}"

    poll(
        "a probe pod to be scheduled and running",
        running,
        timeout=60,
        retry_on=TRANSIENT,
        interval=0.5,
        diagnostics=why,
    )
    api.request("DELETE", PROBE_POD + "?gracePeriodSeconds=0")


def fake_node(name: str) -> dict[str, Any]:
    resources = {"cpu": "32", "memory": "256Gi", "pods": "110", "ephemeral-storage": "100Gi"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/os": "linux",
                "kubernetes.io/hostname": name,
                "kubernetes.io/role": "agent",
                "node-role.kubernetes.io/agent": "",
                "type": "kwok",
            },
        },
        "spec": {},
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "kubeletVersion": "fake",
                "kubeProxyVersion": "fake",
            },
        },
    }


def ensure_namespace(layout: Layout, namespace: str, secrets: dict[str, dict[str, str]]) -> None:
    """The test namespace, its default ServiceAccount, and the credential Secrets it references."""
    api = Api(layout)
    api.apply(
        f"/api/v1/namespaces/{namespace}", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    )
    for name, data in secrets.items():
        api.apply(
            f"/api/v1/namespaces/{namespace}/secrets/{name}",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "Opaque",
                "metadata": {"name": name, "namespace": namespace},
                "stringData": data,
            },
        )
    poll(
        f"ServiceAccount default in {namespace}",
        lambda: api.get(f"/api/v1/namespaces/{namespace}/serviceaccounts/default") is not None,
        timeout=30,
        retry_on=TRANSIENT,
    )
