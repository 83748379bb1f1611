"""The example bundles' images, built for real on the local platform and run the way their pods run.

``aiar generate`` compiles the examples against the platform's environment file plus the Java base
image (built on demand, see :func:`tests.platform.testenv.ensure_java_base`); each test module builds
its image from ``out/`` through the Docker API podman serves, then runs it on the host network beside
the platform's RabbitMQ and S3, as UID 10001 with a read-only root filesystem and a writable ``/tmp``
(the pods' security context), with the generated server config mounted where the pods mount it.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pika
import pytest
import yaml
from click.testing import CliRunner

from generator.cli import main
from tests import waiting
from tests.conftest import REPO
from tests.platform.proc import free_port
from tests.platform.testenv import Platform, ensure_java_base

EXAMPLES = tuple(
    REPO / "bundles" / name for name in ("h2o-quality-gbm", "h2o-quality-trained", "greeting-service", "onnx-quality")
)
CONFIG_MOUNT = "/etc/aiar/model-server.json"
RUN_AS = "10001:10001"


BYTECODE_CHECK = """
import importlib.util, json, pathlib, sys, sysconfig
def check(root):
    sources = sorted(pathlib.Path(root).rglob("*.py"))
    flags, missing = set(), []
    for source in sources:
        compiled = pathlib.Path(importlib.util.cache_from_source(str(source)))
        if compiled.is_file():
            flags.add(int.from_bytes(compiled.read_bytes()[4:8], "little"))
        else:
            missing.append(str(source))
    return {"sources": len(sources), "missing": missing[:5], "flags": sorted(flags)}
