"""What every apply-stage command starts from: a checked ``out/``, its environment, and clients."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..contract import STOPPED_BY_ANNOTATION
from ..environment import Environment, load_environment
from . import fail
from .images import Credentials, Images, RegistryClient, docker_client
from .kube import Kube, connect
from .outdir import ObjectKey, OutDir, read_out
from .progress import Progress
from .replicas import scheduled_replicas, with_replicas


@dataclass
class Session:
    out: OutDir
    env: Environment
    progress: Progress
    kube_factory: Callable[[], Kube]
    docker_factory: Callable[[], Any] = docker_client
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    """Apply may read the clock (generate may not): a scheduled model starts with the replicas its
    schedule gives it now."""
    _kube: Kube | None = field(default=None, repr=False)
    _images: Images | None = field(default=None, repr=False)

    @property
    def kube(self) -> Kube:
        if self._kube is None:
            self._kube = self.kube_factory()
        return self._kube

    def bodies(self, live: Mapping[ObjectKey, Mapping[str, Any]]) -> dict[ObjectKey, dict[str, Any]]:
        """What apply sends for each object of out/: its body, with a scheduled Deployment's replicas
        for now, and 0 for a Deployment a person stopped (``aiar stop``) until it is started."""
        replicas = scheduled_replicas(self.out.objects, self.clock())
        for obj in self.out.objects:
            annotations = ((live.get(obj.key) or {}).get("metadata") or {}).get("annotations") or {}
            if obj.kind == "Deployment" and annotations.get(STOPPED_BY_ANNOTATION):
                replicas[obj.key.name] = 0
        return {o.key: with_replicas(o, replicas) for o in self.out.objects}

    @property
    def images(self) -> Images:
        if self._images is None:
            credentials = Credentials.from_env(self.env.registry)
            registry = RegistryClient(self.env.registry, credentials)
            self._images = Images(self.env, registry, credentials, self.docker_factory)
        return self._images


def open_session(
    out_dir: Path,
    env_file: Path,
    progress: Progress,
    kubeconfig: Path | None = None,
    context: str | None = None,
    models: Sequence[str] = (),
) -> Session:
    """Check ``out/`` and that it was generated from this very environment file; ``models`` narrows
    the session to those models (all when empty)."""
    out = read_out(out_dir)
    if models:
        out = out.select(models)
    loaded = load_environment(env_file)
    if loaded.digest != out.environment_digest:
        raise fail(
            str(env_file),
            f"is not the environment {out_dir} was generated with; run `aiar generate --env {env_file}` first",
        )
    return Session(out, loaded.env, progress, lambda: connect(kubeconfig, context))
