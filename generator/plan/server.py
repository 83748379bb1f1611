"""The model server's config (:class:`generator.runtime.config.ServerConfig`), one part per concern.

The REST inputs, the bus (its connection and the prediction queues), training, storage and the data
processor are the same for every type; the JVM part is the H2O type's (:mod:`generator.kinds.h2o`)
and arrives decided. What the environment must provide was checked before (:mod:`.checks`).
"""

from __future__ import annotations

from .. import defaults
from ..environment import Environment
from ..load import LoadedBundle
from ..manifest import BusOutput, BusPrediction, BusTraining, HistoricDataTraining, Manifest, RestPrediction
from ..runtime import config as rc
from .checks import uses_bus


def _routing_keys(entries: list[BusPrediction] | list[BusTraining] | list[BusOutput]) -> tuple[str, ...]:
    keys: list[str] = []
    for entry in entries:
        keys.extend(k.name for k in entry.payload.routingKeys if k.name not in keys)
    return tuple(keys)


def _model(slug: str, version: int, m: Manifest) -> rc.ModelInfo:
    return rc.ModelInfo(
        name=m.name, slug=slug, version=version, type=m.modelData.type, description=m.description, tags=m.tags
    )


def _rest(m: Manifest) -> rc.RestConfig | None:
    rest = next((p for p in m.input.prediction if isinstance(p, RestPrediction)), None)
    if rest is None:
        return None
    parameters = sorted(rest.payload.parameters, key=lambda p: p.position)
    return rc.RestConfig(
        parameters=tuple(rc.Parameter(name=p.name, position=p.position, description=p.description) for p in parameters),
        port=defaults.HTTP_PORT,
    )


def _bus_connection(loaded: LoadedBundle, env: Environment) -> rc.BusConnection | None:
    bus = env.message_bus
    if bus is None or not uses_bus(loaded):
        return None
    return rc.BusConnection(host=bus.host, port=bus.port, vhost=bus.vhost)


def _prediction_bus(slug: str, m: Manifest) -> rc.PredictionBus | None:
    bus_in = [p for p in m.input.prediction if isinstance(p, BusPrediction)]
    if not bus_in:
        return None
    return rc.PredictionBus(
        input_keys=_routing_keys(bus_in),
        output_keys=_routing_keys(m.output.prediction),
        queue=defaults.queue_name(slug, "predict"),
        dead_letter_queue=defaults.queue_name(slug, "predict.dead"),
        prefetch=defaults.BUS_PREFETCH,
        max_retries=defaults.BUS_MAX_RETRIES,
    )


def _training(slug: str, m: Manifest) -> rc.TrainingConfig | None:
    if not m.input.training:
        return None
    historic = next((t for t in m.input.training if isinstance(t, HistoricDataTraining)), None)
    bus_train = [t for t in m.input.training if isinstance(t, BusTraining)]
    return rc.TrainingConfig(
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
        hyperparameters=dict(m.modelData.payload.hyperparameters),
    )


def server_config(
    slug: str, version: int, loaded: LoadedBundle, env: Environment, jvm: rc.JvmConfig | None
) -> rc.ServerConfig:
    m = loaded.manifest
    model_file: str | None = getattr(m.modelData.payload, "modelFile", None)
    storage = env.storage
    return rc.ServerConfig(
        model=_model(slug, version, m),
        model_file=model_file,
        model_key=None if model_file is None or storage is None else defaults.model_key(slug, version, model_file),
        rest=_rest(m),
        message_bus=_bus_connection(loaded, env),
        prediction_bus=_prediction_bus(slug, m),
        training=_training(slug, m),
        storage=None
        if storage is None
        else rc.StorageConfig(endpoint_url=storage.endpoint, bucket=storage.bucket, region=storage.region),
        data_processor=None
        if env.data_processor is None
        else rc.DataProcessor(url=env.data_processor.url, timeout_s=env.data_processor.timeout_s),
        jvm=jvm,
        drift=_drift(m),
    )


def _drift(m: Manifest) -> rc.DriftConfig | None:
    """Input drift of the REST parameters, when the manifest asks (checked: it has some)."""
    rest = _rest(m)
    if m.monitoring is None or not m.monitoring.drift or rest is None:
        return None
    return rc.DriftConfig(inputs=tuple(p.name for p in rest.parameters))
