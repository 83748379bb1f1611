"""H2O training: the bundle's ``train.jar``, one JVM per training, driven over stdin/stdout.

Training is rare and long next to a JVM start, so unlike ``predict.jar`` the jar is not kept
running: each training starts ``java -jar train.jar``, writes one JSON request to its stdin, and
reads one JSON answer from its stdout (the contract is in CONTRACT.md). The jar's stderr is its log.
"""

from __future__ import annotations

import logging
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


def train_command(config: ServerConfig) -> list[str]:
    jvm = config.jvm
    assert jvm is not None and jvm.train_jar is not None
    jar = Path(config.code.src_dir) / jvm.train_jar
    return [jvm.java, *jvm.train_options, "-jar", str(jar)]


def run_jar(command: list[str], cwd: str, request: dict[str, Any]) -> Any:
    """Run one training; its ``stats`` on success, else a :class:`TrainingError` saying why."""
    log.info("starting %s", " ".join(command))
    try:
        process = subprocess.Popen(
            command, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    except OSError as exc:
        raise TrainingError(f"cannot start train.jar ({command[0]}): {exc.strerror}") from None
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    tail: deque[str] = deque(maxlen=STDERR_TAIL)
    logger = threading.Thread(target=_log_stderr, args=(process.stderr, tail), name="train-jar-stderr", daemon=True)
    logger.start()
    try:
        process.stdin.write(codec.dumps(request) + b"\n")
        process.stdin.close()
    except OSError:
        pass  # the JVM exited before reading: its exit code and stderr say why
    output = process.stdout.read()
    code = process.wait()
    logger.join(timeout=5)
    answer = _last_answer(output)
    if isinstance(answer, dict) and "error" in answer:
        raise TrainingError(f"train.jar: {answer['error']}")
    if code != 0:
        last = f"; its last stderr line: {tail[-1]}" if tail else ""
        raise TrainingError(f"train.jar exited with code {code}{last}")
    if not isinstance(answer, dict) or "stats" not in answer:
        raise TrainingError('train.jar exited 0 without its {"stats": ...} line on stdout')
    return answer["stats"]


def _last_answer(output: bytes) -> Any:
    lines = [line for line in output.splitlines() if line.strip()]
    if not lines:
        return None
    for line in lines[:-1]:
        log.warning("train.jar wrote a line that is no answer: %.200r", line)
    try:
        return codec.loads(lines[-1])
    except ValueError:
        log.warning("train.jar's last stdout line is not JSON: %.200r", lines[-1])
        return None


def _log_stderr(stderr: IO[bytes], tail: deque[str]) -> None:
    for raw in iter(stderr.readline, b""):
        line = raw.decode("utf-8", "replace").rstrip()
        tail.append(line)
        log.info("train.jar: %s", line)


def train_code(config: ServerConfig) -> TrainCode:
    """The H2O counterpart of train.py's train(): the same call, answered by ``train.jar``."""
    command = train_command(config)
    cwd = config.code.src_dir

    def train(dataset: Path, hyperparameters: dict[str, Any], model_path: Path) -> Any:
        request = {
            "dataset": str(dataset.resolve()),
            "model_path": str(model_path.resolve()),
            "hyperparameters": hyperparameters,
        }
        return run_jar(command, cwd, request)

    return TrainCode(train, None, buffer_format="csv")
