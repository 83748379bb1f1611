"""``aiar serve BUNDLE``: run a bundle's model server locally, with no cluster and no image.

The server runs in a venv built from the bundle's dependencies plus the runtime's own, cached
outside the bundle by the hash of those requirements, so the second start is instant. Storage is a
local directory unless the environment file configures S3; a message bus is used only when the
environment file names one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from . import defaults
from .assets import h2o_jar_path, runtime_archive
from .bundle import read_bundle
from .pipeline import local_plan_for
from .plan import image_requirements
from .runtime.config import CodeLayout, ServerConfig, StorageConfig

PACKAGE = defaults.RUNTIME_PACKAGE


class ServeError(RuntimeError):
    """Something the user can fix: reported as one line on stderr by the CLI, exit 1."""


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aiar"


def venv_key(requirements: Sequence[str]) -> str:
    identity = "\n".join([sys.version, *sorted(requirements)])
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


def ensure_venv(requirements: Sequence[str], cache: Path) -> Path:
    """The venv's python for these requirements, built once; a half-built venv is rebuilt."""
    venv = cache / "venvs" / venv_key(requirements)
    python = venv / "bin" / "python"
    done = venv / ".aiar-complete"
    if done.is_file():
        return python
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    print(f"building the venv {venv} ...", file=sys.stderr)
    # a fixed argv, no shell: its parts come from the environment file or out/
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # noqa: S603
    if requirements:
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
            f.write("\n".join(requirements) + "\n")
        try:
            # a fixed argv, no shell: its parts come from the environment file or out/
            result = subprocess.run(  # noqa: S603
                [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", f.name]
            )
        finally:
            os.unlink(f.name)
        if result.returncode != 0:
            raise ServeError(f"pip could not install the bundle's requirements into {venv}")
    done.write_text("\n".join(requirements) + "\n")
    return python


def install_runtime(cache: Path) -> Path:
    """The runtime archive the images import ``aiar_runtime`` from, keyed by its content: a ``PYTHONPATH`` entry."""
    archive = runtime_archive()
    path = cache / "runtime" / f"{hashlib.sha256(archive).hexdigest()[:16]}.zip"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as staging:
            staging.write(archive)
        os.replace(staging.name, path)  # whole or absent, even with another `aiar serve` beside
    return path


def local_config(config: ServerConfig, bundle_dir: Path, storage_dir: Path) -> ServerConfig:
    """The bundle's config made to run here: its own src/, and local storage when there is no S3."""
    update: dict[str, object] = {
        "code": CodeLayout(
            src_dir=str(bundle_dir / "src"),
            predict_module=config.code.predict_module,
            train_module=config.code.train_module,
        )
    }
    if config.jvm is not None and not (bundle_dir / "src" / config.jvm.jar).is_file():
        # a MOJO without a jar: aiar's own bridge jar scores it, as in the image
        update["jvm"] = config.jvm.model_copy(update={"jar": str(h2o_jar_path())})
    if config.storage is None:
        update["storage"] = StorageConfig(endpoint_url="", bucket="", local_dir=str(storage_dir))
        if config.model_file and config.model_key is None:
            update["model_key"] = defaults.model_key(config.model.slug, config.model.version, config.model_file)
    return config.model_copy(update=update)


def _bundle_dir(bundle: Path, scratch: Path) -> Path:
    """A directory with the bundle's files: the bundle itself, or a ZIP's (already vetted) content."""
    if bundle.is_dir():
        return bundle.resolve()
    target = scratch / "bundle"
    for name, data in read_bundle(bundle).files:
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return target


def _train_first(
    config: ServerConfig, config_path: Path, dataset: Path, python: Path, env: dict[str, str], cwd: Path
) -> None:
    """Put ``dataset`` where the HISTORIC_DATA input expects it, then run the training once."""
    historic = config.training.historic if config.training else None
    if historic is None or config.storage is None:
        raise ServeError("--dataset needs a manifest with HISTORIC_DATA training input")
    if not dataset.is_file():
        raise ServeError(f"--dataset {dataset}: no such file")
    if config.storage.local_dir is None:
        raise ServeError("--dataset works with local storage only; upload it to the S3 bucket instead")
    target = Path(config.storage.local_dir) / historic.dataset_key
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(dataset, target)
    print(f"training {config.model.name} on {dataset} ...", file=sys.stderr)
    command = [str(python), "-m", PACKAGE, "train", "--config", str(config_path), "--historic-only"]
    # a fixed argv, no shell: its parts come from the environment file or out/
    if subprocess.run(command, env=env, cwd=cwd).returncode != 0:  # noqa: S603
        raise ServeError("training failed (its log is above)")


def urls(config: ServerConfig, host: str, port: int) -> list[str]:
    base = f"http://{host}:{port}"
    slug = config.model.slug
    lines = [
        f"predict  POST {base}/v2/models/{slug}/predict",
        f"OIP v2   POST {base}/v2/models/{slug}/infer",
        f"ready    GET  {base}/v2/health/ready",
        f"openapi  GET  {base}/openapi.json",
        f"metrics  GET  {base}/metrics",
    ]
    if config.message_bus and config.prediction_bus:
        bus = config.prediction_bus
        lines.append(
            f"bus      {config.message_bus.host}:{config.message_bus.port} "
            f"{' '.join(bus.input_keys)} -> {' '.join(bus.output_keys)}"
        )
    return lines


def serve_bundle(
    bundle: Path,
    *,
    env_file: Path | None,
    host: str = "127.0.0.1",
    port: int = 8080,
    python: Path | None = None,
    cache: Path | None = None,
    dataset: Path | None = None,
    processes: int = 1,
) -> int:
    """Run the bundle's model server until interrupted; returns its exit code.

    ``python`` skips the venv (tests use the current interpreter); ``cache`` defaults to
    ``~/.cache/aiar`` (venvs, the runtime package, local storage). ``dataset`` is the file that the
    manifest's HISTORIC_DATA input names: it is put in storage and the model trained from it first,
    as the training Job would in a cluster. ``processes`` > 1 runs that many server processes on
    the port (the runtime's ``--processes``).
    """
    cache = cache or cache_root()
    cache.mkdir(parents=True, exist_ok=True)
    plan = local_plan_for(bundle, env_file)  # validates the bundle (and a ZIP) first
    config = plan.server
    with tempfile.TemporaryDirectory(prefix="aiar-serve-") as tmp:
        scratch = Path(tmp)
        bundle_dir = _bundle_dir(bundle, scratch)
        config = local_config(config, bundle_dir, cache / "storage")
        if python is None:
            requirements = list(image_requirements(plan.requirements, plan.runtime_extras))
            python = ensure_venv(requirements, cache)
        config_path = scratch / "model-server.json"
        config_path.write_text(config.model_dump_json(indent=2), encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": str(install_runtime(cache)), "AIAR_MODEL_DIR": str(scratch / "models")}
        if dataset is not None:
            _train_first(config, config_path, dataset, python, env, bundle_dir)
        command = [
            str(python),
            "-m",
            PACKAGE,
            "serve",
            "--config",
            str(config_path),
            "--host",
            host,
            "--port",
            str(port),
            "--processes",
            str(processes),
        ]
        # a fixed argv, no shell: its parts come from the environment file or out/
        process = subprocess.Popen(command, env=env, cwd=bundle_dir)  # noqa: S603
        # A SIGTERM to `aiar serve` (a supervisor, `kill`, a Makefile trap) must stop the server too,
        # not orphan it: pass it on and let the wait below return.
        signal.signal(signal.SIGTERM, lambda signum, frame: process.terminate())
        print(f"serving {config.model.name} (version {config.model.version}):", file=sys.stderr)
        for line in urls(config, host, port):
            print(f"  {line}", file=sys.stderr)
        try:
            code = process.wait()
        except KeyboardInterrupt:  # Ctrl-C: a requested stop, not a failure
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            return 0
        # uvicorn re-raises the signal that stopped it: report it the shell's way, 128 + signal.
        return 128 - code if code < 0 else code
