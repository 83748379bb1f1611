"""A harness for apply-stage tests on the real local platform: bundles, generate, run aiar, look."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from generator.apply.kube import Kube, connect
from generator.cli import main
from generator.pipeline import generate
from tests.helpers import minimal_manifest
from tests.platform.testenv import Platform
from tests.waiting import poll

KINDS = (
    ("v1", "ConfigMap"),
    ("v1", "ServiceAccount"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("batch/v1", "Job"),
    ("apps/v1", "Deployment"),
    ("v1", "Service"),
    ("batch/v1", "CronJob"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
)

PREDICT = "def predict(model, x):\n    return {'x': x, 'model': model is not None}\n"
TRAIN = (
    "def train(dataset, hyperparameters, model_path):\n"
    "    open(model_path, 'w').write('trained')\n"
    "    return {'rows': 1}\n"
)


SESSION = uuid.uuid4().hex
DATASET = "data.csv"
"""The HISTORIC_DATA file of training test bundles (uploaded by the ``datasets`` fixture)."""


def small_bundle(
    root: Path, name: str, *, training: bool = False, code: str = PREDICT, dependencies: Iterable[dict[str, str]] = ()
) -> Path:
    """A PYTHON bundle with no dependencies of its own: builds share the cached runtime venv layer."""
    manifest = minimal_manifest(name=name, description=f"{name}, a test model")
    manifest["modelData"]["payload"]["dependencies"] = list(dependencies)
    # Unique per test session: image tags derive from content, and the platform's registry outlives a
    # session; without this a later run would find its images already pushed and build nothing.
    files = {"src/predict.py": f"{code}\n# test session {SESSION}\n"}
    if training:
        manifest["input"]["training"] = [
            {"type": "HISTORIC_DATA", "payload": {"dataSource": "STORAGE", "fileName": DATASET}}
        ]
        manifest["modelData"]["payload"]["modelFile"] = "model.txt"
        files["src/train.py"] = TRAIN
    bundle = root / name.lower().replace(" ", "-")
    for rel, text in {**files, "manifest.json": json.dumps(manifest, indent=2)}.items():
        (bundle / rel).parent.mkdir(parents=True, exist_ok=True)
        (bundle / rel).write_text(text, encoding="utf-8")
    return bundle


@dataclass
class Stage:
    platform: Platform
    env_file: Path
    workdir: Path
    kube: Kube = field(init=False)

    def __post_init__(self) -> None:
        self.kube = connect(self.platform.kubeconfig)

    @property
    def environ(self) -> dict[str, str]:
        return {**os.environ, **self.platform.env()}

    @property
    def namespace(self) -> str:
        return self.platform.namespace

    def generate(self, bundles: Iterable[Path], out: Path, lock: Path | None = None) -> Path:
        generate(list(bundles), self.env_file, lock or self.workdir / "aiar.lock", out)
        return out

    def aiar(self, *args: str | Path) -> Result:
        """Run the CLI in-process (the platform's variables set for the call)."""
        runner = CliRunner()
        return runner.invoke(main, [str(a) for a in args], env=self.platform.env(), catch_exceptions=False)

    def apply(self, out: Path, *extra: str) -> dict[str, Any]:
        result = self.aiar("apply", "--out", out, "--env", self.env_file, "--timeout", "120", "-o", "json", *extra)
        assert result.exit_code == 0, result.stdout + result.stderr
        report: dict[str, Any] = json.loads(result.stdout)
        return report

    def plan(self, out: Path) -> tuple[int, dict[str, Any]]:
        result = self.aiar("plan", "--out", out, "--env", self.env_file, "-o", "json")
        assert result.exit_code in (0, 2), result.stdout + result.stderr
        return result.exit_code, json.loads(result.stdout)

    def spawn(self, *args: str | Path) -> Spawned:
        """The CLI as a real process in its own process group, for tests that kill it."""
        return Spawned(
            subprocess.Popen(
                [sys.executable, "-m", "generator.cli", *(str(a) for a in args)],
                env=self.environ,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    def objects(self) -> dict[str, dict[str, Any]]:
        """Every object of the kinds aiar renders in the namespace, by ``Kind/name``."""
        found = {}
        for api_version, kind in KINDS:
            for item in self.kube.list(self.kube.resource(api_version, kind), self.namespace, ""):
                found[f"{kind}/{item['metadata']['name']}"] = item
        return found

    def versions(self) -> dict[str, str]:
        return {k: v["metadata"]["resourceVersion"] for k, v in self.objects().items()}

    def destroy(self, out: Path) -> None:
        result = self.aiar("destroy", "--out", out, "--env", self.env_file)
        assert result.exit_code == 0, result.stdout + result.stderr


class Spawned:
    """A CLI process whose output lines are collected as they come (for kill points)."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            self.lines.append(raw.decode(errors="replace"))

    def saw(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def kill_when(self, ready: Callable[[], bool], delay: float = 0.0, timeout: float = 300) -> None:
        """SIGKILL the process group as soon as ``ready()`` holds (plus ``delay``); fail if it ends first."""

        def reached() -> bool:
            if ready():
                return True
            if self.process.poll() is not None:
                self._reader.join(5)
                raise AssertionError(
                    f"apply ended (exit {self.process.returncode}) before the kill point:\n" + "".join(self.lines)
                )
            return False

        poll("the kill point", reached, timeout=timeout, interval=0.02, diagnostics=lambda: "".join(self.lines))
        time.sleep(delay)
        assert self.process.poll() is None, "apply ended before the kill:\n" + "".join(self.lines)
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self._reader.join(5)
