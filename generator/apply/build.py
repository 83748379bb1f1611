"""``aiar build``: build and push the images of ``out/`` without touching a cluster.

The same code as apply's first step (pin check, build, push, skipping what the registry holds). With
``registry``, the images go to that registry instead of the environment's, under the same repository
paths and tags: the connected side of an air-gapped deployment builds into a registry it can reach,
and ``aiar export --registry`` reads them back from there (see :mod:`generator.airgap`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..environment import Environment, Registry
from . import ApplyError
from .images import Credentials, ImageResult, Images, RegistryClient
from .outdir import relocated, staging_insecure
from .preflight import pin_problems

if TYPE_CHECKING:  # the session (kube client, schedules) is not imported by export, which needs the rest
    from .session import Session


@dataclass
class BuildReport:
    images: list[ImageResult]

    def as_dict(self) -> dict[str, object]:
        return {
            "images": [{"ref": r.image.ref, "action": r.action, "seconds": round(r.seconds, 2)} for r in self.images]
        }


def staging_registry(env: Environment, into: str | None, insecure: bool | None) -> Registry:
    """The registry images go to (or come from): the environment's, or ``into`` with its credentials."""
    registry = env.registry
    if into is None:
        return registry
    return registry.model_copy(update={"url": into, "insecure": staging_insecure(registry.insecure, into, insecure)})


def build(session: Session, into: str | None = None, insecure: bool | None = None) -> BuildReport:
    registry = staging_registry(session.env, into, insecure)
    if into is None:
        images = session.images
    else:
        credentials = Credentials.from_env(registry)
        images = Images(session.env, RegistryClient(registry, credentials), credentials, session.docker_factory)
    wanted = relocated(session.out.images, session.env.registry.url, into)
    missing = images.missing(wanted)
    if missing:
        problems = pin_problems(missing, session.env, images.docker)
        if problems:
            raise ApplyError(problems)
    progress = session.progress
    report = BuildReport([ImageResult(i, "present", 0.0) for i in wanted if i not in missing])
    for image in missing:
        with progress.working(image):
            result = images.ensure(image, progress.log, progress.detail)
        report.images.append(result)
        progress.image(result)
    built = sum(1 for r in report.images if r.action == "built")
    progress.note(f"images: {built} built, {len(missing)} pushed, {len(wanted) - len(missing)} already in the registry")
    return report
