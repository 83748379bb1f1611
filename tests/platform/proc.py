"""Running commands and supervising daemons (waiting: :func:`tests.waiting.poll`)."""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..waiting import poll

# What a server that is still coming up throws at a readiness check: refused or reset connections
# (OSError, URLError), half responses (HTTPException) and half-written JSON (ValueError).
TRANSIENT: tuple[type[Exception], ...] = (OSError, ValueError, http.client.HTTPException)


class StepError(RuntimeError):
    """A platform step failed; the message names the step and shows evidence."""


def log(msg: str) -> None:
    print(f"[testenv {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def file_tail(path: Path, lines: int = 25) -> str:
    try:
        with path.open("r", errors="replace") as fh:
            return "".join(deque(fh, maxlen=lines)).rstrip()
    except FileNotFoundError:
        return f"(no {path})"


def merged_env(extra: Mapping[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    if extra:
        env.update(extra)
    return env


def run(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 600,
    input_text: str | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion; raise StepError with its stderr tail on failure."""
    try:
        proc = subprocess.run(
            list(cmd),
            env=merged_env(env),
            cwd=cwd,
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stderr if isinstance(exc.stderr, str) else (exc.stderr or b"").decode(errors="replace")
        raise StepError(f"timed out after {timeout:.0f}s: {shlex.join(cmd)}\n{tail(out)}") from exc
    except FileNotFoundError as exc:
        raise StepError(f"command not found: {cmd[0]} (is the install step done?)") from exc
    if check and proc.returncode != 0:
        raise StepError(
            f"command failed (exit {proc.returncode}): {shlex.join(cmd)}\n"
            f"--- stderr (tail) ---\n{tail(proc.stderr or proc.stdout)}"
        )
    return proc


def run_streamed(
    cmd: Sequence[str],
    *,
    what: str,
    logfile: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 3600,
    heartbeat: float = 30,
) -> None:
    """Run a long command, copying its output to ``logfile`` and a heartbeat to stderr."""
    logfile.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    recent: deque[str] = deque(maxlen=40)
    with logfile.open("w") as fh:
        fh.write(f"$ {shlex.join(cmd)}\n")
        fh.flush()
        proc = subprocess.Popen(
            list(cmd),
            env=merged_env(env),
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                fh.write(line)
                recent.append(line.rstrip())

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        while True:
            try:
                rc = proc.wait(timeout=heartbeat)
                break
            except subprocess.TimeoutExpired:
                elapsed = time.monotonic() - start
                if elapsed > timeout:
                    proc.kill()
                    rc = proc.wait()
                    recent.append(f"(killed after {timeout:.0f}s)")
                    break
                last = recent[-1][:100] if recent else "(no output yet)"
                log(f"{what}: {elapsed:.0f}s ... {last}")
        reader.join(timeout=10)
    if rc != 0:
        raise StepError(
            f"{what} failed (exit {rc}) after {time.monotonic() - start:.0f}s: {shlex.join(cmd)}\n"
            f"full log: {logfile}\n--- output (tail) ---\n" + "\n".join(recent)
        )


def terminate(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL if ``process`` has not exited within ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the time of asking)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


# --------------------------------------------------------------------------- daemons


@dataclass(frozen=True)
class Daemon:
    """A supervised background process whose pid is recorded in ``<rundir>/pids``."""

    name: str
    piddir: Path
    logdir: Path

    @property
    def pidfile(self) -> Path:
        return self.piddir / f"{self.name}.json"

    @property
    def logfile(self) -> Path:
        return self.logdir / f"{self.name}.log"

    def _record(self) -> tuple[int, int] | None:
        try:
            data = json.loads(self.pidfile.read_text())
            return int(data["pid"]), int(data["starttime"])
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None

    def pid(self) -> int | None:
        """The pid if the recorded process is still alive (and is still ours)."""
        rec = self._record()
        if rec is None:
            return None
        pid, starttime = rec
        return pid if _proc_starttime(pid) == starttime else None

    def running(self) -> bool:
        return self.pid() is not None

    def claim(self, port: int) -> None:
        """Fail unless ``port`` on 127.0.0.1 is free or this daemon holds it."""
        if port_open(port) and not self.running():
            raise StepError(
                f"{self.name}: port 127.0.0.1:{port} is used by a process this platform did not start "
                f"(set AIAR_TESTENV_*_PORT to move it; see tests/platform/config.py)"
            )

    def start(self, cmd: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> int:
        self.piddir.mkdir(parents=True, exist_ok=True)
        self.logdir.mkdir(parents=True, exist_ok=True)
        with self.logfile.open("a") as fh:
            fh.write(f"\n=== {time.strftime('%F %T')} $ {shlex.join(cmd)}\n")
            fh.flush()
            try:
                proc = subprocess.Popen(
                    list(cmd),
                    env=merged_env(env),
                    cwd=cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except FileNotFoundError as exc:
                raise StepError(f"{self.name}: command not found: {cmd[0]}") from exc
        record = {"pid": proc.pid, "starttime": _proc_starttime(proc.pid), "cmd": list(cmd)}
        self.pidfile.write_text(json.dumps(record))
        return proc.pid

    def stop(self, timeout: float = 20) -> bool:
        """Terminate the process group; returns True if something was stopped."""
        pid = self.pid()
        if pid is None:
            self.pidfile.unlink(missing_ok=True)
            return False
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.pid() is not None and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.1)
        if self.pid() is not None:
            _signal_group(pid, signal.SIGKILL)

            def dead() -> bool:
                _reap(pid)
                return self.pid() is None

            poll(f"{self.name} (pid {pid}) to die", dead, timeout=10)
        self.pidfile.unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 25) -> str:
        return f"--- {self.logfile} (tail) ---\n{file_tail(self.logfile, lines)}"


def _proc_starttime(pid: int) -> int | None:
    """Start time of a live (non-zombie) process; distinguishes reused pids."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])  # field 22 of proc_pid_stat(5); fields[0] is field 3


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)  # started with start_new_session: pgid == pid
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _reap(pid: int) -> None:
    """Collect an exited child of this process (no-op for other processes)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


@contextlib.contextmanager
def file_lock(path: Path, what: str, timeout: float = 5400) -> Iterator[None]:
    """Exclusive inter-process lock (several test sessions may start the platform)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another process holding {path} ({what})")

            def acquired() -> bool:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return False
                return True

            poll(f"lock {path} ({what})", acquired, timeout=timeout, interval=1)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
