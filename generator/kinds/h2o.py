"""H2O models: a MOJO or the bundle's own jar, scored by a JVM beside aiar's model server.

The image is aiar's server image plus a JRE copied from the environment's Java image. A bundle that
gives a MOJO and no jar gets aiar's bridge jar (:func:`generator.assets.h2o_jar`) as its ``jarFile``.
Training runs the bundle's ``train.jar``, one JVM per training.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from .. import defaults
from ..assets import h2o_jar
from ..bundle import BundleSource
from ..environment import LoadedEnvironment
from ..errors import Problem
from ..manifest_parts import FileName, Hyperparameters, StrictModel
from ..render import Files
from ..runtime import config as rc
from .base import KindPlan, Locate, missing, model_file_problems
from .server_image import server_context

if TYPE_CHECKING:
    from ..load import LoadedBundle
    from ..manifest import Manifest
    from ..plan import ModelPlan

TRAIN_JAR = "src/train.jar"


class H2OPayload(StrictModel):
    jarFile: FileName = "predict.jar"
    hyperparameters: Hyperparameters = Field(default_factory=dict)
    modelFile: FileName | None = None


# modelData of an H2O model: a MOJO (modelFile) or the bundle's own jar (a comment, not a docstring)
class H2OModel(StrictModel):
    type: Literal["H2O"]
    payload: H2OPayload = H2OPayload()


@dataclass(frozen=True)
class JavaPlan:
    """An H2O model's image: the JRE copied from the environment's Java image beside the aiar server."""

    image: str
    home: str
    """Where ``image`` keeps the JRE."""
    jar_from_aiar: bool
    """The bundle gives a MOJO and no jar: aiar's own H2O bridge jar is shipped as its ``jarFile``."""


def _payload(manifest: Manifest) -> H2OPayload:
    assert isinstance(manifest.modelData, H2OModel)
    return manifest.modelData.payload


def _jvm(payload: H2OPayload, trains: bool) -> rc.JvmConfig:
    return rc.JvmConfig(
        jar=payload.jarFile,
        options=defaults.JVM_OPTIONS,
        train_jar=defaults.H2O_TRAIN_JAR if trains else None,
        train_options=defaults.JVM_TRAIN_OPTIONS if trains else (),
        train_timeout_s=float(defaults.TRAINING_DEADLINE_S),
    )


class H2OKind:
    type = "H2O"
    variant = H2OModel
    own_server = False
    online_training = False

    def bundle_problems(self, manifest: Manifest, source: BundleSource, locate: Locate) -> list[Problem]:
        payload, trains, names = _payload(manifest), bool(manifest.input.training), set(source.names())
        problems: list[Problem] = []
        if payload.modelFile is None:
            why = "an H2O model needs its jar"
            problems += missing(names, f"src/{payload.jarFile}", "/modelData/payload/jarFile", why, locate)
        elif not trains:
            why = "an untrained MOJO is shipped"
            problems += missing(names, f"src/{payload.modelFile}", "/modelData/payload/modelFile", why, locate)
        if trains:
            why = "an H2O model with training input needs its train.jar"
            problems += missing(names, TRAIN_JAR, "/input/training", why, locate)
        return problems + model_file_problems(manifest, payload.modelFile, locate)

    def raw_bundle_problems(
        self, payload: Mapping[str, Any], trains: bool, names: set[str], locate: Locate
    ) -> list[Problem]:
        problems: list[Problem] = []
        jar = payload.get("jarFile")
        if payload.get("modelFile") is None and isinstance(jar, str | type(None)):
            path = f"src/{jar or H2OPayload.model_fields['jarFile'].default}"
            problems += missing(names, path, "/modelData/payload/jarFile", "an H2O model needs its jar", locate)
        if trains:
            why = "an H2O model with training input needs its train.jar"
            problems += missing(names, TRAIN_JAR, "/input/training", why, locate)
        return problems

    def environment_problems(self, loaded: LoadedBundle, environment: LoadedEnvironment) -> list[Problem]:
        if environment.env.base_images.java is None:
            return [
                loaded.problem(
                    "/modelData/type", "an H2O model needs 'base_images.java' (a JRE image) in the environment"
                )
            ]
        return []

    def plan(self, loaded: LoadedBundle, environment: LoadedEnvironment) -> KindPlan:
        payload = _payload(loaded.manifest)
        images = environment.env.base_images
        jar_in_bundle = f"src/{payload.jarFile}" in loaded.source.names()
        # no Java image only for `aiar serve`, which runs the JVM of the machine (the checks step
        # requires one for everything that is built)
        java = None if images.java is None else JavaPlan(images.java, images.java_home, not jar_in_bundle)
        trains = bool(loaded.manifest.input.training)
        return KindPlan(model_file=payload.modelFile, jvm=_jvm(payload, trains), java=java)

    def build_context(self, plan: ModelPlan) -> Files:
        jvm = plan.server.jvm
        shipped = plan.java is not None and plan.java.jar_from_aiar and jvm is not None
        return server_context(plan, {f"src/{jvm.jar}": h2o_jar()} if shipped and jvm else None)
