"""Install step: Debian and Python packages (idempotent; one dpkg query when done)."""

from __future__ import annotations

import importlib.util
import sys

from .config import APT_PACKAGES, PIP_PACKAGES
from .proc import StepError, log, run


def missing_apt(packages: tuple[str, ...] = APT_PACKAGES) -> list[str]:
    proc = run(["dpkg-query", "-W", "-f=${Package} ${db:Status-Abbrev}\n", *packages], check=False)
    installed = {
        line.split()[0] for line in proc.stdout.splitlines() if len(line.split()) > 1 and line.split()[1] == "ii"
    }
    return [p for p in packages if p not in installed]


def ensure_apt() -> None:
    missing = missing_apt()
    if not missing:
        return
    log(f"apt: installing {' '.join(missing)}")
    cmd = [
        "apt-get",
        "install",
        "-y",
        "--no-install-recommends",
        "-o",
        "DPkg::Lock::Timeout=900",
        *missing,
    ]
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    try:
        run(cmd, env=env, timeout=1800)
    except StepError as first:
        # A concurrent `apt-get update` (its Post-Invoke empties the archive
        # cache) or stale lists make the first attempt fail: refresh and retry.
        log(f"apt: install failed, running apt-get update and retrying:\n{first}")
        run(["apt-get", "update", "-o", "DPkg::Lock::Timeout=900"], env=env, timeout=900)
        run(cmd, env=env, timeout=1800)
    still = missing_apt()
    if still:
        raise StepError(f"apt: packages still not installed: {' '.join(still)}")


def missing_pip() -> list[str]:
    return [req for req, modules in PIP_PACKAGES.items() if any(importlib.util.find_spec(m) is None for m in modules)]


def ensure_pip() -> None:
    missing = missing_pip()
    if not missing:
        return
    log(f"pip: installing {' '.join(missing)}")
    run([sys.executable, "-m", "pip", "install", "--quiet", *missing], timeout=1800)
    importlib.invalidate_caches()


def ensure_installed() -> None:
    ensure_apt()
    ensure_pip()
