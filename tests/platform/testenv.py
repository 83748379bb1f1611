"""The real local platform for integration tests, all on 127.0.0.1.

    python -m tests.platform.testenv up       # install, build (cached), start; idempotent
    python -m tests.platform.testenv status   # what runs
    python -m tests.platform.testenv env      # shell exports: eval "$(python -m tests.platform.testenv env)"
    python -m tests.platform.testenv down [--purge]   # stop what `up` started (--purge: delete the run dir)

Pieces: etcd + kube-apiserver/controller-manager/scheduler (built from the Go module
proxy) + kwok fake nodes (Deployments become Available, Jobs complete; containers
never really run); docker-registry; podman serving the Docker API on a unix socket
(builds FROM localhost/python-base:bookworm, a debootstrapped image); RabbitMQ;
moto S3.  Ports, versions and paths: see ``config.py``.
From pytest use :func:`ensure_up`, which returns a :class:`Platform`.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import re
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..waiting import WaitTimeout
from .build import ensure_base_tar, ensure_etcd, ensure_kube_binaries, ensure_kwok
from .config import (
    ETCD_VERSION,
    JAVA_BASE,
    JAVA_BASE_HOME,
    K8S_VERSION,
    KUBECTL_IMAGE,
    KWOK_VERSION,
    PYTHON_BASE,
    PYTHON_BASE_IMAGE,
    BaseImage,
    Layout,
)
from .crds import install_crds
from .install import ensure_installed
from .kube import check_scheduling, ensure_namespace, start_apiserver, start_controllers, start_etcd, start_kwok
from .proc import Daemon, StepError, file_lock, log, run
from .services import (
    S3_CREDENTIALS,
    ensure_base_image,
    ensure_kubectl_image,
    start_moto,
    start_podman,
    start_rabbitmq,
    start_registry,
    stop_rabbitmq,
)

NAMESPACE = "aiar-test"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
RABBIT_SECRET = "aiar-rabbitmq"
S3_SECRET = "aiar-s3"

# Start order; `down` stops in reverse.
DAEMONS = (
    "registry",
    "podman",
    "epmd",
    "rabbitmq",
    "moto",
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
)


@dataclass(frozen=True)
class Platform:
    """Handles on a running platform, for tests."""

    rundir: Path
    kubeconfig: Path
    docker_host: str
    registry: str
    amqp_url: str
    s3_endpoint: str
    env_file: Path
    namespace: str
    python_base_image: str
    layout: Layout = field(repr=False)

    def env(self) -> dict[str, str]:
        """Environment variables pointing clients (kubectl, docker, podman, boto3) at the platform."""
        return environment_variables(self.layout)

    def runtime_credentials(self) -> dict[str, str]:
        """The credential variables the generated server config names (the pods get them from Secrets)."""
        env = self.env()
        return {
            "AIAR_AMQP_USERNAME": "guest",
            "AIAR_AMQP_PASSWORD": "guest",
            "AIAR_S3_ACCESS_KEY": env["AWS_ACCESS_KEY_ID"],
            "AIAR_S3_SECRET_KEY": env["AWS_SECRET_ACCESS_KEY"],
        }

    def s3_client(self, bucket: str) -> Any:
        """A boto3 S3 client on the platform's S3, with ``bucket`` created if it is missing."""
        import boto3

        env = self.env()
        client = boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name="us-east-1",
        )
        if bucket not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
            client.create_bucket(Bucket=bucket)
        return client

    def stop_rabbitmq(self) -> None:
        stop_rabbitmq(self.layout)

    def start_rabbitmq(self) -> None:
        start_rabbitmq(self.layout)

    def restart_rabbitmq(self) -> None:
        """Stop the broker and start it again (queues declared durable survive)."""
        self.stop_rabbitmq()
        self.start_rabbitmq()


def platform_for(layout: Layout) -> Platform:
    return Platform(
        rundir=layout.rundir,
        kubeconfig=layout.kubeconfig,
        docker_host=layout.docker_host,
        registry=layout.registry_url,
        amqp_url=layout.amqp_url,
        s3_endpoint=layout.s3_endpoint,
        env_file=layout.environment_file,
        namespace=NAMESPACE,
        python_base_image=PYTHON_BASE_IMAGE,
        layout=layout,
    )


