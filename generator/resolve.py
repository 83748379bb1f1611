"""``aiar lock``: resolve each model's Python requirements for its base image, with hashes.

Like ``terraform init``, this is the step that may use the network: it asks the base image for its
Python and platform (as apply's pin check does), then pip itself resolves each model's requirements
(its pins, then the model server's) for that interpreter and platform, wheels only
(``pip install --dry-run --report``); no resolver of our own. ``generate`` then reads the result
(:mod:`generator.reqlock`) without any network.

A pin that has no wheel for the base image's Python is named (package and Python) and nothing is
written. The other models' entries of an existing lock are kept when the bundles given are a subset,
so a model that cannot be locked (the seed's Injection Model) does not keep the others from it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .apply.preflight import PIP_TIMEOUT_S, WORKERS, Target, index_options, target_of, why_not
from .environment import Environment
from .errors import AiarError, Problem
from .kinds import kind_of
from .lock import read_lock
from .pipeline import compile_all
from .plan import image_requirements
from .reqlock import (
    LockedPackage,
    LockedRequirements,
    LockTarget,
    RequirementsLock,
    read_requirements_lock,
    render_requirements_lock,
    requirements_lock_path,
)
from .writer import write_file_atomic

MAX_PACKAGES = 2000
"""Bound on what one model's resolution may list (a real one lists dozens)."""


@dataclass(frozen=True)
class LockResult:
    path: Path
    target: LockTarget
    models: dict[str, int]
    """slug -> number of packages locked."""
    written: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "lock": str(self.path),
            "target": self.target.model_dump(mode="json"),
            "models": self.models,
            "written": self.written,
        }


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_target(base_image: str, target: Target) -> LockTarget:
    glibc = f"{target.glibc[0]}.{target.glibc[1]}" if target.glibc else None
    return LockTarget(base_image=base_image, python=target.python, machine=target.machine, glibc=glibc)


def _sha256_of(item: dict[str, Any]) -> str | None:
    info = (item.get("download_info") or {}).get("archive_info") or {}
    hashes = info.get("hashes") or {}
    if isinstance(hashes.get("sha256"), str):
        return str(hashes["sha256"])
    legacy = info.get("hash")
    if isinstance(legacy, str) and legacy.startswith("sha256="):
        return legacy.removeprefix("sha256=")
    return None


def packages_of(report: dict[str, Any]) -> list[LockedPackage]:
    """The packages of a ``pip install --report`` (format version 1), sorted by name."""
    items = report.get("install")
    if not isinstance(items, list) or len(items) > MAX_PACKAGES:
        raise ValueError("pip's report lists no installs, or too many")
    packages = []
    for item in items:
        metadata = item.get("metadata") or {}
        url = str((item.get("download_info") or {}).get("url") or "")
        digest = _sha256_of(item)
        wheel = url.rsplit("/", 1)[-1].split("#", 1)[0]
        if digest is None or not wheel.endswith(".whl"):
            raise ValueError(f"pip chose no wheel with a sha256 for {metadata.get('name')}: {url}")
        packages.append(
            LockedPackage(
                name=_normalize(str(metadata["name"])), version=str(metadata["version"]), sha256=digest, wheel=wheel
            )
        )
    return sorted(packages, key=lambda p: p.name)


def resolve(requirements: Sequence[str], target: Target, env: Environment) -> list[LockedPackage] | str:
    """The exact wheels pip installs for ``requirements`` on ``target``; pip's reason when it cannot."""
    with tempfile.TemporaryDirectory(prefix="aiar-lock-") as scratch:
        report_path = Path(scratch) / "report.json"
        command = [
            sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
            "--disable-pip-version-check", "--no-cache-dir", "--report", str(report_path),
            "--only-binary=:all:", *target.pip_options(), *index_options(env), *requirements,
        ]  # fmt: skip
        try:
            # a fixed argv, no shell: its parts come from the environment file and the manifests
            result = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S * 3, check=False)  # noqa: S603
        except subprocess.TimeoutExpired:
            return "pip did not finish resolving in time"
        if result.returncode != 0:
            lines = [line.strip() for line in result.stderr.splitlines() if line.strip().startswith("ERROR:")]
            return (lines or result.stderr.strip().splitlines() or ["pip failed"])[-1].removeprefix("ERROR: ")
        try:
            return packages_of(json.loads(report_path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError) as exc:
            return f"unreadable pip report: {exc}"


def lock_requirements(
    bundles: Sequence[Path],
    env_file: Path,
    lock_file: Path,
    docker_factory: Callable[[], Any],
    given: Target | None = None,
) -> LockResult:
    """Resolve and write ``aiar.requirements.lock`` next to ``lock_file``; every problem, or nothing written.

    ``given``: the base image's Python and platform, instead of asking a container of it."""
    from .environment import load_environment

    environment = load_environment(env_file)
    compiled = compile_all(bundles, environment, read_lock(lock_file))  # without the old entries: they may be stale
    path = requirements_lock_path(lock_file)
    previous = read_requirements_lock(path).lock
    env = environment.env
    wanted: dict[str, tuple[str, ...]] = {}
    for model in compiled.models:
        if not kind_of(model.plan.manifest).own_server:
            wanted[model.plan.slug] = image_requirements(model.plan.requirements, model.plan.runtime_extras)
    # The base image's facts, from the image itself unless given (an engine without the image).
    target = given or target_of(docker_factory(), env.base_images.python)
    locked_target = lock_target(env.base_images.python, target)
    distinct = sorted(set(wanted.values()))
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = dict(zip(distinct, pool.map(lambda reqs: resolve(reqs, target, env), distinct), strict=True))
    problems: list[Problem] = []
    for slug, reqs in sorted(wanted.items()):
        outcome = results[reqs]
        if isinstance(outcome, str):
            problems += _unlockable(slug, reqs, outcome, target, env)
    if problems:
        raise AiarError(problems)
    kept = previous.models if previous.target == locked_target else {}
    models = dict(kept)
    for slug, reqs in wanted.items():
        packages = results[reqs]
        assert not isinstance(packages, str)
        models[slug] = LockedRequirements(requirements=list(reqs), packages=packages)
    new = RequirementsLock(target=locked_target, models=dict(sorted(models.items())))
    data = render_requirements_lock(new)
    written = not path.exists() or path.read_bytes() != data
    if written:
        write_file_atomic(path, data)
    return LockResult(path, locked_target, {s: len(models[s].packages) for s in sorted(wanted)}, written)


def _unlockable(slug: str, reqs: Sequence[str], why: str, target: Target, env: Environment) -> list[Problem]:
    """Name each pin that has no wheel for the target (pip's set-wide error rarely says which)."""
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        reasons = list(pool.map(lambda pin: why_not(pin, target, env, wheels_only=True), reqs))
    named = [
        Problem(f"{slug}: {pin}", "", f"cannot be installed on {target.describe()} (wheels only): {reason}")
        for pin, reason in zip(reqs, reasons, strict=True)
        if reason is not None
    ]
    return named or [Problem(slug, "", f"its requirements do not resolve together on {target.describe()}: {why}")]
