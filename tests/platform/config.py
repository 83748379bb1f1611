"""Pinned versions, fixed ports and paths of the local test platform.

Every service listens on 127.0.0.1 only.  Default ports (each overridable with
the environment variable shown):

=====================  =====  ==============================
service                port   override
=====================  =====  ==============================
etcd client            2379   AIAR_TESTENV_ETCD_PORT
etcd peer              2380   AIAR_TESTENV_ETCD_PEER_PORT
kube-apiserver (TLS)   6443   AIAR_TESTENV_APISERVER_PORT
image registry (HTTP)  5000   AIAR_TESTENV_REGISTRY_PORT
RabbitMQ AMQP          5672   AIAR_TESTENV_AMQP_PORT
RabbitMQ distribution  25672  AIAR_TESTENV_RABBIT_DIST_PORT
Erlang epmd            4371   AIAR_TESTENV_EPMD_PORT (private, not 4369)
S3 (moto_server)       9000   AIAR_TESTENV_S3_PORT
podman Docker API      unix socket <rundir>/podman.sock
=====================  =====  ==============================

kube-controller-manager, kube-scheduler and kwok serve no port.  `up` records the
ports in ``<rundir>/ports.json``; later commands on that run dir reuse them, so
``AIAR_TESTENV_DIR`` alone finds a platform started with moved ports.

Paths: the run directory (state, logs, pid files, configs) defaults to
``/tmp/aiar-testenv`` (``AIAR_TESTENV_DIR``); built binaries and the base image
tarballs are cached in ``~/.cache/aiar-testenv`` (``AIAR_TESTENV_CACHE``), keyed
by version.

Other switches: ``AIAR_TESTENV_JAVA=0`` leaves out ``localhost/java-base:bookworm`` (Python +
default-jre-headless, ~350 MiB, ~3-6 min of debootstrap when cold; the H2O examples' ``base_images.java``);
``AIAR_TESTENV_ETCD_BIN=/usr/bin/etcd`` runs another etcd instead of the built one.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

K8S_VERSION = "1.34.4"
"""Kubernetes release built from source (its go.mod needs go >= 1.24)."""

ETCD_VERSION = "3.6.4"
"""etcd built from go.etcd.io/etcd/server/v3 (the version k8s.io/kubernetes requires).
Debian's etcd 3.4 serves the apiserver, but lacks RequestWatchProgress: watch-list
clients (kwok) then fall back to slow relists and pods take ~30-60 s per phase."""

KWOK_VERSION = "0.7.0"
"""sigs.k8s.io/kwok release (fake nodes and pod lifecycle)."""

DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"


@dataclass(frozen=True)
class BaseImage:
    """A base image made without pulls: debootstrap minbase + packages, then podman import."""

    name: str
    packages: tuple[str, ...]

    @property
    def local(self) -> str:
        return f"localhost/{self.name}:{DEBIAN_SUITE}"

    def tarball(self, cachedir: Path) -> Path:
        return cachedir / f"{self.name}-{DEBIAN_SUITE}.tar"


PYTHON_BASE = BaseImage("python-base", ("python3", "python3-venv", "python3-pip", "ca-certificates"))
JAVA_BASE = BaseImage("java-base", (*PYTHON_BASE.packages, "default-jre-headless"))
"""Made by ``up`` unless ``AIAR_TESTENV_JAVA=0`` (and on demand by ``testenv.ensure_java_base``):
Python plus a headless JRE for H2O models; the environment file names it as ``base_images.java``."""
JAVA_BASE_HOME = "/usr/lib/jvm/java-17-openjdk-amd64"
"""``JAVA_HOME`` of JAVA_BASE (Debian bookworm's default-jre-headless), its ``base_images.java_home``."""
PYTHON_BASE_IMAGE = PYTHON_BASE.local
KUBECTL_IMAGE = f"localhost/kubectl:v{K8S_VERSION}"
"""The scaler image CronJobs run (``base_images.kubectl``): python-base + the built kubectl."""
REGISTRY_HOST = "127.0.0.1"
HOST = "127.0.0.1"

APT_PACKAGES: tuple[str, ...] = (
    "etcd-server",
    "podman",
    "runc",
    "conmon",
    "uidmap",
    "fuse-overlayfs",
    "slirp4netns",
    "catatonit",
    "containernetworking-plugins",
    "iptables",
    "docker-registry",
    "rabbitmq-server",
    "debootstrap",
    "openssl",
    "chromium",  # the ui's end-to-end tests (playwright drives it; no browser download)
    "skopeo",  # aiar export / apply --from: OCI image layouts and registry copies
    "wrk",  # bench/serve.py: the HTTP load generator (make bench)
    "prometheus",  # tests/runtime/test_observability.py: a real Prometheus, and promtool for the rules
)
"""Debian packages the platform runs (installed with --no-install-recommends)."""

PIP_PACKAGES: dict[str, tuple[str, ...]] = {
    # requirement -> importable modules proving it is installed
    "moto[server]": ("moto", "flask", "flask_cors"),
    "cryptography": ("cryptography",),
    "PyYAML": ("yaml",),
    "docker": ("docker",),
    "boto3": ("boto3",),
    "pika": ("pika",),
    "kubernetes": ("kubernetes",),
}
"""Python packages used by the platform and by its tests."""


_PORT_DEFAULTS: dict[str, tuple[str, int]] = {
    # field: (environment variable, default)
    "etcd": ("AIAR_TESTENV_ETCD_PORT", 2379),
    "etcd_peer": ("AIAR_TESTENV_ETCD_PEER_PORT", 2380),
    "apiserver": ("AIAR_TESTENV_APISERVER_PORT", 6443),
    "registry": ("AIAR_TESTENV_REGISTRY_PORT", 5000),
    "amqp": ("AIAR_TESTENV_AMQP_PORT", 5672),
    "rabbit_dist": ("AIAR_TESTENV_RABBIT_DIST_PORT", 25672),
    "epmd": ("AIAR_TESTENV_EPMD_PORT", 4371),
    "s3": ("AIAR_TESTENV_S3_PORT", 9000),
}


@dataclass(frozen=True)
class Ports:
    etcd: int
    etcd_peer: int
    apiserver: int
    registry: int
    amqp: int
    rabbit_dist: int
    epmd: int
    s3: int

    @classmethod
    def resolve(cls, rundir: Path) -> Ports:
        """Environment variable, else the ports a previous `up` recorded in the run dir, else default.

        Recording them lets `status`, `down` and later sessions find a platform started
        with moved ports by its run directory alone.
        """
        try:
            recorded: dict[str, int] = json.loads((rundir / "ports.json").read_text())
        except (FileNotFoundError, ValueError):
            recorded = {}
        values = {}
        for name, (var, default) in _PORT_DEFAULTS.items():
            raw = os.environ.get(var)
            values[name] = int(raw) if raw else int(recorded.get(name, default))
        return cls(**values)

    def record(self, rundir: Path) -> None:
        (rundir / "ports.json").write_text(json.dumps(dataclasses.asdict(self), indent=2) + "\n")


def rundir_from_env() -> Path:
    return Path(os.environ.get("AIAR_TESTENV_DIR", "/tmp/aiar-testenv")).resolve()


def cachedir_from_env() -> Path:
    default = Path.home() / ".cache" / "aiar-testenv"
    return Path(os.environ.get("AIAR_TESTENV_CACHE", str(default))).resolve()


@dataclass(frozen=True)
class Layout:
    """Where everything lives for one run directory."""

    rundir: Path
    cachedir: Path
    ports: Ports

    @classmethod
    def from_env(cls) -> Layout:
        rundir = rundir_from_env()
        return cls(rundir, cachedir_from_env(), Ports.resolve(rundir))

    @property
    def pids(self) -> Path:
        return self.rundir / "pids"

    @property
    def logs(self) -> Path:
        return self.rundir / "logs"

    @property
    def pki(self) -> Path:
        return self.rundir / "pki"

    @property
    def kubeconfig(self) -> Path:
        return self.rundir / "kubeconfig"

    @property
    def environment_file(self) -> Path:
        return self.rundir / "environment.yaml"

    @property
    def env_sh(self) -> Path:
        return self.rundir / "env.sh"

    @property
    def podman_socket(self) -> Path:
        return self.rundir / "podman.sock"

    @property
    def docker_host(self) -> str:
        return f"unix://{self.podman_socket}"

    @property
    def containers_dir(self) -> Path:
        return self.rundir / "containers"

    @property
    def registry_url(self) -> str:
        return f"{REGISTRY_HOST}:{self.ports.registry}"

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@{HOST}:{self.ports.amqp}/%2F"

    @property
    def s3_endpoint(self) -> str:
        return f"http://{HOST}:{self.ports.s3}"

    @property
    def apiserver_url(self) -> str:
        return f"https://{HOST}:{self.ports.apiserver}"

    @property
    def k8s_bin(self) -> Path:
        return self.cachedir / f"k8s-v{K8S_VERSION}"

    @property
    def etcd_bin(self) -> Path:
        return self.cachedir / f"etcd-v{ETCD_VERSION}" / "etcd"

    @property
    def kwok_bin(self) -> Path:
        return self.cachedir / f"kwok-v{KWOK_VERSION}" / "kwok"

    def base_images(self) -> tuple[BaseImage, ...]:
        java = os.environ.get("AIAR_TESTENV_JAVA", "1") not in ("", "0")
        return (PYTHON_BASE, JAVA_BASE) if java else (PYTHON_BASE,)

    def containers_env(self) -> dict[str, str]:
        """Variables pointing podman at the private configuration."""
        c = self.containers_dir
        return {
            "CONTAINERS_CONF": str(c / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(c / "storage.conf"),
            "CONTAINERS_REGISTRIES_CONF": str(c / "registries.conf"),
        }
