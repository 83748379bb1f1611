"""The model-server configuration: the one contract between the compiler and the runtime.

The compiler writes it as ``model-server.json`` (see ``generator.render.server_config``); the runtime
reads it at start. This module is copied into images, so it imports nothing outside this package.
Secrets never appear here: only the names of the environment variables that hold them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION: Final = 1
TRAINING_STATS_FILE: Final = "training-stats.json"
"""Stored beside a trained model file (same ``models/<slug>/<version>/`` prefix): what train() returned,
with when and from what (``aiar storage ls`` and ``aiar status`` show it)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ModelInfo(_Frozen):
    name: str
    """The manifest's display name, e.g. ``Injection Model``."""
    slug: str
    """DNS-1123 name derived from ``name``; used in URLs, queues and object names."""
    version: int = Field(ge=1)
    type: Literal["PYTHON", "H2O", "DOCKER_LAYERS"]
    description: str = ""
    tags: tuple[str, ...] = ()


Datatype = Literal[
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES"
]  # fmt: skip
"""The Open Inference Protocol's tensor datatypes (``BYTES``: strings)."""


class TensorType(_Frozen):
    """A declared tensor type, in OIP terms: ``shape`` ``()`` is one value, ``-1`` a dimension of any length."""

    datatype: Datatype
    shape: tuple[int, ...] = ()


class Parameter(_Frozen):
    name: str
    position: int
    description: str = ""
    tensor: TensorType | None = None
    """The declared type (``datatype`` and ``shape``): requests are checked against it."""
    json_schema: dict[str, Any] | None = None
    """A declared JSON Schema (checked when the compiler read it): requests are validated against it."""


class Output(_Frozen):
    name: str
    tensor: TensorType | None = None
    """None: predict()'s result travels as JSON text (``BYTES``, shape ``[1]``) on OIP."""


DEFAULT_OUTPUTS: Final = (Output(name="result"),)


class RestConfig(_Frozen):
    parameters: tuple[Parameter, ...]
    """Sorted by ``position``: the order in which ``predict`` receives them."""
    port: int = 8080
    outputs: tuple[Output, ...] = DEFAULT_OUTPUTS
    """What the OIP route returns: one ``result``, typed when the manifest declares its type (an ONNX
    model's outputs come from its graph when it is loaded)."""


class BusConnection(_Frozen):
    host: str
    port: int = 5672
    vhost: str = "/"
    exchange: str = "amq.topic"
    username_env: str = "AIAR_AMQP_USERNAME"
    # the name of a volume or an environment variable, not a secret
    password_env: str = "AIAR_AMQP_PASSWORD"  # noqa: S105
    heartbeat_s: int = 30


class PredictionBus(_Frozen):
    input_keys: tuple[str, ...]
    output_keys: tuple[str, ...]
    queue: str
    """Durable queue bound to every input key on the exchange."""
    dead_letter_queue: str
    prefetch: int = 16
    max_retries: int = 3


class HistoricTraining(_Frozen):
    data_source: str
    file_name: str
    dataset_key: str
    """Object key of the dataset in the storage bucket."""


class BusTraining(_Frozen):
    input_keys: tuple[str, ...]
    queue: str
    buffer: int = Field(ge=1)
    online: bool = False


class TrainingConfig(_Frozen):
    historic: HistoricTraining | None = None
    bus: BusTraining | None = None
    output_keys: tuple[str, ...] = ()
    hyperparameters: dict[str, Any] = Field(default_factory=dict)


class StorageConfig(_Frozen):
    endpoint_url: str
    bucket: str
    region: str = "us-east-1"
    access_key_env: str = "AIAR_S3_ACCESS_KEY"
    # the name of a volume or an environment variable, not a secret
    secret_key_env: str = "AIAR_S3_SECRET_KEY"  # noqa: S105
    local_dir: str | None = None
    """When set, the bucket is this local directory (objects are files at their key under it) and
    ``endpoint_url``, ``bucket`` and the credentials are unused: ``aiar serve`` without S3."""


