"""Image-side artifacts of a model: its build context, under ``<slug>/build/``, and its images' tags.

What the context holds is the model type's (:meth:`generator.kinds.base.ModelKind.build_context`):
PYTHON and H2O models get the aiar server image, DOCKER_LAYERS models their own Dockerfile after
their layers. The context is complete and self-contained (``apply`` builds from ``out/`` alone), and
its digest is the image tag: the same context always means the same image, and an unchanged context
means nothing to build.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .. import defaults
from ..kinds import kind_of
from ..plan import ModelPlan
from . import Files, file_digest

BUILD_DIR = "build"


@dataclass(frozen=True)
class BuiltImage:
    role: str
    repository: str
    tag: str
    context: str
    """Build context directory, relative to the output root."""
    dockerfile: str

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}"


def render_build_context(plan: ModelPlan) -> Files:
    """Every file of the model's build context, by path relative to the context directory."""
    return kind_of(plan.manifest).build_context(plan)


def context_tag(context: Files, dockerfile: str, other_dockerfiles: set[str]) -> str:
    """The image tag: sha256 over the Dockerfile and every context file it can see."""
    h = hashlib.sha256()
    for name in sorted(context):
        if name in other_dockerfiles:
            continue
        h.update(name.encode() + b"\0" + file_digest(context[name]))
    h.update(b"\0dockerfile\0" + dockerfile.encode())
    return h.hexdigest()[: defaults.IMAGE_TAG_LENGTH]


def render_images(plan: ModelPlan) -> tuple[Files, tuple[BuiltImage, ...]]:
    """The build context under ``<slug>/build/`` and the images it defines, tags included."""
    context = render_build_context(plan)
    dockerfiles = {image.dockerfile for image in plan.images}
    prefix = f"{plan.slug}/{BUILD_DIR}"
    images = tuple(
        BuiltImage(
            role=image.role,
            repository=image.repository,
            tag=context_tag(context, image.dockerfile, dockerfiles - {image.dockerfile}),
            context=prefix,
            dockerfile=image.dockerfile,
        )
        for image in plan.images
    )
    return {f"{prefix}/{name}": data for name, data in context.items()}, images
