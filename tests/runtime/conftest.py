"""Real servers for the runtime tests, all on 127.0.0.1: an isolated RabbitMQ node, moto's S3, and
model servers run the way images run them (``python -m aiar_runtime``, the package copied)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
RUNTIME_SRC = REPO / "generator" / "runtime"
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


# --- RabbitMQ -------------------------------------------------------------------------------------


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
        return subprocess.run([str(RABBIT_BIN / "rabbitmqctl"), "-n", self.name, *args],
                              env=self.env, capture_output=True, text=True, timeout=timeout)

    epmd: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.epmd is None:  # our own epmd, in the foreground, so we can end it by its pid
            self.epmd = subprocess.Popen(["epmd", "-address", "127.0.0.1",
                                          "-port", str(self.epmd_port)], env=self.env)
            wait_for(lambda: _port_open(self.epmd_port), 10, "epmd")
        for sub in ("mnesia", "log"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "rabbitmq.conf").write_text("loopback_users = none\n")
        (self.root / "enabled_plugins").write_text("[].\n")
        (self.root / "rabbitmq-env.conf").write_text("")
        subprocess.run([str(RABBIT_BIN / "rabbitmq-server"), "-detached"], env=self.env,
                       check=True, capture_output=True, timeout=60)
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
        wait_for(lambda: not _port_open(self.port), 30, "RabbitMQ to stop")

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


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def rabbitmq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitNode]:
    node = RabbitNode(tmp_path_factory.mktemp("rabbitmq"))
    node.start()
    try:
        yield node
    finally:
        node.stop()
        if node.epmd is not None:
            node.epmd.terminate()
            node.epmd.wait(10)


# --- S3 -------------------------------------------------------------------------------------------


@dataclass
class S3Server:
    endpoint: str
    bucket: str = "aiar"

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test",
                            config=Config(s3={"addressing_style": "path"}))


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    port = free_port()
    moto = shutil.which("moto_server") or "moto_server"
    process = subprocess.Popen([moto, "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _port_open(port), 30, "moto_server")
        server = S3Server(f"http://127.0.0.1:{port}")
        server.client().create_bucket(Bucket=server.bucket)
        yield server
    finally:
        process.terminate()
        process.wait(10)


S3_ENV = {"AIAR_S3_ACCESS_KEY": "test", "AIAR_S3_SECRET_KEY": "test"}


# --- the runtime, as an image runs it --------------------------------------------------------------


@pytest.fixture(scope="session")
def runtime_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding ``aiar_runtime/``: the package copied, as the compiler does for images."""
    root = tmp_path_factory.mktemp("image")
    shutil.copytree(RUNTIME_SRC, root / "aiar_runtime",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return root


@dataclass
class RunningServer:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def wait_ready(self, timeout: float = 60) -> None:
        def ready() -> bool:
            self.check_alive()
            try:
                return httpx.get(f"{self.url}/v2/health/ready", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, timeout, "the model server to be ready")

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"server exited {self.process.returncode}:\n{self.log.read_text()}")

    def logs(self) -> str:
        return self.log.read_text()


def run_runtime(runtime_path: Path, command: str, config: dict[str, Any], workdir: Path,
                extra_env: dict[str, str] | None = None, *args: str) -> subprocess.Popen[bytes]:
    path = workdir / f"{command}-config.json"
    path.write_text(json.dumps(config))
    env = {**os.environ, "PYTHONPATH": str(runtime_path), "AIAR_MODEL_DIR": str(workdir / "models"),
           **(extra_env or {})}
    log = (workdir / f"{command}.log").open("wb")
    return subprocess.Popen([sys.executable, "-m", "aiar_runtime", command, "--config", str(path),
                             *args], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)


@pytest.fixture
def start_server(runtime_path: Path, tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    servers: list[RunningServer] = []

    def start(config: dict[str, Any], env: dict[str, str] | None = None) -> RunningServer:
        workdir = tmp_path / f"server-{len(servers)}"
        workdir.mkdir()
        port = free_port()
        process = run_runtime(runtime_path, "serve", config, workdir, env,
                              "--host", "127.0.0.1", "--port", str(port))
        server = RunningServer(process, f"http://127.0.0.1:{port}", workdir / "serve.log")
        servers.append(server)

        def live() -> bool:
            server.check_alive()
            return _port_open(port)

        wait_for(live, 30, "the model server to listen")
        return server

    yield start
    for server in servers:
        server.process.terminate()
        try:
            server.process.wait(15)
        except subprocess.TimeoutExpired:
            server.process.kill()
