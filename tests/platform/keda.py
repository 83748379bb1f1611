"""KEDA's operator, built from its Go module (the proxy's zip) into the cache, run against the platform.

``go install pkg@version`` refuses KEDA (its go.mod has replace directives), so the module's source
is copied out of the module cache and built in place, with its own go.mod and go.sum. The build is
long (about 14 minutes on 2 shared cores, measured) and done once per pinned version. The operator
runs out of cluster with the platform's admin kubeconfig, watching one namespace, its metrics gRPC
service on a free port with a throwaway certificate (it refuses to start without one).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from .build import go_env
from .crds import KEDA
from .proc import StepError, free_port, log, run

BUILD_TIMEOUT_S = 3600


def operator_binary(cachedir: Path) -> Path:
    return cachedir / "keda" / f"keda-operator-{KEDA.version}"


def ensure_keda_operator(cachedir: Path) -> Path:
    binary = operator_binary(cachedir)
    if binary.is_file():
        return binary
    env = go_env() | {"GOMODCACHE": str(cachedir / "crds-gomod")}
    proc = run(["go", "mod", "download", "-json", f"{KEDA.module}@{KEDA.version}"], env=env, timeout=900)
    info: dict[str, Any] = json.loads(proc.stdout)
    if "Error" in info:
        raise StepError(f"go mod download {KEDA.module}@{KEDA.version}: {info['Error']}")
    src = cachedir / "keda" / f"src-{KEDA.version}"
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree(info["Dir"], src)
    for path in [src, *src.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)  # the module cache is read-only
    log(f"building the KEDA operator {KEDA.version} (go build; ~15 min the first time)")
    partial = binary.with_suffix(".partial")
    run(["go", "build", "-o", str(partial), "./cmd/operator"], env=env, cwd=src, timeout=BUILD_TIMEOUT_S)
    partial.rename(binary)
    shutil.rmtree(src, ignore_errors=True)
    return binary


def _certificates(directory: Path) -> None:
    """A CA and a server certificate for 127.0.0.1: ca.crt, tls.crt, tls.key, as the operator reads them."""
    directory.mkdir(parents=True, exist_ok=True)
    openssl = ["openssl"]
    run([*openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(directory / "ca.key"),
         "-out", str(directory / "ca.crt"), "-days", "1", "-subj", "/CN=obs-keda-ca"])  # fmt: skip
    run([*openssl, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(directory / "tls.key"),
         "-out", str(directory / "tls.csr"), "-subj", "/CN=localhost"])  # fmt: skip
    (directory / "ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run([*openssl, "x509", "-req", "-in", str(directory / "tls.csr"), "-CA", str(directory / "ca.crt"),
         "-CAkey", str(directory / "ca.key"), "-CAcreateserial", "-out", str(directory / "tls.crt"),
         "-days", "1", "-extfile", str(directory / "ext")])  # fmt: skip


def start_operator(binary: Path, kubeconfig: Path, namespace: str, workdir: Path) -> subprocess.Popen[bytes]:
    certs = workdir / "certs"
    _certificates(certs)
    env = {
        "WATCH_NAMESPACE": namespace,
        "KEDA_CLUSTER_OBJECT_NAMESPACE": namespace,
        "POD_NAMESPACE": namespace,
        "PATH": "/usr/bin:/bin",
        "HOME": str(workdir),
    }
    log_file = (workdir / "keda-operator.log").open("wb")
    return subprocess.Popen(
        [
            str(binary),
            f"--kubeconfig={kubeconfig}",
            f"--cert-dir={certs}",
            f"--metrics-bind-address=127.0.0.1:{free_port()}",
            f"--health-probe-bind-address=127.0.0.1:{free_port()}",
            f"--metrics-service-bind-address=127.0.0.1:{free_port()}",
            "--leader-elect=false",
        ],
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        cwd=workdir,
    )
