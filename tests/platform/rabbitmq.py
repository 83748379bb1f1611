"""The one RabbitMQ launcher: a node and its own epmd, supervised, everything private to one directory.

The platform's broker (fixed ports; ``testenv up`` starts it, ``down`` stops it) and the isolated
nodes of the runtime tests and ``bench/serve.py`` (free ports, one per session) are instances of it.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..waiting import poll
from .config import HOST
from .proc import Daemon, StepError, free_port, port_open, run

# The Debian wrapper in /usr/sbin switches to the rabbitmq user and drops our environment.
RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")


@dataclass(frozen=True)
class RabbitNode:
    """A RabbitMQ node on ``HOST``: its data, config and Erlang cookie in ``root``, its pid files in
    ``piddir`` and its console log in ``logdir`` (daemons ``epmd`` and ``rabbitmq``)."""

    root: Path
    name: str
    port: int
    dist_port: int
    epmd_port: int
    piddir: Path
    logdir: Path

    @classmethod
    def isolated(cls, root: Path) -> RabbitNode:
        """A node of its own on free ports, which never meets a broker already running on the machine."""
        return cls(
            root=root,
            name=f"aiar-rt-{os.getpid()}@localhost",
            port=free_port(),
            dist_port=free_port(),
            epmd_port=free_port(),
            piddir=root / "pids",
            logdir=root / "logs",
        )

    @property
    def broker(self) -> Daemon:
        return Daemon("rabbitmq", self.piddir, self.logdir)

    @property
    def epmd(self) -> Daemon:
        return Daemon("epmd", self.piddir, self.logdir)

    @property
    def env(self) -> dict[str, str]:
        root = self.root
        return {
            "HOME": str(root),  # .erlang.cookie lives here, not in the user's home
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": HOST,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_ADDRESS": HOST,
            "ERL_EPMD_PORT": str(self.epmd_port),
            "RABBITMQ_CONF_ENV_FILE": str(root / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(root / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(root / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(root / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(root / "log"),
            "RABBITMQ_PID_FILE": str(root / "rabbitmq.pid"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def ctl(self, *args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``rabbitmqctl ARGS`` against this node."""
        return run(
            [str(RABBIT_BIN / "rabbitmqctl"), "-n", self.name, *args], env=self.env, timeout=timeout, check=check
        )

    def start(self) -> None:
        """Start epmd and the node (each a no-op if it runs); return once ``await_startup`` succeeds."""
        epmd = self.epmd
        if not epmd.running():
            epmd.claim(self.epmd_port)
            epmd.start(["epmd", "-address", HOST, "-port", str(self.epmd_port)])
            poll("epmd port", lambda: port_open(self.epmd_port), timeout=15, diagnostics=epmd.log_tail)
        broker = self.broker
        if broker.running() and port_open(self.port):
            return  # the AMQP listener opens at the end of boot; await_startup costs a CLI VM start
        if not broker.running():
            broker.claim(self.port)
            for sub in ("mnesia", "log"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
            (self.root / "rabbitmq-env.conf").write_text("")
            (self.root / "advanced.config").write_text("[].\n")
            (self.root / "enabled_plugins").write_text("[].\n")
            (self.root / "rabbitmq.conf").write_text(
                f"listeners.tcp.default = {HOST}:{self.port}\n"
                "loopback_users = none\n"
                "log.console = true\nlog.file = false\n"
            )
            broker.start([str(RABBIT_BIN / "rabbitmq-server")], env=self.env)

        def ready() -> bool:
            if not broker.running():
                raise StepError("rabbitmq-server exited\n" + broker.log_tail())
            if not port_open(self.port):
                return False  # cheap check first: each rabbitmqctl call boots an Erlang VM
            return self.ctl("await_startup", "--timeout", "30", check=False).returncode == 0

        poll("rabbitmqctl await_startup", ready, timeout=120, interval=0.2, diagnostics=broker.log_tail)

    def stop(self, *, epmd: bool = False) -> None:
        """Graceful stop: SIGTERM makes the node shut down cleanly (durable queues and persistent
        messages survive a later start). ``epmd``: stop the node's epmd too."""
        self.broker.stop(timeout=60)
        if epmd:
            self.epmd.stop()

    def restart(self) -> None:
        """A full broker restart: the node process ends and a new one starts on the same data."""
        self.stop()
        self.start()

    def parameters(self) -> Any:
        """pika connection parameters for this node (guest, which ``loopback_users = none`` lets in)."""
        import pika

        return pika.ConnectionParameters(HOST, self.port, heartbeat=30)

    def queue_depth(self, queue: str) -> int:
        import pika

        connection = pika.BlockingConnection(self.parameters())
        try:
            frame = connection.channel().queue_declare(queue, passive=True)
            return int(frame.method.message_count or 0)
        finally:
            connection.close()
