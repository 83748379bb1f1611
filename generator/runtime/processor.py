"""Client of the optional data processor: an HTTP service that transforms predict's input and output.

Protocol (CONTRACT.md): ``POST <url>`` with ``{"stage": "input"|"output", "model": slug, "data": ...}``
answered by ``200`` and the transformed ``data`` as the whole JSON body. For ``input`` the data is the
object of named parameters and the answer must be such an object too.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any, Literal

from . import codec
from .config import DataProcessor


class ProcessorError(RuntimeError):
    """The data processor failed or answered nonsense: 502 over REST, dead-letter on the bus."""


class ProcessorClient:
    def __init__(self, config: DataProcessor, model: str) -> None:
        self._config = config
        self._model = model

    def transform(self, stage: Literal["input", "output"], data: Any) -> Any:
        body = codec.dumps({"stage": stage, "model": self._model, "data": data})
        # the URL's scheme is checked: the environment file admits http(s) URLs only
        request = urllib.request.Request(  # noqa: S310
            self._config.url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        where = f"data processor ({stage}) at {self._config.url}"
        try:
            # urllib blocks, which is fine: predict runs in a worker thread and so does this.
            # the URL's scheme is checked: the environment file admits http(s) URLs only
            with urllib.request.urlopen(request, timeout=self._config.timeout_s) as response:  # noqa: S310
                payload = response.read()
        except urllib.error.HTTPError as exc:
            raise ProcessorError(f"{where} answered HTTP {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ProcessorError(f"{where} unreachable: {reason}") from None
        try:
            result = codec.loads(payload)
        except ValueError:
            raise ProcessorError(f"{where} answered with a body that is not JSON") from None
        if stage == "input" and not isinstance(result, dict):
            raise ProcessorError(f"{where} must answer a JSON object of parameters")
        return result
