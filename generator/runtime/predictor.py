"""One prediction, the same for REST and the bus: named parameters → (data processor) → predict()."""

from __future__ import annotations

import logging
from concurrent.futures import Future
from typing import Any

from .codec import RequestError
from .config import ServerConfig
from .drift import DriftMonitor
from .processor import ProcessorClient
from .typed import Signature
from .usercode import ModelState, PredictCode

log = logging.getLogger("aiar.predict")


class NotReadyError(RuntimeError):
    """The model is not loaded yet: 503 over REST, requeued on the bus."""


class PredictError(RuntimeError):
    """predict() raised. The message is safe to show; the traceback went to the log."""


class Predictor:
    def __init__(self, config: ServerConfig, code: PredictCode, state: ModelState) -> None:
        self.slug = config.model.slug
        self.version = config.model.version
        self._declared = Signature.of(config)
        self.code = code
        self.state = state
        self.processor = ProcessorClient(config.data_processor, self.slug) if config.data_processor else None
        self.timeout_s = config.jvm.request_timeout_s if config.jvm else 30.0
        """How long :meth:`submit`'s answer may take."""
        self.drift: DriftMonitor | None = None

    def watch(self, monitor: DriftMonitor) -> None:
        """From now on, every valid request's inputs go into ``monitor``'s windows."""
        self.drift = monitor

    @property
    def signature(self) -> Signature:
        """What the model takes and returns: the config's, or once loaded what the model says (ONNX)."""
        model = self.state.model
        if self.code.signature is not None and model is not None:
            return self.code.signature(model)
        return self._declared

    def check(self, values: Any) -> list[Any]:
        """Positional arguments for predict(), or RequestError naming the faulty parameter."""
        signature = self.signature
        if not signature.parameters:
            # A bus-only model declares no parameters: it gets the whole message object.
            return [values]
        return signature.arguments(values)

    def __call__(self, values: Any) -> Any:
        if not self.state.ready:
            raise NotReadyError(self.state.not_ready_reason())
        args = self.check(values)  # validate what the client sent before any processor sees it
        if self.drift is not None:
            self.drift.observe(values)
        if self.processor is not None:
            args = self.check(self.processor.transform("input", values))
        try:
            result = self.code.predict(self.state.model, *args)
        except (RequestError, PredictError, NotReadyError):
            raise  # already client-safe: the H2O bridge says what went wrong in the JVM
        except Exception as exc:
            log.exception("predict() failed for model %s", self.slug)
            raise PredictError(f"predict() raised {type(exc).__name__}") from None
        if self.processor is not None:
            result = self.processor.transform("output", result)
        return result

    @property
    def can_submit(self) -> bool:
        """Whether :meth:`submit` applies: a pipelining model (H2O) and no data processor in between."""
        return self.code.submit is not None and self.processor is None

    def submit(self, values: Any) -> Future[Any]:
        """Like calling the predictor, but returns as soon as the request is on its way."""
        assert self.code.submit is not None
        if not self.state.ready:
            raise NotReadyError(self.state.not_ready_reason())
        args = self.check(values)
        if self.drift is not None:
            self.drift.observe(values)
        return self.code.submit(self.state.model, *args)
