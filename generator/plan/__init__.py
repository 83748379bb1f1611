"""Stage 3: decide everything. A :class:`ModelPlan` holds every resolved default, name and topic.

:func:`plan_model` runs the checks step (:mod:`.checks`), then asks the model's type for its part
(:mod:`generator.kinds`) and decides the rest: the server config (:mod:`.server`) and the cluster
(:mod:`.cluster`). Renderers only format what the plan says; nothing after this stage invents a value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..assets import runtime_requirements
from ..bundle import BundleSource
from ..environment import Environment, LoadedEnvironment
from ..errors import ManifestError, Problem
from ..kinds import kind_of
from ..kinds.docker_layers import LayersPlan
from ..kinds.h2o import JavaPlan
from ..load import LoadedBundle
from ..manifest import HistoricDataTraining, Manifest, slugify
from ..reqlock import NO_LOCK, LoadedRequirementsLock, LockedRequirements, locked_for
from ..runtime import config as rc
from .checks import check_bundle
from .cluster import ClusterPlan, plan_cluster
from .server import runtime_extras, server_config

Role = Literal["predict", "train"]


@dataclass(frozen=True)
class ImagePlan:
    role: Role
    dockerfile: str
    """File name of the Dockerfile inside the model's build context."""
    repository: str
    """``registry/prefix/slug-role``; the tag is the build context's digest, known after rendering."""


@dataclass(frozen=True)
class ModelPlan:
    slug: str
    version: int
    manifest: Manifest
    source: BundleSource
    source_digest: str
    env: Environment
    ca_bundle: bytes | None
    server: rc.ServerConfig
    images: tuple[ImagePlan, ...]
    requirements: tuple[str, ...]
    """The manifest's pins, as ``name==version`` (or its own specifier), in the manifest's order."""
    runtime_extras: tuple[str, ...]
    """The model server's optional pins this model needs (see :func:`.server.runtime_extras`)."""
    trains_from_storage: bool
    """A training Job must run (and finish) before serving starts."""
    cluster: ClusterPlan
    """Namespace, resources, secrets, network peers, schedule and gateway: see :mod:`generator.plan.cluster`."""
    java: JavaPlan | None = None
    """H2O models only."""
    layers: LayersPlan | None = None
    """DOCKER_LAYERS models only: their image is the bundle's Dockerfile after the named layers."""
    locked: LockedRequirements | None = None
    """The exact wheels ``aiar lock`` resolved for the model's requirements (and the model server's);
    None when not locked: the image installs from the pins (see :mod:`generator.reqlock`)."""

    def image(self, role: Role) -> ImagePlan | None:
        return next((i for i in self.images if i.role == role), None)


def _trains_from_storage(m: Manifest) -> bool:
    return any(isinstance(t, HistoricDataTraining) for t in m.input.training)


def _images(slug: str, m: Manifest, env: Environment) -> tuple[ImagePlan, ...]:
    base = f"{env.registry.url}/{env.registry.repository_prefix}/{slug}"
    images = [ImagePlan("predict", "Dockerfile.predict", f"{base}-predict")]
    if _trains_from_storage(m):
        images.append(ImagePlan("train", "Dockerfile.train", f"{base}-train"))
    return tuple(images)


def image_requirements(requirements: tuple[str, ...], extras: tuple[str, ...]) -> tuple[str, ...]:
    """What a model's image installs (what ``aiar lock`` resolves for it): the manifest's pins, the model
    server's, then the server's optional pins this model needs (``runtime_extras``)."""
    return (*requirements, *runtime_requirements(), *extras)


def plan_model(
    loaded: LoadedBundle,
    version: int,
    environment: LoadedEnvironment,
    requirements_lock: LoadedRequirementsLock = NO_LOCK,
) -> ModelPlan:
    problems = check_bundle(loaded, environment)
    if problems:
        raise ManifestError(problems)
    m, env = loaded.manifest, environment.env
    kind = kind_of(m)
    part = kind.plan(loaded, environment)
    slug = slugify(m.name)
    server = server_config(slug, version, loaded, env, part)
    extras = runtime_extras(server)
    locked = None
    if not kind.own_server:
        wanted = image_requirements(part.requirements, extras)
        found = locked_for(requirements_lock, slug, wanted, env.base_images.python)
        if isinstance(found, Problem):
            raise ManifestError([found])
        locked = found
    routes = part.layers.routes if part.layers else ()
    return ModelPlan(
        slug=slug,
        version=version,
        manifest=m,
        source=loaded.source,
        source_digest=loaded.source.digest(),
        env=env,
        ca_bundle=environment.ca_bundle,
        server=server,
        images=_images(slug, m, env),
        requirements=part.requirements,
        runtime_extras=extras,
        trains_from_storage=_trains_from_storage(m),
        cluster=plan_cluster(slug, loaded, env, server, own_server=kind.own_server, api_routes=routes),
        java=part.java,
        layers=part.layers,
        locked=locked,
    )


@dataclass(frozen=True)
class LocalPlan:
    """What ``aiar serve`` needs: the model server's config and the pins its venv installs."""

    server: rc.ServerConfig
    requirements: tuple[str, ...]
    runtime_extras: tuple[str, ...] = ()


def plan_local(loaded: LoadedBundle, version: int, environment: LoadedEnvironment) -> LocalPlan:
    """Only the model server (``aiar serve``): no cluster, so no checks of what a cluster needs."""
    m = loaded.manifest
    kind = kind_of(m)
    if kind.own_server:
        raise ManifestError(
            [loaded.problem("/modelData/type", f"a {kind.type} model runs from its own image; build it with apply")]
        )
    part = kind.plan(loaded, environment)
    server = server_config(slugify(m.name), version, loaded, environment.env, part)
    return LocalPlan(server, part.requirements, runtime_extras(server))
