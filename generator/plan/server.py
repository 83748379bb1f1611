"""The model server's config (:class:`generator.runtime.config.ServerConfig`), one part per concern.

The REST inputs (here), the bus (:mod:`.bus`: its connection and the prediction queues), training
(:mod:`.training`), storage and the data processor are the same for every type; the model file and the
JVM part (H2O) are the type's own and arrive decided in its :class:`~generator.kinds.KindPlan`. What the
environment must provide was checked before (:mod:`.checks`).
"""

from __future__ import annotations

from .. import defaults
from ..assets import optional_runtime_requirements
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
    result = rest.payload.result
    return rc.RestConfig(
        parameters=tuple(
            rc.Parameter(
                name=p.name,
                position=p.position,
                description=p.description,
                tensor=None if p.datatype is None else rc.TensorType(datatype=p.datatype, shape=tuple(p.shape or ())),
                json_schema=p.json_schema,
            )
            for p in parameters
        ),
        port=defaults.HTTP_PORT,
        outputs=(
            rc.Output(
                name=defaults.OIP_OUTPUT,
                tensor=None if result is None else rc.TensorType(datatype=result.datatype, shape=tuple(result.shape)),
            ),
        ),
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
        runner=part.runner,
        drift=_drift(m),
    )


def runtime_extras(server: rc.ServerConfig) -> tuple[str, ...]:
    """The model server's optional pins this model needs: jsonschema for a declared JSON Schema, numpy
    and onnxruntime to run an ONNX model without code."""
    pins = optional_runtime_requirements()
    names: list[str] = []
    if server.rest is not None and any(p.json_schema is not None for p in server.rest.parameters):
        names.append("jsonschema")
    if server.runner == "onnx":
        names += ["numpy", "onnxruntime"]
    return tuple(pins[name] for name in names)


def _drift(m: Manifest) -> rc.DriftConfig | None:
    """Input drift of the REST parameters, when the manifest asks (checked: it has some)."""
    rest = _rest(m)
    if m.monitoring is None or not m.monitoring.drift or rest is None:
        return None
    return rc.DriftConfig(inputs=tuple(p.name for p in rest.parameters))
