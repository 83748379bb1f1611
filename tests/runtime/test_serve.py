"""``aiar serve``: a bundle served locally from its directory, and the cached venv."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from generator.runtime.config import ServerConfig
from generator.serve import ensure_venv, local_config, venv_key
from tests.platform.proc import free_port
from tests.waiting import poll

from .bundles import IRIS_PREDICT, base_config, iris, iris_model, write_bundle
from .conftest import REPO
from .test_processes import _children

MANIFEST = {
    "name": "Iris",
    "description": "iris species",
    "tags": ["test"],
    "version": 1,
    "input": {
        "prediction": [
            {
                "type": "REST_API",
                "payload": {
                    "parameters": [{"position": 1, "name": "features", "description": "rows of four measurements"}]
                },
            }
        ]
    },
    "modelData": {"type": "PYTHON", "payload": {"dependencies": [], "modelFile": "model.pkl"}},
}


@pytest.mark.parametrize("processes", [1, 2])
def test_serve_bundle_from_a_directory(tmp_path: Path, processes: int) -> None:
    bundle = tmp_path / "iris"
    write_bundle(bundle, IRIS_PREDICT)
    (bundle / "manifest.json").write_text(json.dumps(MANIFEST))
    model = iris_model(bundle / "model.pkl")
    port = free_port()
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from generator.serve import serve_bundle
        sys.exit(serve_bundle(Path({str(bundle)!r}), env_file=None, port={port}, processes={processes},
                              python=Path(sys.executable), cache=Path({str(tmp_path / "cache")!r})))
    """)
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert process.poll() is None, (tmp_path / "serve.log").read_text()
        return httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200

    try:
        poll("aiar serve", ready, timeout=60, retry_on=(httpx.HTTPError,))
        rows = iris()[0][:3].tolist()
        answer = httpx.post(f"{url}/v2/models/iris/predict", json={"features": rows})
        assert answer.json() == model.predict(rows).tolist()
        (server,) = _children(process.pid)
        assert len(_children(server)) == (processes if processes > 1 else 0)  # a supervisor's server processes
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C: the server is stopped with it
        assert process.wait(30) == 0
    printed = (tmp_path / "serve.log").read_text()
    assert f"POST {url}/v2/models/iris/predict" in printed


def test_local_config_uses_local_storage(tmp_path: Path) -> None:
    config = ServerConfig.model_validate(base_config(Path("/app/src"), model_file="m.pkl"))
    local = local_config(config, tmp_path / "bundle", tmp_path / "storage")
    assert local.code.src_dir == str(tmp_path / "bundle" / "src")
    assert local.storage is not None
    assert local.storage.local_dir == str(tmp_path / "storage")
    assert local.model_key == "models/iris/1/m.pkl"


def test_venv_is_cached_by_requirements(tmp_path: Path) -> None:
    python = ensure_venv([], tmp_path)
    assert python.is_file()
    assert python.parent.parent.name == venv_key([])
    marker = python.parent.parent / ".aiar-complete"
    stamp = marker.stat().st_mtime_ns
    assert ensure_venv([], tmp_path) == python
    assert marker.stat().st_mtime_ns == stamp
    assert venv_key(["a==1", "b==2"]) == venv_key(["b==2", "a==1"]) != venv_key(["a==1"])


def test_range_pins_reach_pip_as_written(tmp_path: Path) -> None:
    """A manifest pin that is a range (``>=1.16,<2``) is installed as that range, not ``==>=1.16,<2``."""
    from generator.pipeline import local_plan_for

    manifest = json.loads(json.dumps(MANIFEST))
    manifest["modelData"]["payload"]["dependencies"] = [
        {"name": "six", "version": ">=1.16,<2"},
        {"name": "packaging", "version": "24.2"},
    ]
    bundle = tmp_path / "bundle"
    (bundle / "src").mkdir(parents=True)
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    (bundle / "src" / "predict.py").write_text("def predict(model, features):\n    return features\n")
    plan = local_plan_for(bundle, None)
    assert plan.requirements == ("six>=1.16,<2", "packaging==24.2")
    python = ensure_venv(list(plan.requirements), tmp_path / "cache")  # real pip, against the package index
    version = subprocess.run(
        [str(python), "-c", "import six, packaging; print(six.__version__, packaging.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert version[0].startswith("1.")
    assert version[1] == "24.2"
