"""Stage 3: decide everything. A :class:`ModelPlan` holds every resolved default, name and topic.

Renderers only format what the plan says; nothing after this stage invents a value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from . import defaults
from .bundle import BundleSource
from .checks import environment_problems, uses_bus
from .environment import Environment, LoadedEnvironment
from .errors import ManifestError
from .load import LoadedBundle
from .manifest import (
    BusPrediction,
    BusTraining,
    DockerLayersModel,
    H2OModel,
    H2OPayload,
    HistoricDataTraining,
    Manifest,
    PythonModel,
    RestPrediction,
    slugify,
)
from .plan_cluster import ClusterPlan, plan_cluster
from .plan_layers import LayersPlan, plan_layers
from .runtime import config as rc

Role = Literal["predict", "train"]


@dataclass(frozen=True)
class ImagePlan:
    role: Role
    dockerfile: str
    """File name of the Dockerfile inside the model's build context."""
    repository: str
    """``registry/prefix/slug-role``; the tag is the build context's digest, known after rendering."""


@dataclass(frozen=True)
class JavaPlan:
    """An H2O model's image: the JRE copied from the environment's Java image beside the aiar server."""

    image: str
    home: str
    """Where ``image`` keeps the JRE."""
    jar_from_aiar: bool
    """The bundle gives a MOJO and no jar: aiar's own H2O bridge jar is shipped as its ``jarFile``."""


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
    trains_from_storage: bool
    """A training Job must run (and finish) before serving starts."""
    cluster: ClusterPlan
    """Namespace, resources, secrets, network peers, schedule and gateway: see :mod:`generator.plan_cluster`."""
    java: JavaPlan | None = None
    """H2O models only."""
    layers: LayersPlan | None = None
    """DOCKER_LAYERS models only: their image is the bundle's Dockerfile after the named layers."""

    def image(self, role: Role) -> ImagePlan | None:
        return next((i for i in self.images if i.role == role), None)


def _routing_keys(entries: object) -> tuple[str, ...]:
    keys: list[str] = []
    for entry in entries:  # type: ignore[attr-defined]
        keys.extend(k.name for k in entry.payload.routingKeys if k.name not in keys)
    return tuple(keys)


def _requirement(name: str, version: str) -> str:
    version = version.strip()
    return f"{name}{version}" if version[:1] in "=<>!~" else f"{name}=={version}"


def plan_requirements(m: Manifest) -> tuple[str, ...]:
    """The manifest's pins as pip requirements (``name==version``, or its own specifier), in its order."""
    dependencies = m.modelData.payload.dependencies if isinstance(m.modelData, PythonModel) else []
    return tuple(_requirement(d.name, d.version) for d in dependencies)


