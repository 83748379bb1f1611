"""Registry, podman (Docker API), RabbitMQ and S3 (moto) on 127.0.0.1."""

from __future__ import annotations

import http.client
import shutil
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path

from ..waiting import poll
from .config import DEBIAN_SUITE, HOST, K8S_VERSION, KUBECTL_IMAGE, PYTHON_BASE, BaseImage, Layout
from .proc import TRANSIENT, Daemon, StepError, log, run
from .rabbitmq import RabbitNode


def daemon(layout: Layout, name: str) -> Daemon:
    return Daemon(name, layout.pids, layout.logs)


def _free_or_ours(layout: Layout, name: str, port: int) -> None:
    daemon(layout, name).claim(port)


def http_status(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


# --------------------------------------------------------------------------- registry


def start_registry(layout: Layout) -> None:
    d = daemon(layout, "registry")
    if d.running():
        return
    _free_or_ours(layout, "registry", layout.ports.registry)
    storage = layout.rundir / "registry"
    storage.mkdir(parents=True, exist_ok=True)
    config = layout.rundir / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: {HOST}:{layout.ports.registry}\n"
    )
    d.start(["docker-registry", "serve", str(config)])
    url = f"http://{layout.registry_url}/v2/"
    poll(
        "registry /v2/ to answer 200",
        lambda: d.running() and http_status(url) == 200,
        timeout=30,
        retry_on=TRANSIENT,
        diagnostics=d.log_tail,
    )


# --------------------------------------------------------------------------- podman


def write_containers_config(layout: Layout) -> None:
    c = layout.containers_dir
    for sub in ("storage", "run", "tmp", "cni"):
        (c / sub).mkdir(parents=True, exist_ok=True)
    (c / "containers.conf").write_text(f"""\
[containers]
default_ulimits = []
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{c}/events.log"
tmp_dir = "{c}/tmp"

[network]
network_backend = "cni"
network_config_dir = "{c}/cni"
""")
    (c / "storage.conf").write_text(f"""\
[storage]
driver = "overlay"
runroot = "{c}/run"
graphroot = "{c}/storage"
""")
    (c / "registries.conf").write_text(f"""\
unqualified-search-registries = []
short-name-mode = "permissive"

[[registry]]
location = "{layout.registry_url}"
insecure = true

[[registry]]
location = "localhost:{layout.ports.registry}"
insecure = true
""")


def podman(layout: Layout, *args: str, timeout: float = 600) -> str:
    return run(["podman", *args], env=layout.containers_env(), timeout=timeout).stdout


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=5)
        self._path = str(path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(5)
        sock.connect(self._path)
        self.sock = sock


def docker_api_ping(sock: Path) -> bool:
    conn = _UnixHTTPConnection(sock)
    try:
        conn.request("GET", "/v1.41/_ping")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def start_podman(layout: Layout) -> None:
    write_containers_config(layout)
    d = daemon(layout, "podman")
    if d.running() and docker_api_ping(layout.podman_socket):
        return
    d.stop()
    layout.podman_socket.unlink(missing_ok=True)
    d.start(["podman", "system", "service", "--time=0", f"unix://{layout.podman_socket}"], env=layout.containers_env())
    poll(
        "podman Docker API /_ping",
        lambda: d.running() and docker_api_ping(layout.podman_socket),
        timeout=60,
        retry_on=TRANSIENT,
        diagnostics=d.log_tail,
    )


def ensure_base_image(layout: Layout, image: BaseImage, tarball: Path) -> None:
    """Import a cached rootfs tarball as ``image.local`` and push it to the registry."""
    if not image_exists(layout, image.local):
        log(f"podman import {tarball.name} -> {image.local}")
        podman(
            layout, "import", "--change", 'CMD ["/bin/bash"]', "--change", "ENV LANG=C.UTF-8", str(tarball), image.local
        )
    push_if_missing(layout, image.local, image.name, DEBIAN_SUITE)


def ensure_kubectl_image(layout: Layout, kubectl: Path) -> None:
    """``localhost/kubectl:v<K8S_VERSION>``: the python base plus the version-matched kubectl."""
    if not image_exists(layout, KUBECTL_IMAGE):
        log(f"podman build {KUBECTL_IMAGE}")
        context = layout.rundir / "kubectl-image"
        context.mkdir(parents=True, exist_ok=True)
        shutil.copy2(kubectl, context / "kubectl")
        (context / "Containerfile").write_text(
            f'FROM {PYTHON_BASE.local}\nCOPY kubectl /usr/local/bin/kubectl\nCMD ["kubectl", "version", "--client"]\n'
        )
        podman(layout, "build", "--network=none", "--tag", KUBECTL_IMAGE, str(context))
        shutil.rmtree(context)
    push_if_missing(layout, KUBECTL_IMAGE, "kubectl", f"v{K8S_VERSION}")


def image_exists(layout: Layout, ref: str) -> bool:
    return run(["podman", "image", "exists", ref], env=layout.containers_env(), check=False).returncode == 0


def push_if_missing(layout: Layout, local: str, repository: str, tag: str) -> None:
    """Push ``local`` to ``<registry>/<repository>:<tag>`` unless the registry has that tag."""
    manifest = f"http://{layout.registry_url}/v2/{repository}/manifests/{tag}"
    req = urllib.request.Request(
        manifest, method="HEAD", headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=5):
            return
    except urllib.error.HTTPError as exc:
        if exc.code != 404:
            raise StepError(f"registry: HEAD {manifest} -> {exc.code}") from exc
    remote = f"{layout.registry_url}/{repository}:{tag}"
    log(f"podman push {local} -> {remote}")
    podman(layout, "push", "--format=v2s2", local, f"docker://{remote}")


# --------------------------------------------------------------------------- rabbitmq


def rabbit_node(layout: Layout) -> RabbitNode:
    """The platform's broker: fixed ports, its pid files and log beside the other daemons'."""
    return RabbitNode(
        root=layout.rundir / "rabbitmq",
        name="aiar-testenv@localhost",
        port=layout.ports.amqp,
        dist_port=layout.ports.rabbit_dist,
        epmd_port=layout.ports.epmd,
        piddir=layout.pids,
        logdir=layout.logs,
    )


def start_rabbitmq(layout: Layout) -> None:
    """Start the broker (no-op if it runs) and wait for `rabbitmqctl await_startup`."""
    rabbit_node(layout).start()


def stop_rabbitmq(layout: Layout) -> None:
    rabbit_node(layout).stop()


# --------------------------------------------------------------------------- s3 (moto)

S3_BUCKET = "aiar"
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def start_moto(layout: Layout) -> None:
    d = daemon(layout, "moto")
    if not d.running():
        _free_or_ours(layout, "moto", layout.ports.s3)
        d.start([sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(layout.ports.s3)], env=S3_CREDENTIALS)
    poll(
        "moto_server",
        lambda: d.running() and http_status(f"{layout.s3_endpoint}/moto-api/data.json") == 200,
        timeout=60,
        retry_on=TRANSIENT,
        diagnostics=d.log_tail,
    )
    # The bucket named in environment.yaml (PUT is idempotent in us-east-1).
    req = urllib.request.Request(f"{layout.s3_endpoint}/{S3_BUCKET}", method="PUT")
    with urllib.request.urlopen(req, timeout=10) as resp:
        if resp.status != 200:
            raise StepError(f"moto: creating bucket {S3_BUCKET} -> HTTP {resp.status}")
