"""Cached builds: Kubernetes control plane and kwok from the Go module proxy,
and a debootstrapped Debian base image tarball.  Everything lands in the cache
directory keyed by version, outside the repository; builds log progress to stderr.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from .config import DEBIAN_MIRROR, DEBIAN_SUITE, ETCD_VERSION, K8S_VERSION, KWOK_VERSION, Layout
from .proc import StepError, file_lock, log, run, run_streamed

KUBE_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
"""Built in one `go build` so the packages they share compile once."""


def go_env() -> dict[str, str]:
    """Module-mode build settings that work with only the module proxy reachable."""
    flags = os.environ.get("GOFLAGS", "")
    if "-mod=" not in flags:
        flags = f"{flags} -mod=mod".strip()
    return {
        "GOFLAGS": flags,
        "GOTOOLCHAIN": "local",
        # sum.golang.org is not reachable here; go.sum is still written from the
        # downloaded content of the proxy.  Honour an explicit setting.
        "GOSUMDB": os.environ.get("GOSUMDB", "off"),
    }


def _module_info(module: str, version: str, env: dict[str, str]) -> dict[str, Any]:
    """`go mod download -json` of one module version (GoMod path, Time, Origin)."""
    proc = run(["go", "mod", "download", "-json", f"{module}@{version}"], env=env, timeout=600)
    info: dict[str, Any] = json.loads(proc.stdout)
    if "Error" in info:
        raise StepError(f"go mod download {module}@{version}: {info['Error']}")
    return info


def version_ldflags(version: str, commit: str, build_date: str) -> str:
    """Link flags stamping the release like Kubernetes' own build does (hack/lib/version.sh).

    Without them every binary reports v0.0.0-master (`kubectl version`, the apiserver's /version).
    """
    major, minor, _patch = version.split(".")
    values = {
        "gitVersion": f"v{version}",
        "gitMajor": major,
        "gitMinor": minor,
        "gitCommit": commit,
        "gitTreeState": "clean",
        "buildDate": build_date,
    }
    stamps = [
        f"-X {pkg}.{key}={value}"
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
        for key, value in values.items()
    ]
    return " ".join(["-s", "-w", *stamps])


def kube_build_module(kubernetes_go_mod: str, version: str) -> str:
    """go.mod of a throwaway module building k8s.io/kubernetes at ``version``.

    k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them
    with ./staging/src/...; a consumer replaces each with the published v0.X.Y.
    """
    go_line = re.search(r"^go (\S+)$", kubernetes_go_mod, re.M)
    staging = re.findall(r"^\s*(k8s\.io/\S+)\s+=>\s+\./staging/src/", kubernetes_go_mod, re.M)
    if not go_line or not staging:
        raise StepError("unexpected k8s.io/kubernetes go.mod: no go line or no staging replaces")
    _major, minor, patch = version.split(".")
    staging_version = f"v0.{minor}.{patch}"
    replaces = "\n".join(f"\t{m} => {m} {staging_version}" for m in staging)
    return (
        "module aiar.local/testenv/kubebuild\n\n"
        f"go {go_line.group(1)}\n\n"
        f"require k8s.io/kubernetes v{version}\n\n"
        f"replace (\n{replaces}\n)\n"
    )


def _kube_build_id() -> str:
    return json.dumps({"version": K8S_VERSION, "commands": KUBE_COMMANDS, "stamped": True})


def ensure_kube_binaries(layout: Layout) -> Path:
    """kube-apiserver, kube-controller-manager, kube-scheduler and kubectl at K8S_VERSION, cached."""
    bindir = layout.k8s_bin
    stamp = bindir / "BUILD.json"

    def cached() -> bool:
        return stamp.is_file() and stamp.read_text() == _kube_build_id()

    if cached():
        return bindir
    with file_lock(layout.cachedir / "k8s-build.lock", "kubernetes build"):
        if cached():
            return bindir
        start = time.monotonic()
        log(
            f"building Kubernetes v{K8S_VERSION} ({', '.join(KUBE_COMMANDS)}) from the Go module proxy; "
            "a cold build takes ~15-25 min on 2 cores"
        )
        env = go_env()
        work = Path(tempfile.mkdtemp(prefix="kubebuild-", dir=layout.cachedir))
        try:
            info = _module_info("k8s.io/kubernetes", f"v{K8S_VERSION}", env)
            (work / "go.mod").write_text(kube_build_module(Path(info["GoMod"]).read_text(), K8S_VERSION))
            imports = "\n".join(f'\t_ "k8s.io/kubernetes/cmd/{c}"' for c in KUBE_COMMANDS)
            (work / "tools.go").write_text(f"//go:build tools\n\npackage tools\n\nimport (\n{imports}\n)\n")
            logs = layout.cachedir / "logs"
            run_streamed(
                ["go", "mod", "tidy"],
                what="go mod tidy (kubernetes)",
                logfile=logs / "k8s-tidy.log",
                env=env,
                cwd=work,
                timeout=1800,
            )
            log(f"kubernetes modules resolved in {time.monotonic() - start:.0f}s; compiling")
            out = work / "bin"
            out.mkdir()
            ldflags = version_ldflags(
                K8S_VERSION, info.get("Origin", {}).get("Hash", "unknown"), info.get("Time", "unknown")
            )
            run_streamed(
                [
                    "go",
                    "build",
                    "-v",
                    "-trimpath",
                    f"-ldflags={ldflags}",
                    "-o",
                    f"{out}/",
                    *(f"k8s.io/kubernetes/cmd/{c}" for c in KUBE_COMMANDS),
                ],
                what="go build (kubernetes)",
                logfile=logs / "k8s-build.log",
                env=env,
                cwd=work,
                timeout=4800,
            )
            (out / "BUILD.json").write_text(_kube_build_id())
            tmp = bindir.with_name(bindir.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            out.rename(tmp)
            shutil.rmtree(bindir, ignore_errors=True)
            tmp.rename(bindir)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        log(f"kubernetes v{K8S_VERSION} built in {time.monotonic() - start:.0f}s -> {bindir}")
    return bindir


_ETCD_MAIN = """package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
"""


def ensure_etcd(layout: Layout) -> Path:
    """etcd at ETCD_VERSION: a one-line main around etcdmain, from the module proxy.

    ``AIAR_TESTENV_ETCD_BIN=/usr/bin/etcd`` uses another etcd (e.g. Debian's 3.4) instead.
    """
    if os.environ.get("AIAR_TESTENV_ETCD_BIN"):
        return Path(os.environ["AIAR_TESTENV_ETCD_BIN"])
    binary = layout.etcd_bin
    if binary.is_file():
        return binary
    with file_lock(layout.cachedir / "etcd-build.lock", "etcd build"):
        if binary.is_file():
            return binary
        start = time.monotonic()
        log(f"building etcd v{ETCD_VERSION} from the Go module proxy")
        env = go_env()
        work = Path(tempfile.mkdtemp(prefix="etcdbuild-", dir=layout.cachedir))
        try:
            (work / "go.mod").write_text(
                "module aiar.local/testenv/etcdbuild\n\ngo 1.24.0\n\n"
                f"require go.etcd.io/etcd/server/v3 v{ETCD_VERSION}\n"
            )
            (work / "main.go").write_text(_ETCD_MAIN)
            logs = layout.cachedir / "logs"
            run_streamed(
                ["go", "mod", "tidy"],
                what="go mod tidy (etcd)",
                logfile=logs / "etcd-tidy.log",
                env=env,
                cwd=work,
                timeout=1800,
            )
            run_streamed(
                ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", "etcd", "."],
                what="go build (etcd)",
                logfile=logs / "etcd-build.log",
                env=env,
                cwd=work,
                timeout=3600,
            )
            binary.parent.mkdir(parents=True, exist_ok=True)
            (work / "etcd").rename(binary)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        log(f"etcd v{ETCD_VERSION} built in {time.monotonic() - start:.0f}s")
    return binary


def ensure_kwok(layout: Layout) -> Path:
    binary = layout.kwok_bin
    if binary.is_file():
        return binary
    with file_lock(layout.cachedir / "kwok-build.lock", "kwok build"):
        if binary.is_file():
            return binary
        start = time.monotonic()
        log(f"building kwok v{KWOK_VERSION} (go install)")
        gobin = Path(tempfile.mkdtemp(prefix="kwokbin-", dir=layout.cachedir))
        try:
            env = go_env() | {"GOBIN": str(gobin), "GOFLAGS": "-trimpath"}
            run_streamed(
                ["go", "install", "-ldflags=-s -w", f"sigs.k8s.io/kwok/cmd/kwok@v{KWOK_VERSION}"],
                what="go install kwok",
                logfile=layout.cachedir / "logs" / "kwok-build.log",
                env=env,
                timeout=3600,
            )
            binary.parent.mkdir(parents=True, exist_ok=True)
            (gobin / "kwok").rename(binary)
        finally:
            shutil.rmtree(gobin, ignore_errors=True)
        log(f"kwok v{KWOK_VERSION} built in {time.monotonic() - start:.0f}s")
    return binary


# Trimmed from the debootstrapped tree before it becomes an image (globs).
_TRIM = (
    "usr/share/doc/*",
    "usr/share/man/*",
    "usr/share/info/*",
    "usr/share/locale/*",
    "usr/share/lintian/*",
    "var/lib/apt/lists/*",
    "var/cache/apt/*.bin",
    "var/cache/apt/archives/*.deb",
    "var/cache/debconf/*-old",
    "var/log/*.log",
)


def ensure_base_tar(layout: Layout, tarball: Path, packages: tuple[str, ...]) -> Path:
    """A Debian minbase root filesystem tarball with ``packages``, cached."""
    if tarball.is_file():
        return tarball
    with file_lock(tarball.with_suffix(".lock"), f"debootstrap {tarball.name}"):
        if tarball.is_file():
            return tarball
        start = time.monotonic()
        log(f"debootstrap {DEBIAN_SUITE} with {','.join(packages)} -> {tarball} (~1 min)")
        work = Path(tempfile.mkdtemp(prefix="rootfs-", dir=layout.cachedir))
        root = work / "root"
        try:
            run_streamed(
                [
                    "debootstrap",
                    "--variant=minbase",
                    f"--include={','.join(packages)}",
                    DEBIAN_SUITE,
                    str(root),
                    DEBIAN_MIRROR,
                ],
                what="debootstrap",
                logfile=layout.cachedir / "logs" / f"{tarball.stem}-debootstrap.log",
                timeout=1800,
            )
            for pattern in _TRIM:
                for path in root.glob(pattern):
                    if path.is_dir() and not path.is_symlink():
                        shutil.rmtree(path)
                    else:
                        path.unlink()
            tmp = tarball.with_name(tarball.name + ".tmp")
            run(["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-cf", str(tmp), "."], timeout=600)
            tmp.rename(tarball)
        finally:
            run(["rm", "-rf", "--one-file-system", str(work)], check=False)
        size = tarball.stat().st_size / 2**20
        log(f"{tarball.name}: {size:.0f} MiB in {time.monotonic() - start:.0f}s")
    return tarball
