"""The interface every model type implements, and the parts of the plan a type decides.

The pipeline calls a type at four points: reading its bundle (the files it needs), the checks step
(what it needs from the environment), planning (its part of the plan) and rendering (its image's
build context). Everything else about a model is the same for every type.

A type module imports only what reads bundles, the environment and aiar's assets: ``load`` and
``plan`` call it, so it knows them by their types alone.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..bundle import BundleSource
from ..environment import LoadedEnvironment
from ..errors import Problem
from ..render import Files
from ..runtime import config as rc

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ..load import LoadedBundle
    from ..manifest import Manifest
    from ..plan import ModelPlan
    from .docker_layers import LayersPlan
    from .h2o import JavaPlan

Locate = Callable[[str, str], Problem]
"""A problem at a pointer of the manifest being read: ``locate(pointer, message)``."""


@dataclass(frozen=True)
class KindPlan:
    """What a model type decides for its model; the rest of :class:`~generator.plan.ModelPlan` is common."""

    requirements: tuple[str, ...] = ()
    """The manifest's pins, as ``name==version`` (or its own specifier), in the manifest's order."""
    model_file: str | None = None
    """The file training writes and serving loads (``modelFile``), for the types that have one."""
    jvm: rc.JvmConfig | None = None
    """The model server's JVM part (H2O)."""
    java: JavaPlan | None = None
    """The JRE the image copies in (H2O)."""
    layers: LayersPlan | None = None
    """The layers, Dockerfile and routes of a DOCKER_LAYERS image."""
    runner: rc.Runner = "code"
    """How the model server runs the model: the bundle's code, or onnxruntime (an ONNX model without code)."""


def missing(names: set[str], path: str, pointer: str, why: str, locate: Locate) -> list[Problem]:
    """The problem of a needed bundle file, when it is missing."""
    return [] if path in names else [locate(pointer, f"{why}: {path} is missing from the bundle")]


def model_file_problems(manifest: Manifest, model_file: str | None, locate: Locate) -> list[Problem]:
    """A model that trains must say which file its training writes (PYTHON and H2O)."""
    if manifest.input.training and model_file is None:
        return [locate("/modelData/payload", "a model with training input needs 'modelFile', the file training writes")]
    return []


class ModelKind(Protocol):
    """One model type (``modelData.type``); see :mod:`generator.kinds`."""

    @property
    def type(self) -> str: ...

    @property
    def variant(self) -> builtins.type[BaseModel]:
        """Its ``modelData`` in the manifest (``type`` a literal of :attr:`type`), a member of the tagged
        union :data:`generator.manifest.ModelData`."""
        ...

    @property
    def own_server(self) -> bool:
        """The image runs the bundle's own server, not aiar's: nothing to serve locally, and its
        credentials follow the manifest's inputs rather than aiar's code paths."""
        ...

    @property
    def online_training(self) -> bool:
        """Whether bus training may update the model as messages arrive (``online``)."""
        ...

    def bundle_problems(self, manifest: Manifest, source: BundleSource, locate: Locate) -> list[Problem]:
        """The files the type needs in the bundle, for a valid manifest."""
        ...

    def raw_bundle_problems(
        self, payload: Mapping[str, Any], trains: bool, names: set[str], locate: Locate
    ) -> list[Problem]:
        """The files a manifest that failed validation still evidently needs, from its payload as written."""
        ...

    def environment_problems(self, loaded: LoadedBundle, environment: LoadedEnvironment) -> list[Problem]:
        """What the type needs from the environment, and its rules that need both (the checks step)."""
        ...

    def plan(self, loaded: LoadedBundle, environment: LoadedEnvironment) -> KindPlan:
        """Its part of the plan; called only once :meth:`environment_problems` found nothing."""
        ...

    def build_context(self, plan: ModelPlan) -> Files:
        """Every file of the model's build context, by path relative to the context directory."""
        ...