class DataProcessor(_Frozen):
    url: str
    timeout_s: float = 10.0


PredictStyle = Literal["model-first", "parameters-only"]


def predict_style(positional: Sequence[str], required: int, varargs: bool, parameters: int) -> PredictStyle | None:
    """Which of the two contracts a ``predict`` signature follows, given the manifest's parameters.

    ``model-first``: ``predict(model, *params)``, aiar's (load() gives the model). ``parameters-only``:
    ``predict(*params)``, the seed's ("must accept the parameters specified in the manifest"): such
    code loads its own model file (``AIAR_MODEL_FILE``, or by name from the working directory, which
    is the model file's directory). None: it fits neither. The compiler reads the signature from the
    source, the server from the function: both decide here.
    """

    def fits(count: int) -> bool:
        return varargs or required <= count <= len(positional)

    if positional and positional[0] == "model" and fits(parameters + 1):
        return "model-first"
    if fits(parameters) and not (positional and positional[0] == "model"):
        return "parameters-only"
    if fits(parameters + 1):
        return "model-first"
    return None


def source_predict_style(source: str, parameters: int) -> PredictStyle | None:
    """:func:`predict_style` of the ``def predict`` in ``source`` (read, never run); None when there is
    no such function or it fits neither style."""
    import ast

    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "predict":
            args = node.args
            positional = [a.arg for a in (*args.posonlyargs, *args.args)]
            required = len(positional) - len(args.defaults)
            return predict_style(positional, required, args.vararg is not None, parameters)
    return None


class CodeLayout(_Frozen):
    src_dir: str = "/app/src"
    predict_module: str = "predict"
    train_module: str = "train"


class JvmConfig(_Frozen):
    """How an H2O model's JVMs are started: ``<java> <options> -jar <jar> [<model file>]`` to predict."""

    jar: str
    """Relative to ``code.src_dir``, or absolute."""
    java: str = "java"
    options: tuple[str, ...] = ()
    start_timeout_s: float = 120.0
    """How long a new JVM may take to answer its first ping."""
    request_timeout_s: float = 30.0
    train_jar: str | None = None
    """The model's training jar (``train.jar``), run once per training: ``<java> <train_options> -jar <jar>``."""
    train_options: tuple[str, ...] = ()
    train_timeout_s: float = 6 * 3600.0
    """A train.jar still running after this is killed (the training fails)."""


Runner = Literal["code", "onnx"]


class DriftConfig(_Frozen):
    """Input drift of the named inputs (PSI against the training data's reference; runtime/drift.py)."""

    inputs: tuple[str, ...]
    window: int = Field(default=1000, ge=10, le=100_000)
    """The last this many values of each input are compared with the reference."""
    bins: int = Field(default=10, ge=2, le=100)


class ServerConfig(_Frozen):
    schema_version: Literal[1] = SCHEMA_VERSION
    model: ModelInfo
    code: CodeLayout = CodeLayout()
    model_file: str | None = None
    """File name that training writes and prediction loads (the manifest's ``modelFile``)."""
    model_key: str | None = None
    """Object key of the trained model file in the storage bucket: ``models/<slug>/<version>/<file>``."""
    rest: RestConfig | None = None
    message_bus: BusConnection | None = None
    prediction_bus: PredictionBus | None = None
    training: TrainingConfig | None = None
    storage: StorageConfig | None = None
    data_processor: DataProcessor | None = None
    jvm: JvmConfig | None = None
    """Only for H2O models: the JVM that runs ``predict.jar``."""
    runner: Runner = "code"
    """``onnx``: a PYTHON model without predict.py, its ``model_file`` run by onnxruntime."""
    drift: DriftConfig | None = None
    """Only when the manifest asks for it (``monitoring.drift``)."""