def _server_config(
    slug: str, version: int, loaded: LoadedBundle, env: Environment, local: bool = False
) -> rc.ServerConfig:
    """``local``: for ``aiar serve``, where a missing bus is simply not used and storage is a directory."""
    m = loaded.manifest
    rest = next((p for p in m.input.prediction if isinstance(p, RestPrediction)), None)
    bus_in = [p for p in m.input.prediction if isinstance(p, BusPrediction)]
    historic = next((t for t in m.input.training if isinstance(t, HistoricDataTraining)), None)
    bus_train = [t for t in m.input.training if isinstance(t, BusTraining)]
    # What the environment must provide was checked before planning (checks.environment_problems).

    payload = m.modelData.payload
    model_file = getattr(payload, "modelFile", None)
    bus = env.message_bus
    storage = env.storage
    training = None
    if m.input.training:
        training = rc.TrainingConfig(
            historic=None
            if historic is None
            else rc.HistoricTraining(
                data_source=historic.payload.dataSource,
                file_name=historic.payload.fileName,
                dataset_key=defaults.dataset_key(historic.payload.fileName),
            ),
            bus=None
            if not bus_train
            else rc.BusTraining(
                input_keys=_routing_keys(bus_train),
                queue=defaults.queue_name(slug, "train"),
                buffer=bus_train[0].payload.buffer,
                online=any(t.payload.online for t in bus_train),
            ),
            output_keys=_routing_keys(m.output.training),
            hyperparameters=dict(payload.hyperparameters),
        )
    return rc.ServerConfig(
        model=rc.ModelInfo(
            name=m.name,
            slug=slug,
            version=version,
            type=m.modelData.type,
            description=m.description,
            tags=m.tags,
        ),
        model_file=model_file,
        model_key=None if model_file is None or storage is None else defaults.model_key(slug, version, model_file),
        rest=None
        if rest is None
        else rc.RestConfig(
            parameters=tuple(
                rc.Parameter(name=p.name, position=p.position, description=p.description)
                for p in sorted(rest.payload.parameters, key=lambda p: p.position)
            ),
            port=defaults.HTTP_PORT,
        ),
        message_bus=None
        if bus is None or not uses_bus(loaded)
        else rc.BusConnection(host=bus.host, port=bus.port, vhost=bus.vhost),
        prediction_bus=None
        if not bus_in
        else rc.PredictionBus(
            input_keys=_routing_keys(bus_in),
            output_keys=_routing_keys(m.output.prediction),
            queue=defaults.queue_name(slug, "predict"),
            dead_letter_queue=defaults.queue_name(slug, "predict.dead"),
            prefetch=defaults.BUS_PREFETCH,
            max_retries=defaults.BUS_MAX_RETRIES,
        ),
        training=training,
        storage=None
        if storage is None
        else rc.StorageConfig(endpoint_url=storage.endpoint, bucket=storage.bucket, region=storage.region),
        data_processor=None
        if env.data_processor is None
        else rc.DataProcessor(url=env.data_processor.url, timeout_s=env.data_processor.timeout_s),
        jvm=rc.JvmConfig(
            jar=payload.jarFile,
            options=defaults.JVM_OPTIONS,
            train_jar=defaults.H2O_TRAIN_JAR if training else None,
            train_options=defaults.JVM_TRAIN_OPTIONS if training else (),
            train_timeout_s=float(defaults.TRAINING_DEADLINE_S),
        )
        if isinstance(payload, H2OPayload)
        else None,
    )


def _images(slug: str, m: Manifest, env: Environment) -> tuple[ImagePlan, ...]:
    base = f"{env.registry.url}/{env.registry.repository_prefix}/{slug}"
    images = [ImagePlan("predict", "Dockerfile.predict", f"{base}-predict")]
    if any(isinstance(t, HistoricDataTraining) for t in m.input.training):
        images.append(ImagePlan("train", "Dockerfile.train", f"{base}-train"))
    return tuple(images)


def _java(loaded: LoadedBundle, environment: LoadedEnvironment) -> JavaPlan | None:
    data = loaded.manifest.modelData
    if not isinstance(data, H2OModel):
        return None
    images = environment.env.base_images
    assert images.java is not None  # checked by environment_problems
    jar_in_bundle = f"src/{data.payload.jarFile}" in loaded.source.names()
    return JavaPlan(image=images.java, home=images.java_home, jar_from_aiar=not jar_in_bundle)


def plan_model(loaded: LoadedBundle, version: int, environment: LoadedEnvironment) -> ModelPlan:
    m = loaded.manifest
    env = environment.env
    problems = environment_problems(loaded, environment)
    if problems:
        raise ManifestError(problems)
    layers = plan_layers(loaded, environment) if isinstance(m.modelData, DockerLayersModel) else None
    slug = slugify(m.name)
    server = _server_config(slug, version, loaded, env)
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
        requirements=plan_requirements(m),
        trains_from_storage=any(isinstance(t, HistoricDataTraining) for t in m.input.training),
        cluster=plan_cluster(slug, loaded, env, server, layers.routes if layers else ()),
        java=_java(loaded, environment),
        layers=layers,
    )


@dataclass(frozen=True)
class LocalPlan:
    """What ``aiar serve`` needs: the model server's config and the pins its venv installs."""

    server: rc.ServerConfig
    requirements: tuple[str, ...]


def plan_local(loaded: LoadedBundle, version: int, environment: LoadedEnvironment) -> LocalPlan:
    return LocalPlan(plan_server(loaded, version, environment), plan_requirements(loaded.manifest))


def plan_server(loaded: LoadedBundle, version: int, environment: LoadedEnvironment) -> rc.ServerConfig:
    """Only the model server's config (``aiar serve``): no cluster, so no schedule or Wazuh requirements."""
    m = loaded.manifest
    if isinstance(m.modelData, DockerLayersModel):
        raise ManifestError(
            [loaded.problem("/modelData/type", "a DOCKER_LAYERS model runs from its own image; build it with apply")]
        )
    return _server_config(slugify(m.name), version, loaded, environment.env, local=True)
