"""H2O models: a long-lived JVM running the bundle's ``predict.jar``, driven over its stdin/stdout.

The jar reads one JSON request per line and answers one JSON line per request (the contract is in
CONTRACT.md). Requests carry an ``id`` and are pipelined: any number may be in flight on the one pipe,
and a reader thread hands each answer to the caller waiting on that id, so concurrent REST requests
never wait for each other's round trip and no JVM starts per request. Both directions go by the
burst, not by the line: the requests an event-loop iteration submits are written together, and the
reader takes every answer the JVM flushed in one read (never ``readline()`` on the unbuffered pipe,
which reads a byte per syscall and retakes the GIL for each).

A JVM that exits fails its in-flight requests (500, with the exit code), makes the server not ready
(503 meanwhile), and is restarted with exponential backoff; the server is ready again once the new
JVM has answered a ping.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import IO, Any

from . import codec
from .codec import RequestError
from .config import ServerConfig
from .predictor import NotReadyError, PredictError
from .training import TrainingError
from .usercode import PredictCode

log = logging.getLogger("aiar.jvm")

BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0
STABLE_AFTER_S = 60.0
"""A JVM that stayed up this long resets the backoff: the next crash restarts it quickly again."""
STDERR_TAIL = 20
"""Lines of the jar's stderr kept to explain why it exited."""
READ_CHUNK = 1 << 16
MAX_ANSWER_BYTES = 64 << 20
"""An answer line longer than this means a broken jar (or one writing logs without a newline)."""


