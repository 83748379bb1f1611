"""Schemathesis, every check, against the OpenAPI document of every example the aiar server serves
(and of the DOCKER_LAYERS example's own server): no server errors, responses as documented, schema-
valid requests accepted and invalid ones refused.

One allowance, for ``/infer`` only: OIP's rule that a tensor's ``data`` holds as many elements as its
``shape`` multiplies out to cannot be said in JSON Schema, so a schema-valid request may rightly get
a 400 there (``positive_data_acceptance`` takes 400 on those routes; every other check is unchanged).
Not served: ``bundles/injection-model``, the seed's own example, whose training data is not in the
repository and whose pins do not install on Python 3.11 (README, "The seed's Injection Model").
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO
from tests.platform.proc import free_port
from tests.waiting import poll

from .bundles import ECHO_PREDICT, base_config, write_bundle
from .conftest import RunningServer

CONFIG = """
[[operations]]
include-path-regex = "/infer$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400"]
"""
DATASET = REPO / "bundles" / "datasets" / "quality_history.csv"
# example -> the dataset it trains on first (None: its model file is in the bundle)
EXAMPLES = {
    "quality-classifier": DATASET,
    "onnx-quality": None,
    "h2o-quality-gbm": None,
    "h2o-quality-trained": DATASET,
}


def schemathesis(document: str, url: str, workdir: Path, examples: int = 40) -> subprocess.CompletedProcess[str]:
    st = shutil.which("st", path=str(Path(sys.executable).parent)) or shutil.which("st")
    assert st, "schemathesis is not installed"
    config = workdir / "schemathesis.toml"
    config.write_text(CONFIG)
    return subprocess.run(
        [
            st,
            "--config-file",
            str(config),
            "run",
            document,
            "--url",
            url,
            "--checks",
            "all",
            "--max-examples",
            str(examples),
            "--generation-deterministic",
            "--request-timeout",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=workdir,
    )


def operations(document: dict[str, object]) -> int:
    paths = document["paths"]
    assert isinstance(paths, dict)
    return sum(len(methods) for methods in paths.values())


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """``aiar serve`` of an example (trained first when it trains), in this interpreter; its URL."""
    processes: list[subprocess.Popen[bytes]] = []

    def serve(example: str) -> str:
        port = free_port()
        dataset = EXAMPLES[example]
        script = textwrap.dedent(f"""
            import sys
            from pathlib import Path
            from generator.serve import serve_bundle
            sys.exit(serve_bundle(Path({str(REPO / "bundles" / example)!r}), env_file=None, port={port},
                                  python=Path(sys.executable), cache=Path({str(tmp_path / "cache")!r}),
                                  dataset={None if dataset is None else Path(dataset)!r}))
        """).replace("PosixPath", "Path")
        log = tmp_path / f"{example}.log"
        process = subprocess.Popen(
            [sys.executable, "-c", script],
            cwd=tmp_path,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        processes.append(process)
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            assert process.poll() is None, log.read_text()
            return httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200

        poll(f"aiar serve {example}", ready, timeout=300, retry_on=(httpx.HTTPError,))
        return url

    yield serve
    for process in processes:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.mark.slow
@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_every_example_holds_its_openapi(example: str, served: Callable[[str], str], tmp_path: Path) -> None:
    url = served(example)
    result = schemathesis(f"{url}/openapi.json", url, tmp_path)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert f"Tested: {operations(httpx.get(f'{url}/openapi.json').json())}" in result.stdout


def test_generated_openapi_holds(tmp_path: Path, start_server: Callable[..., RunningServer]) -> None:
    """Undeclared parameters (any JSON) and a declared one side by side."""
    src = write_bundle(tmp_path / "bundle", ECHO_PREDICT)
    config = base_config(src, slug="echo", parameters=("a", "b"))
    config["rest"]["parameters"][1]["tensor"] = {"datatype": "INT8", "shape": [-1, 2]}
    server = start_server(config)
    server.wait_ready()
    result = schemathesis(f"{server.url}/openapi.json", server.url, tmp_path, examples=60)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    document = httpx.get(f"{server.url}/openapi.json").json()
    assert operations(document) == 12  # the model's routes, also under /versions/1, and the server's
    assert f"Tested: {operations(document)}" in result.stdout


@pytest.mark.slow
def test_the_layers_example_holds_its_openapi(tmp_path: Path) -> None:
    """The DOCKER_LAYERS example's own server against the document its bundle publishes."""
    bundle = REPO / "bundles" / "greeting-service"
    port = free_port()
    log = tmp_path / "greeting.log"
    process = subprocess.Popen(
        [sys.executable, str(bundle / "app" / "server.py")],
        env={**os.environ, "PORT": str(port)},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=bundle,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        poll("the greeting service", lambda: httpx.get(f"{url}/health", timeout=2).status_code == 200,
             timeout=30, retry_on=(httpx.HTTPError,))  # fmt: skip
        result = schemathesis(str(bundle / "openapi.json"), url, tmp_path)
        assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    finally:
        process.terminate()
        process.wait(10)