def environment_variables(layout: Layout) -> dict[str, str]:
    return {
        "AIAR_TESTENV_DIR": str(layout.rundir),
        "AIAR_ENVIRONMENT_FILE": str(layout.environment_file),
        "KUBECONFIG": str(layout.kubeconfig),
        "AIAR_KUBECTL": str(layout.k8s_bin / "kubectl"),  # matches the apiserver version
        "DOCKER_HOST": layout.docker_host,
        **layout.containers_env(),
        "AIAR_REGISTRY": layout.registry_url,
        "AIAR_AMQP_URL": layout.amqp_url,
        "AIAR_S3_ENDPOINT": layout.s3_endpoint,
        **S3_CREDENTIALS,
    }


def pip_index_url(layout: Layout) -> str:
    """The index pip uses on this machine ('' when it is PyPI's default); cached per run dir."""
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"]
    cached = layout.rundir / "pip-index-url"
    if cached.is_file():
        return cached.read_text().strip()
    out = run([sys.executable, "-m", "pip", "config", "list"], check=False).stdout
    match = re.search(r"^[\w:.-]*\.index-url='([^']*)'", out, re.M)
    url = match.group(1) if match else ""
    cached.write_text(url + "\n")
    return url


def base_image_names(layout: Layout) -> dict[str, BaseImage]:
    return {image.name.removesuffix("-base"): image for image in layout.base_images()}


def write_outputs(layout: Layout) -> None:
    import yaml  # third-party: imported after ensure_installed() ran

    env = {
        "namespace": NAMESPACE,
        "registry": {"url": layout.registry_url, "insecure": True},
        "base_images": {
            **{name: image.local for name, image in base_image_names(layout).items()},
            **({"java_home": JAVA_BASE_HOME} if JAVA_BASE in layout.base_images() else {}),
            "kubectl": KUBECTL_IMAGE,
        },
        # aiar rejects an empty index URL: leave the key out when pip uses PyPI
        "pip": {"index_url": index_url} if (index_url := pip_index_url(layout)) else {},
        "build": {"ca_bundle": CA_BUNDLE},
        "message_bus": {
            "host": "127.0.0.1",
            "port": layout.ports.amqp,
            "vhost": "/",
            "credentials_secret": RABBIT_SECRET,
        },
        "storage": {
            "endpoint": layout.s3_endpoint,
            "bucket": "aiar",
            "region": "us-east-1",
            "credentials_secret": S3_SECRET,
        },
    }
    layout.environment_file.write_text(yaml.safe_dump(env, sort_keys=False))
    lines = [f"export {k}={shlex.quote(v)}" for k, v in environment_variables(layout).items()]
    layout.env_sh.write_text("# generated by python -m tests.platform.testenv up\n" + "\n".join(lines) + "\n")


# --------------------------------------------------------------------------- up / down / status


def _images(layout: Layout) -> None:
    for image in layout.base_images():
        tarball = ensure_base_tar(layout, image.tarball(layout.cachedir), image.packages)
        ensure_base_image(layout, image, tarball)


def _kube(layout: Layout) -> None:
    bindir = ensure_kube_binaries(layout)
    etcd = ensure_etcd(layout)
    kwok = ensure_kwok(layout)
    start_etcd(layout, etcd)
    start_apiserver(layout, bindir)
    start_controllers(layout, bindir)
    start_kwok(layout, kwok)
    check_scheduling(layout)
    # the Prometheus Operator's and KEDA's CRDs: what aiar's monitoring and autoscaling objects are
    install_crds(layout)
    ensure_namespace(
        layout,
        NAMESPACE,
        {
            RABBIT_SECRET: {"username": "guest", "password": "guest"},
            # the keys the generated pods read (generator/render/cluster/pod.py)
            S3_SECRET: {
                "access_key": S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                "secret_key": S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            },
        },
    )


def up(layout: Layout | None = None) -> Platform:
    layout = layout or Layout.from_env()
    start = time.monotonic()
    layout.rundir.mkdir(parents=True, exist_ok=True)
    layout.cachedir.mkdir(parents=True, exist_ok=True)
    with file_lock(layout.rundir / "up.lock", "testenv up"):
        layout.ports.record(layout.rundir)
        ensure_installed()
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            # Long cached builds run in the background while services start.
            kube = pool.submit(_kube, layout)
            start_registry(layout)
            start_podman(layout)
            images = pool.submit(_images, layout)
            start_rabbitmq(layout)
            start_moto(layout)
            errors = [f.exception() for f in (images, kube)]
        for err in errors:
            if err is not None:
                raise err
        ensure_kubectl_image(layout, layout.k8s_bin / "kubectl")
        write_outputs(layout)
    log(f"platform up in {time.monotonic() - start:.1f}s; state in {layout.rundir}")
    return platform_for(layout)


