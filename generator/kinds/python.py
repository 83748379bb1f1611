"""PYTHON models: the bundle's ``predict.py`` (and ``train.py``) run by aiar's model server."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from ..bundle import BundleSource
from ..environment import LoadedEnvironment
from ..errors import Problem
from ..manifest_parts import Dependency, FileName, Hyperparameters, RestPrediction, StrictModel
from ..render import Files
from ..runtime.config import source_predict_style
from .base import KindPlan, Locate, missing, model_file_problems
from .server_image import server_context

if TYPE_CHECKING:
    from ..load import LoadedBundle
    from ..manifest import Manifest
    from ..plan import ModelPlan


class PythonPayload(StrictModel):
    dependencies: list[Dependency] = Field(default_factory=list)
    hyperparameters: Hyperparameters = Field(default_factory=dict)
    modelFile: FileName | None = None


# modelData of a PYTHON model: src/predict.py (and src/train.py) and its pins (a comment, not a docstring)
class PythonModel(StrictModel):
    type: Literal["PYTHON"]
    payload: PythonPayload = PythonPayload()


def _requirement(name: str, version: str) -> str:
    version = version.strip()
    return f"{name}{version}" if version[:1] in "=<>!~" else f"{name}=={version}"


def requirements(manifest: Manifest) -> tuple[str, ...]:
    """The manifest's pins as pip requirements (``name==version``, or its own specifier), in its order."""
    data = manifest.modelData
    dependencies = data.payload.dependencies if isinstance(data, PythonModel) else []
    return tuple(_requirement(d.name, d.version) for d in dependencies)


def _predict_signature(source: BundleSource, manifest: Manifest, locate: Locate) -> list[Problem]:
    """predict.py's ``predict`` takes the manifest's parameters in one of the two styles (read from the
    source, never run): ``predict(model, *params)`` or the seed's ``predict(*params)``."""
    raw = source.get("src/predict.py")
    if raw is None:
        return []  # reported as missing
    rest = next((p for p in manifest.input.prediction if isinstance(p, RestPrediction)), None)
    count = len(rest.payload.parameters) if rest is not None else 1  # bus-only: the whole message
    text = raw.decode("utf-8", "replace")
    if source_predict_style(text, count) is not None:
        return []
    where = "/input/prediction" if rest is not None else "/modelData/type"
    if not re.search(r"^(async\s+)?def\s+predict\s*\(", text, re.M):
        why = "src/predict.py defines no top-level predict() function"
    else:
        why = (
            f"predict() in src/predict.py takes neither (model, then the {count} parameter(s)) nor the "
            f"{count} parameter(s) alone"
        )
    return [locate(where, why)]


def _code_problems(
    trains: bool, names: set[str], locate: Locate, signature: Callable[[], list[Problem]] = list
) -> list[Problem]:
    """predict.py (and, with ``signature``, whether its predict() fits), then train.py for a model that trains."""
    problems = missing(names, "src/predict.py", "/modelData/type", "a PYTHON model needs its predict function", locate)
    problems += signature()
    if trains:
        why = "a model with training input needs its train function"
        problems += missing(names, "src/train.py", "/input/training", why, locate)
    return problems


ONNX_SUFFIX = ".onnx"


def runs_onnx(model_file: object, names: set[str]) -> bool:
    """A PYTHON bundle without predict.py whose ``modelFile`` is an ONNX graph: aiar runs it itself."""
    return isinstance(model_file, str) and model_file.endswith(ONNX_SUFFIX) and "src/predict.py" not in names


def _onnx_problems(manifest: Manifest, model_file: str, names: set[str], locate: Locate) -> list[Problem]:
    """An ONNX model without code: its graph in the bundle (unless training writes it), REST parameters
    named (after the graph's inputs, checked when the server loads it)."""
    problems: list[Problem] = []
    if not manifest.input.training and not ({f"src/{model_file}", model_file} & names):
        problems.append(
            locate("/modelData/payload/modelFile", f"an ONNX model without predict.py needs src/{model_file}")
        )
    if manifest.input.training:
        why = "a model with training input needs its train function"
        problems += missing(names, "src/train.py", "/input/training", why, locate)
    return problems


class PythonKind:
    type = "PYTHON"
    variant = PythonModel
    own_server = False
    online_training = True

    def bundle_problems(self, manifest: Manifest, source: BundleSource, locate: Locate) -> list[Problem]:
        assert isinstance(manifest.modelData, PythonModel)
        model_file = manifest.modelData.payload.modelFile
        names = set(source.names())
        if runs_onnx(model_file, names):
            assert model_file is not None
            return _onnx_problems(manifest, model_file, names, locate)
        problems = _code_problems(
            bool(manifest.input.training),
            set(source.names()),
            locate,
            lambda: _predict_signature(source, manifest, locate),
        )
        return problems + model_file_problems(manifest, manifest.modelData.payload.modelFile, locate)

    def raw_bundle_problems(
        self, payload: Mapping[str, Any], trains: bool, names: set[str], locate: Locate
    ) -> list[Problem]:
        if runs_onnx(payload.get("modelFile"), names):
            return []
        return _code_problems(trains, names, locate)

    def environment_problems(self, loaded: LoadedBundle, environment: LoadedEnvironment) -> list[Problem]:
        return []

    def plan(self, loaded: LoadedBundle, environment: LoadedEnvironment) -> KindPlan:
        data = loaded.manifest.modelData
        assert isinstance(data, PythonModel)
        onnx = runs_onnx(data.payload.modelFile, set(loaded.source.names()))
        return KindPlan(
            requirements=requirements(loaded.manifest),
            model_file=data.payload.modelFile,
            runner="onnx" if onnx else "code",
        )

    def build_context(self, plan: ModelPlan) -> Files:
        return server_context(plan)
