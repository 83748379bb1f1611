"""Several server processes on one port: ``serve --processes N``.

predict() holds the GIL, so one process uses about one core whatever its thread count. With
``--processes N`` a supervisor process reserves the port and starts N copies of ``serve``; each binds
the same address with ``SO_REUSEPORT`` and the kernel spreads new connections over them. The
supervisor loads no model and serves nothing: it forwards SIGTERM/SIGINT to every child, waits for
their graceful shutdown (then kills what is left), and stops them all as soon as one exits on its
own (the pod restarts whole, as it would with one process). A child asks the kernel for SIGTERM
when the supervisor dies (``PR_SET_PDEATHSIG``), so even a SIGKILLed supervisor leaves no orphan.

Metrics use prometheus_client's multiprocess mode: the supervisor gives the children one directory
(``PROMETHEUS_MULTIPROC_DIR``: the one set in its environment, emptied first, else a temporary one it
removes when it stops), every process writes its counters and histograms there, and whichever
process answers ``/metrics`` reports the sums over all of them (see ``metrics.py``).

Bus training is refused with more than one process: each process would train on a share of the
records and keep its own model.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from .config import ServerConfig
from .metrics import MULTIPROC_ENV

log = logging.getLogger("aiar.workers")

PROCESSES_ENV = "AIAR_PROCESSES"
"""How many server processes the supervisor started (set for each of them)."""
READY_PUBLISH_S = 0.5
STOP_GRACE_S = 15.0
"""How long the children get to finish (uvicorn's own graceful shutdown is 10 s) before SIGKILL."""
POLL_S = 0.2
BACKLOG = 2048
_PR_SET_PDEATHSIG = 1


class WorkersError(RuntimeError):
    """A configuration that cannot run in several processes."""


def check_config(config: ServerConfig, processes: int) -> None:
    if processes < 1:
        raise WorkersError("--processes must be at least 1")
    if processes > 1 and config.training is not None and config.training.bus is not None:
        raise WorkersError(
            "--processes > 1 with bus training: each process would train on a share of the records; use one process"
        )


def _reuse_port_socket(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
    )[0]
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
    # without it Nagle's algorithm holds each response's body behind its headers (40 ms a request)
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


def listening_socket(host: str, port: int) -> socket.socket:
    """A child's own listening socket on the supervisor's port (``SO_REUSEPORT``)."""
    sock = _reuse_port_socket(host, port)
    sock.listen(BACKLOG)
    sock.setblocking(False)
    return sock


def become_worker(supervisor: int) -> None:
    """Die with the supervisor: the kernel sends SIGTERM when it exits, however it exits."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != supervisor:  # it died before prctl took effect
        raise SystemExit(1)


class SharedReadiness:
    """Readiness over all the processes: ``/v2/health/ready`` answers for whichever process the kernel
    picked, so it says ready only when every process is (a probe must not see a ready process while
    the next request goes to one still loading its model).

    Each process keeps a file ``ready-<pid>`` in the shared directory while its model can answer
    (checked every ``READY_PUBLISH_S``); the check counts the files of living processes.
    """

    def __init__(self, directory: Path, expected: int) -> None:
        self.directory, self.expected = directory, expected
        self._mine = directory / f"ready-{os.getpid()}"

    def publish_from(self, ready: Callable[[], bool]) -> None:
        def publish() -> None:
            while True:
                if ready():
                    self._mine.touch()
                else:
                    self._mine.unlink(missing_ok=True)
                time.sleep(READY_PUBLISH_S)

        threading.Thread(target=publish, name="shared-readiness", daemon=True).start()

    def all_ready(self) -> bool:
        living = 0
        for path in self.directory.glob("ready-*"):
            with contextlib.suppress(ValueError, ProcessLookupError, PermissionError):
                os.kill(int(path.name.removeprefix("ready-")), 0)
                living += 1
        return living >= self.expected

    @classmethod
    def from_environment(cls) -> SharedReadiness:
        return cls(Path(os.environ[MULTIPROC_ENV]), int(os.environ[PROCESSES_ENV]))


def supervise(config_path: Path, config: ServerConfig, host: str, port: int, processes: int, threads: int) -> int:
    """Run ``processes`` servers on ``host:port`` until a signal (exit 0) or one of them exits (its code)."""
    check_config(config, processes)
    stop = threading.Event()

    def requested(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # first: a signal from now on is a requested stop that cleans up, never the default death
    previous = {sig: signal.signal(sig, requested) for sig in (signal.SIGTERM, signal.SIGINT)}
    # Bound but not listening: it holds the port (and resolves port 0) for the children, and takes
    # no connections itself.
    holder = _reuse_port_socket(host, port)
    port = holder.getsockname()[1]
    given = os.environ.get(MULTIPROC_ENV)
    metrics_dir = given or tempfile.mkdtemp(prefix="aiar-metrics-")
    if given:  # an operator's directory (e.g. an emptyDir): last run's values must not count again
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in [*Path(given).glob("*.db"), *Path(given).glob("ready-*")]:
            stale.unlink()
    env = {**os.environ, MULTIPROC_ENV: metrics_dir, PROCESSES_ENV: str(processes)}
    command = [
        sys.executable,
        "-m",
        __package__ or "aiar_runtime",
        "serve",
        "--config",
        str(config_path),
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(threads),
        "--worker-of",
        str(os.getpid()),
    ]
    children: list[subprocess.Popen[bytes]] = []
    code = 0
    try:
        # a fixed argv, no shell: this interpreter and this server's own arguments
        children.extend(subprocess.Popen(command, env=env) for _ in range(processes))  # noqa: S603
        log.info("serving on %s:%d with %d processes: %s", host, port, processes, [c.pid for c in children])
        while not stop.wait(POLL_S):
            exited = next((c for c in children if c.poll() is not None), None)
            if exited is not None:
                log.error("server process %d exited with %s; stopping the others", exited.pid, exited.returncode)
                code = exited.returncode if exited.returncode and exited.returncode > 0 else 1
                break
    finally:
        _stop_all(children)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        holder.close()
        if not given:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return code


def _stop_all(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    for child in children:
        try:
            child.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("server process %d did not stop in %.0fs; killing it", child.pid, STOP_GRACE_S)
            child.kill()
            child.wait()
