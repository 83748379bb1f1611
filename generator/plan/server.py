"""The model server's config (:class:`generator.runtime.config.ServerConfig`), one part per concern.

The REST inputs (here), the bus (:mod:`.bus`: its connection and the prediction queues), training
(:mod:`.training`), storage and the data processor are the same for every type; the model file and the
JVM part (H2O) are the type's own and arrive decided in its :class:`~generator.kinds.KindPlan`. What the
environment must provide was checked before (:mod:`.checks`).
"""

from __future__ import annotations

from .. import defaults
from ..environment import Environment
from ..kinds import KindPlan
from ..load import LoadedBundle
from ..manifest import Manifest, RestPrediction
from ..runtime import config as rc
from .bus import bus_connection, prediction_bus
from .training import training_config


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


def server_config(slug: str, version: int, loaded: LoadedBundle, env: Environment, part: KindPlan) -> rc.ServerConfig:
    m, model_file = loaded.manifest, part.model_file
    storage = env.storage
    return rc.ServerConfig(
        model=_model(slug, version, m),
        model_file=model_file,
        model_key=None if model_file is None or storage is None else defaults.model_key(slug, version, model_file),
        rest=_rest(m),
        message_bus=bus_connection(loaded, env),
        prediction_bus=prediction_bus(slug, m),
        training=training_config(slug, m),
        storage=None
        if storage is None
        else rc.StorageConfig(endpoint_url=storage.endpoint, bucket=storage.bucket, region=storage.region),
        data_processor=None
        if env.data_processor is None
        else rc.DataProcessor(url=env.data_processor.url, timeout_s=env.data_processor.timeout_s),
        jvm=part.jvm,
    )
