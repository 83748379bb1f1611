"""``aiar.requirements.lock``: each model's Python requirements resolved to exact wheels with hashes.

``aiar lock`` (the one command besides apply that uses the network) writes it; ``generate`` reads it
like ``aiar.lock``, so the output stays a pure function of the inputs. A model with an entry is built
with ``pip install --require-hashes --no-deps`` from exactly the recorded wheels; a model without one
(the seed's Injection Model, whose pins have no wheels for Python 3.11) is built as before, from its
pins, and ``aiar lock`` reports why it cannot be locked.

An entry records the requirements it was resolved from (the model's pins, then the model server's):
when they change, or the environment names another base image, the entry no longer fits and
``generate`` says to run ``aiar lock`` again rather than build something else than was reviewed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .errors import Problem
from .lock import read_lock_file

REQUIREMENTS_LOCK_VERSION = 1
REQUIREMENTS_LOCK_NAME = "aiar.requirements.lock"
"""Next to ``aiar.lock`` (whatever that one is called)."""

PackageName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$", max_length=200)]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class LockTarget(_Model):
    """The interpreter and platform the wheels were chosen for: the base image's own."""

    base_image: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    python: Annotated[str, StringConstraints(pattern=r"^3\.\d{1,2}$")]
    machine: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,32}$")]
    glibc: Annotated[str, StringConstraints(pattern=r"^\d{1,2}\.\d{1,3}$")] | None = None

    def describe(self) -> str:
        libc = f", glibc {self.glibc}" if self.glibc else ""
        return f"Python {self.python} on linux {self.machine}{libc}"


class LockedPackage(_Model):
    name: PackageName
    """Normalized (PEP 503)."""
    version: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.+!_-]{1,64}$")]
    sha256: Sha256
    """Of the one wheel chosen for the target."""
    wheel: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._+!-]{1,255}\.whl$")]


class LockedRequirements(_Model):
    requirements: list[Annotated[str, StringConstraints(min_length=1, max_length=512)]]
    """What was resolved, in order: the model's pins, then the model server's."""
    packages: list[LockedPackage]
    """Every package installed, dependencies included, sorted by name."""


class RequirementsLock(_Model):
    lock_version: int = REQUIREMENTS_LOCK_VERSION
    target: LockTarget | None = None
    models: dict[str, LockedRequirements] = Field(default_factory=dict)


@dataclass(frozen=True)
class LoadedRequirementsLock:
    lock: RequirementsLock
    source: str
    """The file it was read from, for problems."""


NO_LOCK = LoadedRequirementsLock(RequirementsLock(), REQUIREMENTS_LOCK_NAME)


def requirements_lock_path(lock_file: Path) -> Path:
    return lock_file.with_name(REQUIREMENTS_LOCK_NAME)


def read_requirements_lock(path: Path) -> LoadedRequirementsLock:
    lock = read_lock_file(path, RequirementsLock, REQUIREMENTS_LOCK_VERSION) or RequirementsLock()
    return LoadedRequirementsLock(lock, str(path))


def render_requirements_lock(lock: RequirementsLock) -> bytes:
    return (json.dumps(lock.model_dump(mode="json"), indent=2, sort_keys=True) + "\n").encode()


def locked_for(
    loaded: LoadedRequirementsLock, slug: str, requirements: tuple[str, ...], base_image: str
) -> LockedRequirements | Problem | None:
    """The model's entry when it fits; None without one; a problem when it is stale."""
    lock, source = loaded.lock, loaded.source
    entry = lock.models.get(slug)
    if entry is None:
        return None
    pointer = f"/models/{slug}"
    if lock.target is None or lock.target.base_image != base_image:
        resolved_for = lock.target.base_image if lock.target else "no base image"
        return Problem(
            source,
            "/target/base_image",
            f"resolved for {resolved_for}, but the environment's base image is {base_image}: run `aiar lock`",
        )
    if tuple(entry.requirements) != requirements:
        return Problem(
            source, pointer, "the model's requirements changed since they were locked: run `aiar lock` again"
        )
    return entry


def hashed_lines(entry: LockedRequirements) -> list[str]:
    """pip's hash-checking mode: ``name==version --hash=sha256:...``, one line per package."""
    return [f"{p.name}=={p.version} --hash=sha256:{p.sha256}" for p in entry.packages]
