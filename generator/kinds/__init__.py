"""One module per model type (``modelData.type``), each behind :class:`~generator.kinds.base.ModelKind`.

A type owns the files it needs in its bundle, what it needs from the environment, its part of the
plan and its image's build context; the pipeline asks :func:`kind_of` and calls those, so nothing
outside this package tells the types apart. A type's module also defines its ``modelData`` variant of the
manifest (:attr:`~generator.kinds.base.ModelKind.variant`), which :mod:`generator.manifest` gathers into
its tagged union: a new type is one module here, registered in :data:`KINDS`, and its tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import KindPlan, Locate, ModelKind
from .docker_layers import DockerLayersKind
from .h2o import H2OKind
from .python import PythonKind

if TYPE_CHECKING:
    from ..manifest import Manifest

KINDS: dict[str, ModelKind] = {kind.type: kind for kind in (PythonKind(), H2OKind(), DockerLayersKind())}
"""Every model type, by its ``modelData.type``."""


def kind_of(manifest: Manifest) -> ModelKind:
    return KINDS[manifest.modelData.type]


__all__ = ["KINDS", "KindPlan", "Locate", "ModelKind", "kind_of"]
