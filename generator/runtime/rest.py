"""The REST server: a small ASGI application (no framework) for OIP v2 and the simple predict route.

Every route is known when the config is read (one model per server), so routing is one dict lookup
and the per-request cost stays close to a bare ASGI endpoint. predict() runs either on the event
loop, one call per turn of the loop, or in a thread pool, whichever its recent calls show to be
right for it (``placement.py``): a short, computing predict() on the loop, a slow or waiting one in
the pool, so that health probes and /metrics never wait behind a queue of predictions.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from . import codec
from .codec import RequestError, ResultError
from .config import Output, ServerConfig
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .metrics import Metrics
from .openapi import openapi_document
from .placement import GATE_FROM_S, LoopGate, Measured, Placement, busy_s, thread_usage
from .predictor import NotReadyError, PredictError, Predictor
from .processor import ProcessorError
from .typed import Signature

log = logging.getLogger("aiar.rest")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY_BYTES = 16 * 1024 * 1024
INLINE_DECODE_BYTES = 64 * 1024
"""Larger request bodies are parsed and decoded in the worker pool: the event loop (health probes,
other requests) never waits on a big or hostile body."""
_JSON = b"application/json"


class Response:
    __slots__ = ("body", "content_type", "headers", "status")

    def __init__(
        self, status: int, body: bytes, content_type: bytes = _JSON, headers: tuple[tuple[bytes, bytes], ...] = ()
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers


def json_response(status: int, value: Any) -> Response:
    return Response(status, codec.dumps(value))


def error(status: int, message: str) -> Response:
    return json_response(status, {"error": message})


Handler = Callable[[bytes], Awaitable[Response]]


class RestApp:
    def __init__(self, config: ServerConfig, predictor: Predictor, metrics: Metrics, workers: int = 4) -> None:
        self.config = config
        self.predictor = predictor
        self.metrics = metrics
        # workers=0 always runs predict() on the event loop (no pool at all).
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="predict") if workers > 0 else None
        slug = config.model.slug
        version = config.model.version
        self._openapi_for = predictor.signature
        self._openapi = codec.dumps(openapi_document(config, self._openapi_for))
        base = f"/v2/models/{slug}"
        versioned = f"{base}/versions/{version}"
        # (method, path) -> (route template for metrics, handler)
        self.routes: dict[tuple[str, str], tuple[str, Handler]] = {}
        for prefix, template in ((base, "/v2/models/{m}"), (versioned, "/v2/models/{m}/versions/{v}")):
            self.routes[("GET", prefix)] = (template, self.model_metadata)
            self.routes[("GET", prefix + "/ready")] = (template + "/ready", self.model_ready)
            self.routes[("POST", prefix + "/infer")] = (template + "/infer", self.infer)
            self.routes[("POST", prefix + "/predict")] = (template + "/predict", self.predict)
        for path, handler in (
            ("/v2", self.server_metadata),
            ("/v2/health/live", self.live),
            ("/v2/health/ready", self.ready),
            ("/openapi.json", self.openapi),
            ("/metrics", self.prometheus),
        ):
            self.routes[("GET", path)] = (path, handler)
        methods: dict[str, list[str]] = {}
        for route_method, path in self.routes:
            methods.setdefault(path, []).append(route_method)
        self._methods = {path: ", ".join(sorted(m)).encode() for path, m in methods.items()}
        self._children: dict[tuple[str, int], Any] = {}
        self._placement = Placement()
        self._gate = LoopGate()
        self._predictions = metrics.predictions.labels("rest")
        self._answers: _Answers | None = None
        self.all_ready: Callable[[], bool] | None = None
        """Set for one of several processes (``--processes``): whether all of them are ready."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # lifespan events need nothing: the model loads on its own thread
        started = time.perf_counter()
        route, response = await self._dispatch(scope, receive)
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [
                    (b"content-type", response.content_type),
                    (b"content-length", str(len(response.body)).encode()),
                    *response.headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": response.body})
        self._observe(route, response.status, time.perf_counter() - started)

    def _observe(self, route: str, status: int, seconds: float) -> None:
        children = self._children.get((route, status))
        if children is None:  # label lookups take a lock; cache the children per (route, code)
            children = (self.metrics.requests.labels(route, str(status)), self.metrics.latency.labels(route))
            self._children[(route, status)] = children
        children[0].inc()
        children[1].observe(seconds)

    async def _dispatch(self, scope: Scope, receive: Receive) -> tuple[str, Response]:
        method: str = scope["method"]
        path: str = scope["path"]
        found = self.routes.get((method if method != "HEAD" else "GET", path))
        if found is None:
            allowed = self._methods.get(path)
            if allowed:
                response = error(405, f"method {method} not allowed on {path}")
                response.headers = ((b"allow", allowed),)  # RFC 9110 requires it on a 405
                return "unmatched", response
            return "unmatched", error(404, f"no route {path}")
        template, handler = found
        body = await _read_body(receive)
        if body is None:
            return template, error(413, f"request body over {MAX_BODY_BYTES} bytes")
        try:
            return template, await handler(body)
        except Exception:  # a bug of ours: never a traceback in the body
            log.exception("unhandled error on %s", template)
            return template, error(500, "internal server error")

    # --- handlers -----------------------------------------------------------------------------

    async def live(self, _: bytes) -> Response:
        return json_response(200, {"live": True})

    def _ready(self) -> bool:
        return self.predictor.state.ready and (self.all_ready is None or self.all_ready())

    async def ready(self, _: bytes) -> Response:
        ready = self._ready()
        return json_response(200 if ready else 503, {"ready": ready})

    async def model_ready(self, _: bytes) -> Response:
        ready = self._ready()
        body = {"name": self.config.model.slug, "ready": ready}
        return json_response(200 if ready else 503, body)

    async def server_metadata(self, _: bytes) -> Response:
        return json_response(200, {"name": "aiar", "version": "1", "extensions": []})

    async def model_metadata(self, _: bytes) -> Response:
        model = self.config.model
        inputs, outputs = self.predictor.signature.metadata()
        return json_response(
            200,
            {
                "name": model.slug,
                "versions": [str(model.version)],
                "platform": f"aiar-{model.type.lower()}",
                "inputs": inputs,
                "outputs": outputs,
            },
        )

    async def openapi(self, _: bytes) -> Response:
        signature = self.predictor.signature
        if signature is not self._openapi_for:  # an ONNX model, once loaded: typed from its graph
            self._openapi = codec.dumps(openapi_document(self.config, signature))
            self._openapi_for = signature
        return Response(200, self._openapi)

    async def prometheus(self, _: bytes) -> Response:
        return Response(200, self.metrics.exposition(), METRICS_CONTENT_TYPE.encode())

    def _decode_infer(self, body: bytes) -> tuple[str | None, Signature, tuple[Output, ...], dict[str, Any]]:
        """The request's id, the signature it was decoded by, the outputs asked for, the arguments."""
        document = codec.infer_document(body)
        signature = self.predictor.signature
        quick = signature.quick_arguments(document)
        if quick is not None:
            return quick[0], signature, signature.outputs, quick[1]
        request = codec.infer_request(document)
        return request.id, signature, signature.requested(request), signature.oip_arguments(request)

    async def infer(self, body: bytes) -> Response:
        try:
            if len(body) > INLINE_DECODE_BYTES and self.executor is not None:
                loop = asyncio.get_running_loop()
                request_id, signature, outputs, values = await loop.run_in_executor(
                    self.executor, self._decode_infer, body
                )
            else:
                request_id, signature, outputs, values = self._decode_infer(body)
        except RequestError as exc:
            self.metrics.errors.labels("rest", "request").inc()
            return error(400, str(exc))
        outcome = await self._predict(values, large=len(body) > INLINE_DECODE_BYTES)
        if isinstance(outcome, Response):
            return outcome
        model = self.config.model
        try:
            return Response(200, signature.response_json(model.slug, model.version, outcome, outputs, request_id))
        except ResultError as exc:
            self.metrics.errors.labels("rest", "predict").inc()
            return error(500, str(exc))

    async def predict(self, body: bytes) -> Response:
        large = len(body) > INLINE_DECODE_BYTES and self.executor is not None
        try:
            if large:
                values = await asyncio.get_running_loop().run_in_executor(self.executor, codec.loads, body)
            else:
                values = codec.loads(body)
        except ValueError:
            self.metrics.errors.labels("rest", "request").inc()
            return error(400, "the body is not valid JSON")
        outcome = await self._predict(values, large)
        if isinstance(outcome, Response):
            return outcome
        return Response(200, outcome)

    async def _predict(self, values: Any, large: bool = False) -> Response | bytes:
        """predict()'s result as JSON, or the error response. ``large``: a big request, whose checks
        (against declared types) and prediction run in the pool however fast predict() has been."""
        try:
            if self.predictor.can_submit:
                result = await self._submitted_json(values)
            elif self.executor is None or not (self._offload or large):
                if self._placement.wall_s < GATE_FROM_S:  # too short for a queue of them to delay a probe
                    result = self._predict_json(values, on_loop=True)
                else:
                    result = await self._inline_json(values)
            else:
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(self.executor, self._predict_json, values)
        except RequestError as exc:
            kind, response = "request", error(400, str(exc))
        except NotReadyError as exc:
            kind, response = "not_ready", error(503, str(exc))
        except ProcessorError as exc:
            kind, response = "processor", error(502, str(exc))
        except (PredictError, ResultError) as exc:
            kind, response = "predict", error(500, str(exc))
        else:
            self._predictions.inc()
            return result
        self.metrics.errors.labels("rest", kind).inc()
        return response

    @property
    def _offload(self) -> bool:
        """Whether predict() goes to the thread pool (see ``placement.py``); a data processor's calls
        are network I/O."""
        return self.predictor.processor is not None or not self._placement.inline

    async def _submitted_json(self, values: Any) -> bytes:
        """A pipelining model (H2O): await its answer without holding a thread, so many are in flight."""
        loop = asyncio.get_running_loop()
        answers = self._answers
        if answers is None or answers.loop is not loop:
            answers = self._answers = _Answers(loop)
        submitted = self.predictor.submit(values)
        waiter = answers.waiter(submitted)
        # A timer rather than asyncio.wait_for: no extra Task per request, which shows in requests/s.
        expired: list[bool] = []

        def expire() -> None:
            expired.append(True)
            waiter.cancel()

        timer = loop.call_later(self.predictor.timeout_s, expire)
        try:
            result = await waiter
        except asyncio.CancelledError:
            submitted.cancel()  # the bridge forgets it; a late answer is dropped
            if not expired:
                raise
            raise PredictError(f"the model gave no answer within {self.predictor.timeout_s:.0f}s") from None
        finally:
            timer.cancel()
        try:
            return codec.dumps_result(result)
        except TypeError:
            raise PredictError("the model returned a value that is not JSON serialisable") from None

    async def _inline_json(self, values: Any) -> bytes:
        """predict() on the loop, when its turn comes (``LoopGate``); in the pool after all if it was
        moved there while this call waited."""
        await self._gate.enter()
        try:
            if self.executor is None or not self._offload:
                return self._predict_json(values, on_loop=True)
        finally:
            self._gate.leave()
        return await asyncio.get_running_loop().run_in_executor(self.executor, self._predict_json, values)

    def _predict_json(self, values: Any, on_loop: bool = False) -> bytes:
        placement = self._placement
        where: contextlib.AbstractContextManager[Measured]
        where = contextlib.nullcontext("loop") if on_loop else placement.pool_call()
        with where as measured:
            started, usage = time.perf_counter(), thread_usage()

            def spent() -> None:
                wall_s = time.perf_counter() - started
                placement.record(wall_s, busy_s(usage, wall_s), measured)

            try:
                result = self.predictor(values)
            except (RequestError, NotReadyError):
                raise  # refused before predict() ran: says nothing of where it should run
            except BaseException:
                spent()
                raise
            spent()
        try:
            return codec.dumps_result(result)  # encoded in the worker thread, off the event loop
        except TypeError as exc:
            log.error("predict() returned a value that is not JSON serialisable: %s", exc)
            raise PredictError("predict() returned a value that is not JSON serialisable") from None
        return result


class _Answers:
    """Brings answers completed on another thread (the JVM bridge's reader) back onto the event loop.

    ``asyncio.wrap_future`` costs one ``call_soon_threadsafe`` per answer: a write to the loop's wake-up
    socket and a loop wake-up each, from a thread that must take the GIL off the loop to do it. Here a
    whole burst of answers (the bridge reads them in one chunk) costs one wake-up: answers queue up
    while one delivery is scheduled, and that delivery hands them all to their waiters.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._lock = threading.Lock()
        self._done: list[tuple[asyncio.Future[Any], Future[Any]]] = []

    def waiter(self, future: Future[Any]) -> asyncio.Future[Any]:
        """A loop future that gets ``future``'s outcome (``future`` completes on any thread)."""
        waiter: asyncio.Future[Any] = self.loop.create_future()
        future.add_done_callback(functools.partial(self._completed, waiter))
        return waiter

    def _completed(self, waiter: asyncio.Future[Any], future: Future[Any]) -> None:
        with self._lock:
            self._done.append((waiter, future))
            if len(self._done) > 1:
                return  # a delivery is already on its way
        with contextlib.suppress(RuntimeError):  # a closed loop: the server is shutting down, nobody waits
            self.loop.call_soon_threadsafe(self._deliver)

    def _deliver(self) -> None:
        with self._lock:
            done, self._done = self._done, []
        for waiter, future in done:
            if waiter.done():  # timed out meanwhile
                continue
            if future.cancelled():
                waiter.cancel()
            elif (exc := future.exception()) is not None:
                waiter.set_exception(exc)
            else:
                waiter.set_result(future.result())


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