def ensure_up() -> Platform:
    """Start (or reuse) the platform; safe from several concurrent test sessions."""
    return up(Layout.from_env())


def ensure_java_base(platform: Platform | None = None) -> tuple[str, str]:
    """``localhost/java-base:bookworm`` (python-base plus a headless JRE) in podman, built on demand.

    ``up`` makes it unless ``AIAR_TESTENV_JAVA=0``; tests of H2O images call this too (a no-op once
    made). The first call debootstraps (~6 min, then cached in the cache dir like the python base).
    Returns ``(image, java_home)`` for ``base_images.java``/``java_home``.
    """
    layout = platform.layout if platform is not None else Layout.from_env()
    with file_lock(layout.rundir / "java-base.lock", "java base image"):
        tarball = ensure_base_tar(layout, JAVA_BASE.tarball(layout.cachedir), JAVA_BASE.packages)
        ensure_base_image(layout, JAVA_BASE, tarball)
    return JAVA_BASE.local, JAVA_BASE_HOME


def down(layout: Layout | None = None, purge: bool = False) -> None:
    layout = layout or Layout.from_env()
    if not layout.rundir.exists():
        return
    with file_lock(layout.rundir / "up.lock", "testenv down"):
        for name in reversed(DAEMONS):
            d = Daemon(name, layout.pids, layout.logs)
            if name == "rabbitmq" and d.running():
                stop_rabbitmq(layout)
                log("stopped rabbitmq")
            elif name == "podman" and d.running():
                # containers the tests left running live in the private storage root
                run(["podman", "stop", "--all", "--time=5"], env=layout.containers_env(), check=False)
            if d.stop():
                log(f"stopped {name}")
    if purge:
        run(["podman", "rm", "--all", "--force"], env=layout.containers_env(), check=False)
        run(["rm", "-rf", "--one-file-system", str(layout.rundir)], check=False)
        log(f"removed {layout.rundir}")


def status(layout: Layout | None = None) -> int:
    """Print each daemon's state; returns the number not running."""
    layout = layout or Layout.from_env()
    down_count = 0
    for name in DAEMONS:
        pid = Daemon(name, layout.pids, layout.logs).pid()
        down_count += pid is None
        print(f"{name:24} {'running pid ' + str(pid) if pid else 'stopped'}")
    cached = {
        f"kubernetes v{K8S_VERSION}": layout.k8s_bin.is_dir(),
        f"etcd v{ETCD_VERSION}": layout.etcd_bin.is_file(),
        f"kwok v{KWOK_VERSION}": layout.kwok_bin.is_file(),
        f"{PYTHON_BASE.name} tarball": PYTHON_BASE.tarball(layout.cachedir).is_file(),
    }
    print("cache: " + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in cached.items()) + f" ({layout.cachedir})")
    print(f"run dir: {layout.rundir}")
    return down_count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.platform.testenv",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="install, build (cached) and start everything")
    p_down = sub.add_parser("down", help="stop everything `up` started")
    p_down.add_argument("--purge", action="store_true", help="also delete the run directory")
    sub.add_parser("status", help="show what runs (exit 1 if something is stopped)")
    sub.add_parser("env", help="print shell exports for the platform")
    args = parser.parse_args(argv)
    layout = Layout.from_env()
    try:
        if args.command == "up":
            platform = up(layout)
            print(
                f"KUBECONFIG={platform.kubeconfig}\nDOCKER_HOST={platform.docker_host}\n"
                f"environment file: {platform.env_file}\nexports: . {layout.env_sh}"
            )
        elif args.command == "down":
            down(layout, purge=args.purge)
        elif args.command == "status":
            return 1 if status(layout) else 0
        elif args.command == "env":
            sys.stdout.write(
                "".join(f"export {k}={shlex.quote(v)}\n" for k, v in environment_variables(layout).items())
            )
    except (StepError, WaitTimeout) as exc:
        print(f"testenv {args.command}: FAILED\n{exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