print(json.dumps({"venv": check(sys.prefix), "stdlib": check(sysconfig.get_paths()["stdlib"])}))
"""
"""Run in an image: the .pyc files of every module of its venv and of its standard library."""


def assert_holds_bytecode(client: Any, image_id: str, venv_sources: int) -> None:
    """A pod cannot write bytecode (read-only root): every module of the image's venv is compiled at
    build time, as hash-based .pyc files Python takes without checking the source (flags 0b01), and
    its standard library has its .pyc files (the base image's own, or compiled where it had none)."""
    output = client.containers.run(
        image_id, entrypoint=["python", "-c", BYTECODE_CHECK], remove=True, user=RUN_AS, read_only=True
    )
    report = json.loads(output.decode().strip().splitlines()[-1])
    venv, stdlib = report["venv"], report["stdlib"]
    assert venv["sources"] > venv_sources
    assert venv["missing"] == []
    assert venv["flags"] == [1]
    assert stdlib["sources"] > 500
    assert stdlib["missing"] == []


@dataclass(frozen=True)
class Compiled:
    """``aiar generate``'s output for the examples, and its index."""

    out: Path
    index: dict[str, Any]

    def image(self, slug: str, role: str = "predict") -> dict[str, str]:
        image: dict[str, str] = self.index["models"][slug]["images"][role]
        return image

    def config(self, slug: str) -> Path:
        return self.out / slug / "server" / "model-server.json"


def platform_environment(platform: Platform, target: Path) -> Path:
    """The platform's environment file (a copy), its Java base image made first for the H2O models."""
    ensure_java_base(platform)
    env = yaml.safe_load(platform.env_file.read_text())
    assert env["base_images"].get("java"), "the platform's environment file names the Java base image"
    shutil.copy(platform.env_file, target)
    return target


@pytest.fixture(scope="session")
def compiled(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Compiled:
    work = tmp_path_factory.mktemp("images")
    env = platform_environment(platform, work / "environment.yaml")
    out = work / "out"
    args = ["generate", *map(str, EXAMPLES), "--env", str(env), "--lock", str(work / "aiar.lock"), "--out", str(out)]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return Compiled(out, json.loads((out / "index.json").read_text()))


@pytest.fixture(scope="session")
def docker_client(platform: Platform) -> Iterator[Any]:
    import docker  # type: ignore[import-untyped]

    client = docker.DockerClient(base_url=platform.docker_host, version="1.41", timeout=600)
    yield client
    client.close()


def build_image(client: Any, compiled: Compiled, slug: str, role: str = "predict") -> str:
    """Build one of the model's images (``predict``, ``train``) from its context in ``out/``; its reference."""
    import docker.errors  # type: ignore[import-untyped]

    image = compiled.image(slug, role)
    start = time.monotonic()
    try:
        client.images.build(
            path=str(compiled.out / image["context"]),
            dockerfile=image["dockerfile"],
            tag=image["ref"],
            rm=True,
            forcerm=True,
            pull=False,
        )
    except docker.errors.BuildError as exc:
        log = "".join(str(item.get("stream") or item.get("error") or "") for item in exc.build_log)
        pytest.fail(f"building {slug}'s {role} image failed: {exc.msg}\n{log[-4000:]}")
    print(f"{slug}: built {image['ref']} in {time.monotonic() - start:.1f}s")
    return image["ref"]


@contextmanager
def running(
    client: Any,
    ref: str,
    *,
    environment: Mapping[str, str],
    config: Path | None = None,
    command: Sequence[str] = (),
) -> Iterator[Any]:
    """The image running detached on the host network, as the pods run it; removed afterwards."""
    container = client.containers.run(
        ref,
        list(command),
        detach=True,
        network_mode="host",
        user=RUN_AS,
        read_only=True,
        tmpfs={"/tmp": "rw"},
        environment=dict(environment),
        volumes={str(config): {"bind": CONFIG_MOUNT, "mode": "ro"}} if config else {},
        labels={"aiar.test": "images"},
    )
    try:
        yield container
    finally:
        container.remove(force=True)


@contextmanager
def serving(client: Any, ref: str, *, environment: Mapping[str, str], config: Path) -> Iterator[tuple[str, Any]]:
    """aiar's model server image running with ``config`` on a free port, once it is ready: its URL
    and its container."""
    port = free_port()
    with running(client, ref, environment=environment, config=config, command=["--port", str(port)]) as container:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/v2/health/ready", container)
        yield url, container


def logs(container: Any) -> str:
    return str(container.logs().decode("utf-8", "replace"))[-4000:]


def wait_http(url: str, container: Any, timeout: float = 180) -> None:
    """Until ``GET url`` answers 200; fails with the container's log if it exits or the time runs out."""

    def alive() -> None:
        container.reload()
        assert container.status == "running", f"the container exited:\n{logs(container)}"

    waiting.wait_http(url, timeout=timeout, alive=alive, diagnostics=lambda: logs(container))


@dataclass(frozen=True)
class BusProbe:
    """A channel to the platform's broker beside a served model: its prediction queue as the server
    declares it, and an exclusive queue collecting what it publishes on its first output key."""

    channel: Any
    exchange: str
    input_key: str
    collector: str

    def publish(self, body: bytes, correlation_id: str) -> None:
        properties = pika.BasicProperties(
            correlation_id=correlation_id, content_type="application/json", delivery_mode=2
        )
        self.channel.basic_publish(self.exchange, self.input_key, body, properties)


@contextmanager
def prediction_bus(platform: Platform, config: Mapping[str, Any]) -> Iterator[BusProbe]:
    """``config``: the model's server config (``server/model-server.json``)."""
    exchange, bus = config["message_bus"]["exchange"], config["prediction_bus"]
    connection = pika.BlockingConnection(pika.URLParameters(platform.amqp_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        # as the server declares them: the input queue exists before anything is sent
        channel.queue_declare(bus["queue"], durable=True)
        for key in bus["input_keys"]:
            channel.queue_bind(bus["queue"], exchange, routing_key=key)
        collector = str(channel.queue_declare("", exclusive=True).method.queue)
        channel.queue_bind(collector, exchange, routing_key=bus["output_keys"][0])
        yield BusProbe(channel, exchange, bus["input_keys"][0], collector)
    finally:
        connection.close()
