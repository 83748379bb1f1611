"""Real servers on 127.0.0.1 for the runtime tests and bench/serve.py: an isolated RabbitMQ node."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The Debian wrapper in /usr/sbin switches to the rabbitmq user and drops our environment.
RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class RabbitNode:
    root: Path
    port: int = field(default_factory=free_port)
    dist_port: int = field(default_factory=free_port)
    epmd_port: int = field(default_factory=free_port)
    name: str = f"aiar-rt-{os.getpid()}@localhost"

    @property
    def env(self) -> dict[str, str]:
        # Everything private to this node (own epmd port, HOME and cookie), so it never meets the
        # shared broker another engineer may be running on 5672.
        return {
            **os.environ,
            "HOME": str(self.root),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_EPMD_PORT": str(self.epmd_port),
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.root / "rabbit.pid"),
            "RABBITMQ_CONF_ENV_FILE": str(self.root / "rabbitmq-env.conf"),
        }

    def _ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(RABBIT_BIN / "rabbitmqctl"), "-n", self.name, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    epmd: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.epmd is None:  # our own epmd, in the foreground, so we can end it by its pid
            self.epmd = subprocess.Popen(
                ["epmd", "-address", "127.0.0.1", "-port", str(self.epmd_port)],
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,  # it complains about our readiness probe
            )
            wait_for(lambda: port_open(self.epmd_port), 10, "epmd")
        for sub in ("mnesia", "log"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "rabbitmq.conf").write_text("loopback_users = none\n")
        (self.root / "enabled_plugins").write_text("[].\n")
        (self.root / "rabbitmq-env.conf").write_text("")
        subprocess.run(
            [str(RABBIT_BIN / "rabbitmq-server"), "-detached"],
            env=self.env,
            check=True,
            capture_output=True,
            timeout=60,
        )
        deadline = time.monotonic() + 90
        while True:  # await_startup fails while the node is not registered yet: poll it
            result = self._ctl("await_startup", "--timeout", "30", timeout=40)
            if result.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"RabbitMQ did not start: {result.stderr}")
            time.sleep(0.5)

    def stop(self) -> None:
        self._ctl("stop", timeout=60)
        wait_for(lambda: not port_open(self.port), 30, "RabbitMQ to stop")

    def restart(self) -> None:
        """A full broker restart: the node process ends and a new one starts on the same data."""
        self.stop()
        self.start()

    def queue_depth(self, queue: str) -> int:
        import pika

        connection = pika.BlockingConnection(self.parameters())
        try:
            frame = connection.channel().queue_declare(queue, passive=True)
            return int(frame.method.message_count)
        finally:
            connection.close()

    def parameters(self) -> Any:
        import pika

        return pika.ConnectionParameters("127.0.0.1", self.port, heartbeat=30)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0
