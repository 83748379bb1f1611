"""A DOCKER_LAYERS bundle on aiar's ``aiar-server`` layer, built on the local platform: the layer's
venv holds the server with its bytecode, and the image serves the bundle's ``predict.py`` with the
config ``aiar generate`` wrote, as the pods mount it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from generator.cli import main
from tests.helpers import minimal_manifest
from tests.platform.testenv import Platform

from .conftest import Compiled, assert_holds_bytecode, build_image, serving

pytestmark = pytest.mark.platform

SLUG = "tiny-model"
PREDICT = "def predict(model, x):\n    return {'twice': 2 * x}\n"
DOCKERFILE = "FROM aiar-server\nCOPY src /app/src\nUSER 10001:10001\n"


@pytest.fixture(scope="module")
def compiled(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Compiled:
    work = tmp_path_factory.mktemp("server-layer")
    manifest = minimal_manifest(modelData={"type": "DOCKER_LAYERS", "payload": {"layers": [{"name": "aiar-server"}]}})
    root = work / "bundle"
    for name, text in {
        "manifest.json": json.dumps(manifest),
        "Dockerfile": DOCKERFILE,
        "src/predict.py": PREDICT,
    }.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    env = work / "environment.yaml"
    shutil.copy(platform.env_file, env)  # no Java base needed here
    out = work / "out"
    args = ["generate", str(root), "--env", str(env), "--lock", str(work / "aiar.lock"), "--out", str(out)]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return Compiled(out, json.loads((out / "index.json").read_text()))


@pytest.fixture(scope="module")
def served(docker_client: Any, compiled: Compiled, platform: Platform) -> Iterator[tuple[str, Any]]:
    ref = build_image(docker_client, compiled, SLUG)
    with serving(docker_client, ref, environment=platform.runtime_credentials(), config=compiled.config(SLUG)) as up:
        yield up


def test_the_layer_serves_the_bundles_predict(served: tuple[str, Any]) -> None:
    url, _ = served
    with httpx.Client(base_url=url, timeout=30) as client:
        answer = client.post(f"/v2/models/{SLUG}/predict", json={"x": 21})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"twice": 42}


def test_the_layer_venv_holds_its_bytecode(docker_client: Any, served: tuple[str, Any]) -> None:
    _, container = served
    assert_holds_bytecode(docker_client, container.image.id, 500)  # starlette, uvicorn, pika, pydantic and their kin
