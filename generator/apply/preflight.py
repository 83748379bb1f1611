"""Before any build: can every pin of the images to build be installed on their base image's Python?

A pin that cannot (the seed's ``pandas==1.0.1`` has no wheel for Python 3.11; a private package is
not on the index) would otherwise fail minutes into a build, after other images were built. Here
each model's own pins are looked up on the environment's package index for the base image's Python
version and platform, read from the base image itself, and every one that cannot install is named.

Images install wheels only unless the environment allows source builds (``pip.source_builds``);
then a pin only has to exist on the index.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..contract import LOCKED_REQUIREMENTS_MARKER, RUNTIME_REQUIREMENTS_MARKER
from ..environment import Environment
from ..errors import Problem
from . import ApplyError
from .outdir import Image

PIP_TIMEOUT_S = 120.0
WORKERS = 4

# Run inside the base image: the facts pip needs to pick wheels for it.
_FACTS = (
    "import json, platform, sys; "
    "print(json.dumps({'python': '%d.%d' % sys.version_info[:2], 'machine': platform.machine(), "
    "'libc': platform.libc_ver()}))"
)


@dataclass(frozen=True)
class Target:
    """The interpreter and platform of a base image, in pip's terms."""

    python: str
    """``3.11``"""
    machine: str
    glibc: tuple[int, int] | None

    def describe(self) -> str:
        libc = f", glibc {self.glibc[0]}.{self.glibc[1]}" if self.glibc else ""
        return f"Python {self.python} on linux {self.machine}{libc}"

    def pip_options(self) -> list[str]:
        digits = self.python.replace(".", "")
        options = ["--python-version", self.python, "--implementation", "cp"]
        for abi in (f"cp{digits}", "abi3", "none"):
            options += ["--abi", abi]
        platforms = [f"linux_{self.machine}"]
        if self.glibc is not None and self.glibc[0] == 2:
            platforms += [f"manylinux_2_{minor}_{self.machine}" for minor in range(self.glibc[1], 4, -1)]
            legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
            platforms += [f"{name}_{self.machine}" for minor, name in legacy.items() if minor <= self.glibc[1]]
        for tag in platforms:
            options += ["--platform", tag]
        return options


def model_pins(image: Image) -> tuple[str, ...]:
    """The model's own pins in the build context's requirements (aiar's runtime pins come after); none
    for a locked context, whose every wheel ``aiar lock`` already found for the base image."""
    path = image.context / "requirements.txt"
    if not path.is_file():
        return ()
    lines = path.read_text(encoding="utf-8").splitlines()
    if LOCKED_REQUIREMENTS_MARKER in lines:
        return ()
    pins = []
    for line in lines:
        if line.strip() == RUNTIME_REQUIREMENTS_MARKER:
            break
        if line.strip() and not line.lstrip().startswith("#"):
            pins.append(line.strip())
    return tuple(pins)


def target_of(docker: Any, base_image: str) -> Target:
    """Ask the base image itself (a throwaway container with no network)."""
    try:
        docker.images.get(base_image)
    except Exception:  # not in the engine's store yet: the build would pull it too
        docker.images.pull(base_image)
    raw = docker.containers.run(
        base_image, ["python3", "-c", _FACTS], remove=True, network_disabled=True, user="65534:65534"
    )
    facts = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
    libc_name, libc_version = facts.get("libc") or ["", ""]
    glibc = None
    if libc_name == "glibc" and libc_version:
        major, minor = (int(x) for x in libc_version.split(".")[:2])
        glibc = (major, minor)
    return Target(str(facts["python"]), str(facts["machine"]), glibc)


def index_options(env: Environment) -> list[str]:
    options: list[str] = []
    if env.pip.index_url:
        options += ["--index-url", env.pip.index_url]
    for url in env.pip.extra_index_urls:
        options += ["--extra-index-url", url]
    for host in env.pip.trusted_hosts:
        options += ["--trusted-host", host]
    return options


def why_not(pin: str, target: Target, env: Environment, wheels_only: bool = False) -> str | None:
    """None when ``pin`` installs on ``target``; else pip's reason, in one line."""
    # Wheels only: for the target's interpreter and platform. With source builds allowed, pip takes no
    # interpreter constraints (it would have to run the build): then the pin only has to exist.
    wheels = wheels_only or not env.pip.source_builds
    constraints = ["--only-binary=:all:", *target.pip_options()] if wheels else []
    with tempfile.TemporaryDirectory(prefix="aiar-preflight-") as scratch:
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check",
            "--dest", scratch, *constraints, *index_options(env), pin,
        ]  # fmt: skip
        try:
            # a fixed argv, no shell: its parts come from the environment file or out/
            result = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False)  # noqa: S603
        except subprocess.TimeoutExpired:
            return f"the package index did not answer within {PIP_TIMEOUT_S:.0f}s"
    if result.returncode == 0:
        return None
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip().startswith("ERROR:")]
    if lines:
        return lines[-1].removeprefix("ERROR: ")
    return (result.stderr.strip().splitlines() or ["pip failed"])[-1]


def check_pins(images: Sequence[Image], env: Environment, docker: Any) -> None:
    problems = pin_problems(images, env, docker)
    if problems:
        raise ApplyError(problems)


def pin_problems(images: Sequence[Image], env: Environment, docker: Any) -> list[Problem]:
    """One problem per pin of these images that cannot install, found before anything is built."""
    pins: dict[str, set[str]] = {}  # pin -> models that need it
    for image in images:
        for pin in model_pins(image):
            pins.setdefault(pin, set()).add(image.model)
    if not pins:
        return []
    target = target_of(docker, env.base_images.python)
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        reasons = dict(zip(pins, pool.map(lambda pin: why_not(pin, target, env), pins), strict=True))
    return [
        _problem(pin, sorted(pins[pin]), why, target, env) for pin, why in sorted(reasons.items()) if why is not None
    ]


def _problem(pin: str, models: Iterable[str], why: str, target: Target, env: Environment) -> Problem:
    wheels = "" if env.pip.source_builds else " (images install wheels only; see pip.source_builds)"
    return Problem(
        f"{', '.join(models)}: {pin}",
        "",
        f"cannot be installed on {target.describe()}{wheels}: {why}",
    )
