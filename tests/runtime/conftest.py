"""Real servers for the runtime tests, all on 127.0.0.1: an isolated RabbitMQ node, moto's S3, and
model servers run the way images run them (``python -m aiar_runtime``, the package copied)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.platform.proc import free_port, port_open, terminate
from tests.platform.rabbitmq import RabbitNode
from tests.waiting import poll

REPO = Path(__file__).resolve().parents[2]
RUNTIME_SRC = REPO / "generator" / "runtime"


@pytest.fixture(scope="session")
def rabbitmq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitNode]:
    node = RabbitNode.isolated(tmp_path_factory.mktemp("rabbitmq"))
    node.start()
    try:
        yield node
    finally:
        node.stop(epmd=True)


# --- S3 -------------------------------------------------------------------------------------------


@dataclass
class S3Server:
    endpoint: str
    bucket: str = "aiar"

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(s3={"addressing_style": "path"}),
        )


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    port = free_port()
    moto = shutil.which("moto_server") or "moto_server"
    process = subprocess.Popen(
        [moto, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        poll("moto_server", lambda: port_open(port), timeout=30)
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
    shutil.copytree(RUNTIME_SRC, root / "aiar_runtime", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
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
            return httpx.get(f"{self.url}/v2/health/ready", timeout=2).status_code == 200

        poll("the model server to be ready", ready, timeout=timeout, retry_on=(httpx.HTTPError,))

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"server exited {self.process.returncode}:\n{self.log.read_text()}")

    def logs(self) -> str:
        return self.log.read_text()


def run_runtime(
    runtime_path: Path,
    command: str,
    config: dict[str, Any],
    workdir: Path,
    extra_env: dict[str, str] | None = None,
    *args: str,
) -> subprocess.Popen[bytes]:
    path = workdir / f"{command}-config.json"
    path.write_text(json.dumps(config))
    env = {
        **os.environ,
        "PYTHONPATH": str(runtime_path),
        "AIAR_MODEL_DIR": str(workdir / "models"),
        **(extra_env or {}),
    }
    log = (workdir / f"{command}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "aiar_runtime", command, "--config", str(path), *args],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=workdir,
    )


@pytest.fixture
def start_server(runtime_path: Path, tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    servers: list[RunningServer] = []

    def start(config: dict[str, Any], env: dict[str, str] | None = None) -> RunningServer:
        workdir = tmp_path / f"server-{len(servers)}"
        workdir.mkdir()
        port = free_port()
        process = run_runtime(runtime_path, "serve", config, workdir, env, "--host", "127.0.0.1", "--port", str(port))
        server = RunningServer(process, f"http://127.0.0.1:{port}", workdir / "serve.log")
        servers.append(server)

        def live() -> bool:
            server.check_alive()
            return port_open(port)

        poll("the model server to listen", live, timeout=30)
        return server

    yield start
    for server in servers:
        terminate(server.process)
