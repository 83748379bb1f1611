"""``aiar.lock``: the last version recorded for each model, so that versions only go up.

The lock is an input of ``generate`` like the bundles, and ``generate`` writes its successor next to
``out/``; the output is therefore a pure function of (bundles, lock, environment).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from .errors import LockError, Problem
from .validate import parse_and_validate

LOCK_VERSION = 1


class LockedModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    version: Annotated[int, Field(ge=1)]
    digest: Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")]


class Lock(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    lock_version: int = LOCK_VERSION
    models: dict[str, LockedModel] = Field(default_factory=dict)


@dataclass(frozen=True)
class VersionDecision:
    version: int
    changed: bool
    """True when the lock must record something new for this model."""


def resolve_version(
    slug: str, requested: int | None, digest: str, lock: Lock, source: str
) -> VersionDecision | Problem:
    """Decide a model's version as the seed did: explicit ones must go up; otherwise last+1 on change."""
    last = lock.models.get(slug)
    if last is None:
        return VersionDecision(requested or 1, True)
    if requested is None:
        if last.digest == digest:
            return VersionDecision(last.version, False)
        return VersionDecision(last.version + 1, True)
    if requested > last.version:
        return VersionDecision(requested, True)
    if requested == last.version and last.digest == digest:
        return VersionDecision(requested, False)
    why = "the bundle changed since it was recorded" if requested == last.version else "versions only go up"
    return Problem(
        source,
        "/version",
        f"version {requested} must be greater than the last recorded version {last.version} ({why}); "
        "remove 'version' to have one assigned",
    )


AnyLock = TypeVar("AnyLock", bound=BaseModel)


def read_lock_file(path: Path, model: type[AnyLock], version: int) -> AnyLock | None:
    """A lock file (this one or ``aiar.requirements.lock``) read and validated, every problem located;
    None when there is none yet."""
    if not path.exists():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LockError([Problem(str(path), "", f"cannot read: {exc}")]) from None
    lock, problems, _ = parse_and_validate(text, str(path), model)
    if lock is None:
        raise LockError(problems)
    found = getattr(lock, "lock_version", None)
    if found != version:
        raise LockError([Problem(str(path), "/lock_version", f"unsupported lock version {found}")])
    return lock


def read_lock(path: Path) -> Lock:
    return read_lock_file(path, Lock, LOCK_VERSION) or Lock()


def render_lock(lock: Lock) -> bytes:
    data = lock.model_dump(mode="json")
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()
