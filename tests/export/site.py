"""An air-gapped site, run inside a network namespace whose only interface is loopback.

    unshare -n python -m tests.export.site CONFIG.json

Brings ``lo`` up, records what the namespace can reach (its links and routes), starts a registry,
etcd, kube-apiserver, controller-manager, scheduler and kwok with the platform's own starters and
binaries on the ports CONFIG names (a run directory of its own), then runs the ``aiar`` commands
CONFIG lists, in order, recording each one's exit code, stdout and stderr, and what the cluster and
the registry hold after each. Everything it started is stopped before it exits. The result goes to
CONFIG's ``result`` file as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from tests.platform.config import Layout, Ports, cachedir_from_env
from tests.platform.kube import Api, start_apiserver, start_controllers, start_etcd, start_kwok
from tests.platform.proc import Daemon
from tests.platform.services import start_registry

DAEMONS = ("kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd", "registry")
# Variables a command could use to reach something outside: none reaches the commands.
DROPPED = ("DOCKER_HOST", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")


def _run(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900, check=False)
    return {"argv": argv, "code": result.returncode, "stdout": result.stdout, "stderr": result.stderr}


def _catalog(layout: Layout) -> list[str]:
    with urllib.request.urlopen(f"http://{layout.registry_url}/v2/_catalog", timeout=10) as response:
        return list(json.load(response).get("repositories") or [])


def _deployments(layout: Layout, namespace: str) -> dict[str, Any]:
    found = Api(layout).get(f"/apis/apps/v1/namespaces/{namespace}/deployments") or {}
    return {
        d["metadata"]["name"]: {
            "available": any(
                c.get("type") == "Available" and c.get("status") == "True"
                for c in (d.get("status") or {}).get("conditions") or []
            ),
            "image": d["spec"]["template"]["spec"]["containers"][0]["image"],
        }
        for d in found.get("items") or []
    }


def main(config_file: Path) -> None:
    config = json.loads(config_file.read_text())
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)  # noqa: S607
    reach = {
        "links": subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout,  # noqa: S607
        "routes": subprocess.run(["ip", "route"], capture_output=True, text=True, check=True).stdout,  # noqa: S607
        "routes6": subprocess.run(["ip", "-6", "route"], capture_output=True, text=True, check=True).stdout,  # noqa: S607
    }
    ports = config["ports"]
    layout = Layout(
        Path(config["rundir"]),
        cachedir_from_env(),
        Ports(ports["etcd"], ports["etcd_peer"], ports["apiserver"], ports["registry"], 1, 1, 1, 1),
    )
    for sub in ("pids", "logs"):
        (layout.rundir / sub).mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"reach": reach, "steps": []}
    try:
        start_registry(layout)
        start_etcd(layout, layout.etcd_bin)
        start_apiserver(layout, layout.k8s_bin)
        start_controllers(layout, layout.k8s_bin)
        start_kwok(layout, layout.kwok_bin)
        env = {k: v for k, v in os.environ.items() if k not in DROPPED}
        env |= {"KUBECONFIG": str(layout.kubeconfig), **config.get("environ", {})}
        for argv in config["commands"]:
            step = _run([sys.executable, "-m", "generator.cli", *argv], env)
            step["registry"] = _catalog(layout)
            step["deployments"] = _deployments(layout, config["namespace"])
            result["steps"].append(step)
    finally:
        for name in DAEMONS:
            Daemon(name, layout.pids, layout.logs).stop()
        Path(config["result"]).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
