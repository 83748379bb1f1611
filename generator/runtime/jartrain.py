"""H2O training: the bundle's ``train.jar``, one JVM per training, driven over stdin/stdout.

Training is rare and long next to a JVM start, so unlike ``predict.jar`` the jar is not kept
running: each training starts ``java -jar train.jar``, writes one JSON request to its stdin, and
reads one JSON answer from its stdout (the contract is in CONTRACT.md). The jar's stderr is its log.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
from collections import deque
from pathlib import Path
from typing import IO, Any

from . import codec
from .config import ServerConfig
from .training import TrainingError
from .usercode import TrainCode

log = logging.getLogger("aiar.jartrain")

STDERR_TAIL = 20
STDOUT_TAIL_BYTES = 1 << 20
"""The answer is the last stdout line; this much of the end of stdout is kept to find it."""
MESSAGE_LIMIT = 1000
"""A message from the jar is cut to this many characters before it is logged or published."""


def train_command(config: ServerConfig) -> list[str]:
    jvm = config.jvm
    assert jvm is not None and jvm.train_jar is not None
    jar = Path(config.code.src_dir) / jvm.train_jar
    return [jvm.java, *jvm.train_options, "-jar", str(jar)]


def run_jar(command: list[str], cwd: str, request: dict[str, Any], timeout_s: float) -> Any:
    """Run one training; its ``stats`` on success, else a :class:`TrainingError` saying why.

    The jar runs in its own process group, killed whole on a timeout or any failure here, so that
    nothing it started outlives the training. Only the tail of its stdout is kept: the answer is
    its last line, and a jar that floods stdout must not flood the server's memory.
    """
    log.info("starting %s", " ".join(command))
    try:
        # a fixed argv, no shell: its parts come from the environment file or out/
        process = subprocess.Popen(  # noqa: S603
            command,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise TrainingError(f"cannot start train.jar ({command[0]}): {exc.strerror}") from None
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    try:
        stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL)
        stdout_tail = _Tail()
        readers = [
            threading.Thread(target=_log_stderr, args=(process.stderr, stderr_tail), daemon=True),
            threading.Thread(target=stdout_tail.consume, args=(process.stdout,), daemon=True),
        ]
        for reader in readers:
            reader.start()
        try:
            process.stdin.write(codec.dumps(request) + b"\n")
            process.stdin.close()
        except OSError:
            pass  # the JVM exited before reading: its exit code and stderr say why
        try:
            code = process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            raise TrainingError(f"train.jar did not finish within {timeout_s:.0f}s; it was killed") from None
        for reader in readers:
            reader.join(timeout=5)  # a child the jar left behind may hold the pipes: killed below
    finally:
        _kill_group(process)
    answer = stdout_tail.answer()
    if isinstance(answer, dict) and "error" in answer:
        raise TrainingError(f"train.jar: {_shown(answer['error'])}")
    if code != 0:
        last = f"; its last stderr line: {_shown(stderr_tail[-1])}" if stderr_tail else ""
        raise TrainingError(f"train.jar exited with code {code}{last}")
    if not isinstance(answer, dict) or "stats" not in answer:
        raise TrainingError('train.jar exited 0 without its {"stats": ...} line on stdout')
    return answer["stats"]


class _Tail:
    """The last line of a stream, with at most ``STDOUT_TAIL_BYTES`` kept; the rest is counted."""

    def __init__(self) -> None:
        self.data = b""
        self.dropped = 0

    def consume(self, stream: IO[bytes]) -> None:
        fd = stream.fileno()
        while chunk := os.read(fd, 1 << 16):
            data = self.data + chunk
            if len(data) > STDOUT_TAIL_BYTES:
                self.dropped += len(data) - STDOUT_TAIL_BYTES
                data = data[-STDOUT_TAIL_BYTES:]
            self.data = data

    def answer(self) -> Any:
        lines = [line for line in self.data.splitlines() if line.strip()]
        if self.dropped or len(lines) > 1:
            log.warning("train.jar wrote more than its answer on stdout (logs belong on stderr)")
        if not lines:
            return None
        try:
            return codec.loads(lines[-1])
        except ValueError:
            log.warning("train.jar's last stdout line is not JSON: %.200r", lines[-1])
            return None


def _shown(value: Any) -> str:
    """A message from the jar as it may be shown: text, one line, bounded."""
    text = value if isinstance(value, str) else codec.dumps(value).decode()
    text = "".join(c if c.isprintable() else " " for c in text)
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT] + "..."


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _log_stderr(stderr: IO[bytes], tail: deque[str]) -> None:
    for raw in iter(stderr.readline, b""):
        line = raw.decode("utf-8", "replace").rstrip()
        tail.append(line)
        log.info("train.jar: %s", line)


def train_code(config: ServerConfig) -> TrainCode:
    """The H2O counterpart of train.py's train(): the same call, answered by ``train.jar``."""
    command = train_command(config)
    cwd = config.code.src_dir
    assert config.jvm is not None
    timeout_s = config.jvm.train_timeout_s

    def train(dataset: Path, hyperparameters: dict[str, Any], model_path: Path) -> Any:
        request = {
            "dataset": str(dataset.resolve()),
            "model_path": str(model_path.resolve()),
            "hyperparameters": hyperparameters,
        }
        return run_jar(command, cwd, request, timeout_s)

    return TrainCode(train, None, buffer_format="csv")
