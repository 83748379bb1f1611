"""The bundle's own code: importing ``predict.py`` / ``train.py`` and holding the live model.

The contract these functions must follow is written down in CONTRACT.md.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

from .config import CodeLayout, PredictStyle, predict_style, source_predict_style

if TYPE_CHECKING:
    from .typed import Signature

log = logging.getLogger("aiar.usercode")


class UserCodeError(RuntimeError):
    """The bundle's code does not follow the contract (a missing function, an import error)."""


def import_module(code: CodeLayout, name: str) -> ModuleType:
    src = str(Path(code.src_dir).resolve())
    if src not in sys.path:
        sys.path.insert(0, src)  # so predict.py can import its sibling modules too
    try:
        return importlib.import_module(name)
    except Exception as exc:
        raise UserCodeError(f"cannot import {name}.py from {src}: {exc}") from exc


def _function(module: ModuleType, name: str, required: bool) -> Callable[..., Any] | None:
    fn = getattr(module, name, None)
    if fn is None and not required:
        return None
    if not callable(fn):
        raise UserCodeError(f"{module.__name__}.py must define a function {name}()")
    return fn  # type: ignore[no-any-return]


@dataclass(frozen=True)
class PredictCode:
    predict: Callable[..., Any]
    load: Callable[[Path | None], Any] | None
    update: Callable[[Any, dict[str, Any], dict[str, Any]], Any] | None
    load_without_file: bool = False
    """load() runs (with ``None``) even when there is no model file: an H2O jar may carry its model."""
    submit: Callable[..., Future[Any]] | None = None
    """predict() that returns at once with a future: lets REST pipeline requests (the H2O bridge)."""
    close: Callable[[Any], None] | None = None
    """Releases a model replaced by a newer one (the H2O bridge: its JVM); PYTHON models are left to GC."""

    parameters_only: bool = False
    """The seed's style, ``predict(*params)``: no model argument; the code loads its own model file."""
    signature: Callable[[Any], Signature] | None = None
    """What a loaded model takes and returns, when the model says so itself (an ONNX graph)."""

    @classmethod
    def from_layout(cls, code: CodeLayout, parameters: int = 1) -> PredictCode:
        """``parameters``: how many values each prediction passes (the manifest's REST parameters).

        The seed's style (``predict(*params)``, no model argument) is told from the source, not by
        importing it: such code often loads its model file when imported, so it is imported only
        once that file is in place (see :func:`_parameters_only`).
        """
        path = Path(code.src_dir) / f"{code.predict_module}.py"
        source = path.read_text(encoding="utf-8") if path.is_file() else ""
        if source and source_predict_style(source, parameters) == "parameters-only":
            return _parameters_only(code)
        module = import_module(code, code.predict_module)
        predict = _function(module, "predict", required=True)
        assert predict is not None
        if signature_style(predict, parameters) is None:
            raise UserCodeError(
                f"{code.predict_module}.py: predict{inspect.signature(predict)} takes neither (model, "
                f"{parameters} parameter(s)) nor the {parameters} parameter(s) alone"
            )
        return cls(predict, _function(module, "load", False), _function(module, "update", False))


MODEL_FILE_ENV = "AIAR_MODEL_FILE"
"""Set for the seed's style of predict.py: the absolute path of the model file (when there is one)."""


def _parameters_only(code: CodeLayout) -> PredictCode:
    """The seed's style: the "model" aiar holds is the bundle's own predict function, imported by the
    loader once the model file is fetched, with ``AIAR_MODEL_FILE`` set and the working directory
    being the model file's directory (where code that opens it by name finds it)."""

    def load(model_path: Path | None) -> Callable[..., Any]:
        if model_path is not None:
            os.environ[MODEL_FILE_ENV] = str(model_path.resolve())
            os.chdir(model_path.resolve().parent)
        module = import_module(code, code.predict_module)
        if getattr(load, "imported", False):
            # A new model file (bus training): the module's own import-time load runs again on it.
            module = importlib.reload(module)
        load.imported = True  # type: ignore[attr-defined]
        fn = _function(module, "predict", required=True)
        assert fn is not None
        return fn

    return PredictCode(
        predict=lambda own_predict, *args: own_predict(*args),
        load=load,
        update=None,
        load_without_file=True,
        parameters_only=True,
    )


def signature_style(fn: Callable[..., Any], parameters: int) -> PredictStyle | None:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin or C function: take it as aiar's own style
        return "model-first"
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    positional = [p for p in signature.parameters.values() if p.kind in kinds]
    required = sum(1 for p in positional if p.default is inspect.Parameter.empty)
    varargs = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in signature.parameters.values())
    return predict_style([p.name for p in positional], required, varargs, parameters)


@dataclass(frozen=True)
class TrainCode:
    train: Callable[[Path, dict[str, Any], Path], Any]
    update: Callable[[Any, dict[str, Any], dict[str, Any]], Any] | None
    buffer_format: Literal["jsonl", "csv"] = "jsonl"
    """How buffered bus records are handed to train(): JSON lines, or CSV (for H2O's parser)."""

    @classmethod
    def from_layout(cls, code: CodeLayout) -> TrainCode:
        module = import_module(code, code.train_module)
        train = _function(module, "train", required=True)
        assert train is not None
        return cls(train, _function(module, "update", False))


class ModelState:
    """The live model and whether the server is ready; shared by the REST and bus threads.

    Swapping the reference is atomic under the GIL, so predict() never waits on a lock; the lock
    only serialises online updates so that two records are never applied to the same old model.
    """

    def __init__(self) -> None:
        self.model: Any = None
        self.version = 0
        self.load_seconds: float | None = None
        self._ready = threading.Event()
        self.update_lock = threading.Lock()
        self._swap_lock = threading.Lock()
        self.health: Callable[[], str | None] | None = None
        """Why a loaded model cannot answer right now (None: it can); e.g. its JVM is restarting."""

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and (self.health is None or self.health() is None)

    def not_ready_reason(self) -> str:
        reason = self.health() if self.health is not None else None
        return reason or "the model is not loaded yet"

    def set(self, model: Any) -> None:
        with self._swap_lock:
            self._set(model)

    def set_first(self, model: Any) -> bool:
        """Make ``model`` live unless one already is (bus training may get there first); whether it did."""
        with self._swap_lock:
            if self.version:
                return False
            self._set(model)
            return True

    def replace(self, model: Any) -> Any:
        """Make ``model`` live; the one it replaced."""
        with self._swap_lock:
            old = self.model
            self._set(model)
            return old

    def _set(self, model: Any) -> None:
        self.model = model
        self.version += 1
        self._ready.set()

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)