class JvmBridge:
    """One supervised JVM; ``submit`` is thread-safe and never blocks on the JVM."""

    def __init__(self, command: list[str], cwd: str, start_timeout_s: float, request_timeout_s: float) -> None:
        self.command = command
        self.cwd = cwd
        self.start_timeout_s = start_timeout_s
        self.request_timeout_s = request_timeout_s
        self.detail: str | None = "the model's JVM is starting"
        """Why the bridge is not usable right now (None when it is)."""
        self._ids = itertools.count(1)
        self._write_lock = threading.Lock()
        self._pending: dict[int, Future[Any]] = {}
        self._outbox: list[tuple[int, bytes]] = []
        self._flush_scheduled = False
        self._process: subprocess.Popen[bytes] | None = None
        self._stdin: IO[bytes] | None = None
        self._closed = threading.Event()
        self._lifecycle = threading.Lock()
        self._stderr: deque[str] = deque(maxlen=STDERR_TAIL)

    @property
    def alive(self) -> bool:
        return self.detail is None

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self, attempts: int | None = None) -> bool:
        """Start the JVM; True once it answered a ping. Retries with backoff until it does, or until
        ``attempts`` launches failed (then False, with ``detail`` saying why)."""
        backoff = BACKOFF_FIRST_S
        failed = 0
        while not self._closed.is_set():
            if self._launch():
                threading.Thread(target=self._supervise, name="jvm-supervisor", daemon=True).start()
                return True
            failed += 1
            if attempts is not None and failed >= attempts:
                return False
            log.warning("%s; retrying in %.1fs", self.detail, backoff)
            self._closed.wait(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)
        return False

    def close(self) -> None:
        with self._lifecycle:  # not while a launch is between its closed check and its process
            self._closed.set()
            process = self._process
        if process is not None and process.poll() is None:
            if process.stdin is not None:
                process.stdin.close()  # EOF: the jar's read loop ends and the JVM exits on its own
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()

    def _launch(self) -> bool:
        """One JVM, pinged; True once it answered. On failure ``detail`` says why."""
        with self._lifecycle:
            if self._closed.is_set():
                return False
            self.detail = "the model's JVM is starting"
            try:
                # a fixed argv, no shell: its parts come from the environment file or out/
                process = subprocess.Popen(  # noqa: S603
                    self.command,
                    cwd=self.cwd,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    bufsize=0,
                )
            except OSError as exc:
                self.detail = f"cannot start the model's JVM ({self.command[0]}): {exc.strerror}"
                return False
            assert process.stdin is not None and process.stdout is not None and process.stderr is not None
            self._process, self._stdin = process, process.stdin
        threading.Thread(target=self._read, args=(process.stdout,), name="jvm-stdout", daemon=True).start()
        threading.Thread(target=self._log_stderr, args=(process.stderr,), name="jvm-stderr", daemon=True).start()
        try:
            pong = self._send({"ping": True}).result(self.start_timeout_s)
        except (PredictError, NotReadyError, FutureTimeout) as exc:
            if process.poll() is None:
                process.kill()
            process.wait()
            reason = str(exc) or f"no answer to a ping within {self.start_timeout_s:.0f}s"
            self.detail = f"the model's JVM did not start: {reason}{self._stderr_tail()}"
            return False
        log.info("the model's JVM is up (pid %d): %s", process.pid, pong)
        self.detail = None
        return True

    def _supervise(self) -> None:
        """Wait for the JVM to exit; unless closed, restart it with backoff."""
        backoff = BACKOFF_FIRST_S
        while not self._closed.is_set():
            process = self._process
            assert process is not None
            started = time.monotonic()
            code = process.wait()
            if self._closed.is_set():
                return
            if time.monotonic() - started > STABLE_AFTER_S:
                backoff = BACKOFF_FIRST_S
            while not self._closed.is_set():
                self.detail = f"the model's JVM exited with code {code}; restarting in {backoff:.1f}s"
                log.error("%s%s", self.detail, self._stderr_tail())
                self._closed.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                if self._closed.is_set() or self._launch():
                    break
                log.error("%s", self.detail)

    # --- requests ---------------------------------------------------------------------------------

    def submit(self, params: Any, wait: bool = False) -> Future[Any]:
        """The JVM's answer for ``params`` (the parameters by name), as a future.

        Called on an event loop (REST), the request is written once the loop's current iteration is
        done, together with the others it submitted; ``wait`` (a caller about to block on the answer,
        which must not wait for a loop) or any other thread writes it at once.
        """
        if self.detail is not None:
            raise NotReadyError(self.detail)
        return self._send({"params": params}, defer=not wait)

    def call(self, params: Any) -> Any:
        future = self.submit(params, wait=True)
        try:
            return future.result(self.request_timeout_s)
        except FutureTimeout:
            future.cancel()
            raise PredictError(f"predict.jar gave no answer within {self.request_timeout_s:.0f}s") from None

    def _send(self, request: dict[str, Any], defer: bool = False) -> Future[Any]:
        with self._write_lock:
            request_id = next(self._ids)
            future = _Answer(self, request_id)
            self._pending[request_id] = future
            self._outbox.append((request_id, codec.dumps({"id": request_id, **request}) + b"\n"))
            loop = _running_loop() if defer else None
            if loop is None:  # written at once, with whatever the loop has queued
                self._write_outbox()
            elif not self._flush_scheduled:
                # On the event loop the requests of one loop iteration go out in one write, after it: the
                # JVM reads them at once and answers them with one flush, and the reader takes all the
                # answers in one read. One syscall per burst on each side, not one per request.
                self._flush_scheduled = True
                loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        with self._write_lock:
            self._flush_scheduled = False
            self._write_outbox()

    def _write_outbox(self) -> None:
        """Writes the queued requests (the write lock is held); a closed pipe fails them: 503."""
        outbox, self._outbox = self._outbox, []
        if not outbox:
            return
        data = outbox[0][1] if len(outbox) == 1 else b"".join(line for _, line in outbox)
        try:
            stdin = self._stdin
            assert stdin is not None
            view = memoryview(data)
            while view:
                view = view[stdin.write(view) :]  # a pipe may take less than all (a signal)
        except (OSError, ValueError):  # a closed pipe: the JVM is gone, the supervisor knows
            error = NotReadyError(self.detail or "the model's JVM is not running")
            for request_id, _ in outbox:
                future = self._pending.pop(request_id, None)
                if future is not None and future.set_running_or_notify_cancel():
                    future.set_exception(error)

    def _read(self, stdout: IO[bytes]) -> None:
        # Whole chunks, never readline(): on the unbuffered pipe that is one read() syscall per byte,
        # each releasing and retaking the GIL the event loop needs (100 per answer). One read takes a
        # whole burst of answers, parsed while the GIL is held once.
        fd = stdout.fileno()
        buffer = bytearray()
        while chunk := os.read(fd, READ_CHUNK):
            # Look for line ends in the new chunk only: a long answer arriving in many chunks stays linear.
            end = chunk.rfind(b"\n")
            if end < 0:
                buffer += chunk
                if len(buffer) > MAX_ANSWER_BYTES:
                    self._oversized(len(buffer))
                    return
                continue
            buffer += chunk[: end + 1]
            for line in bytes(buffer).split(b"\n")[:-1]:
                self._answer(line)
            buffer = bytearray(chunk[end + 1 :])
        # EOF: the JVM exited (or closed stdout). Nothing pending will ever be answered.
        self._fail_pending(self._process)

    def _oversized(self, size: int) -> None:
        """An answer line past the bound: the jar is broken; kill it (the supervisor restarts it)."""
        log.error("predict.jar wrote a line of over %d bytes with no end; killing it", size)
        process = self._process
        if process is not None:
            process.kill()
        self._fail_pending(process)

    def _fail_pending(self, process: subprocess.Popen[bytes] | None) -> None:
        code = process.wait() if process is not None else None
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if future.set_running_or_notify_cancel():
                future.set_exception(PredictError(f"the model's JVM exited (code {code}) before answering"))

    def _answer(self, line: bytes) -> None:
        try:
            answer = codec.loads(line)
            request_id = answer["id"]
            future = self._pending.pop(request_id, None)
        except (ValueError, KeyError, TypeError):
            if line.strip():
                # Logging from the jar belongs on stderr; a stray stdout line is noise, not an answer.
                log.warning("predict.jar wrote a line that is no answer: %.200r", line)
            return
        if future is None or not future.set_running_or_notify_cancel():
            log.debug("predict.jar answered request %s, which its caller gave up on", request_id)
            return
        if "error" in answer:
            future.set_exception(PredictError(f"predict.jar: {answer['error']}"))
        else:
            future.set_result(answer.get("result"))

    def _log_stderr(self, stderr: IO[bytes]) -> None:
        for raw in iter(stderr.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            self._stderr.append(line)
            log.info("predict.jar: %s", line)

    def _stderr_tail(self) -> str:
        return "" if not self._stderr else "; its last stderr line: " + self._stderr[-1]


class _Answer(Future[Any]):
    """A request's answer; cancelling it (its caller gave up waiting) makes the bridge forget it."""

    def __init__(self, bridge: JvmBridge, request_id: int) -> None:
        super().__init__()
        self._bridge = bridge
        self._request_id = request_id

    def cancel(self) -> bool:
        self._bridge._pending.pop(self._request_id, None)
        return super().cancel()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def jvm_command(config: ServerConfig, model_path: Path | None) -> list[str]:
    jvm = config.jvm
    assert jvm is not None
    jar = Path(config.code.src_dir) / jvm.jar  # an absolute ``jar`` replaces src_dir
    return [jvm.java, *jvm.options, "-jar", str(jar), *([str(model_path)] if model_path else [])]


def predict_code(config: ServerConfig) -> tuple[PredictCode, Callable[[Any], str | None]]:
    """The H2O counterpart of predict.py (load() starts the JVM, predict() asks it), and its health.

    The health function says why the live model (a bridge) cannot answer (None: it can). Before any
    model is live it follows the first JVM from its start on, before load() has returned, so a jar
    that never starts is explained in every 503.
    """
    jvm = config.jvm
    if jvm is None:
        raise ValueError("an H2O model's server config needs a 'jvm' section")
    names = [p.name for p in config.rest.parameters] if config.rest else []
    first: list[JvmBridge] = []
    """The first bridge: health follows it while it starts, before any model is live."""

    def load(model_path: Path | None) -> JvmBridge:
        bridge = JvmBridge(
            jvm_command(config, model_path), config.code.src_dir, jvm.start_timeout_s, jvm.request_timeout_s
        )
        if not first:
            first.append(bridge)
            bridge.start()  # retried until it answers: every 503 meanwhile says why
            return bridge
        # A new model from training: the live bridge answers until this one is up. One attempt: a
        # MOJO its JVM cannot start on fails the training, and the live model stays.
        if not bridge.start(attempts=1):
            bridge.close()
            raise TrainingError(f"the new model was not swapped in: {bridge.detail}")
        return bridge

    def params(args: tuple[Any, ...]) -> Any:
        if names:
            return dict(zip(names, args, strict=True))
        # bus-only: the message object is the parameters
        if not isinstance(args[0], dict):
            raise RequestError("the message must be a JSON object of parameters")
        return args[0]

    def predict(bridge: JvmBridge, *args: Any) -> Any:
        return bridge.call(params(args))

    def submit(bridge: JvmBridge, *args: Any) -> Future[Any]:
        return bridge.submit(params(args))

    def health(model: Any) -> str | None:
        bridge = model if isinstance(model, JvmBridge) else first[0] if first else None
        return bridge.detail if bridge is not None else None

    code = PredictCode(predict, load, None, load_without_file=True, submit=submit, close=JvmBridge.close)
    return code, health
