"""The manifest as the user wrote it: the seed's format, plus optional extensions.

These models mirror the input and decide nothing; defaults that matter for what gets built are
resolved in :mod:`generator.plan`. Field names keep the seed's camelCase so that pydantic locations
are the user's JSON pointers.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    field_validator,
    model_validator,
)

_SCHEMA_ID = "https://aiar.dev/schemas/manifest.schema.json"


class _Model(BaseModel):
    # strict: "1" is not a version and "yes" is not a bool; the seed's own loose spots opt out.
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


def _seed_bool(value: object) -> object:
    """The seed writes ``"online": "true"``; accept that spelling and real booleans, nothing else."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


SeedBool = Annotated[bool, BeforeValidator(_seed_bool)]
Text = Annotated[str, StringConstraints(max_length=4096)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=253)]
RoutingKeyName = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.#*-]+$")]


class RoutingKey(_Model):
    name: RoutingKeyName


class BusPayload(_Model):
    routingKeys: Annotated[list[RoutingKey], Field(min_length=1)]


class BusTrainingPayload(BusPayload):
    buffer: Annotated[int, Field(ge=1, le=10_000_000)] = 1000
    online: SeedBool = False


class HistoricDataPayload(_Model):
    dataSource: Name = "STORAGE"
    fileName: Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=r"^[^/\\][^\\]*$")]


class HistoricDataTraining(_Model):
    type: Literal["HISTORIC_DATA"]
    payload: HistoricDataPayload


class BusTraining(_Model):
    type: Literal["MESSAGE_BUS"]
    payload: BusTrainingPayload


class Parameter(_Model):
    position: Annotated[int, Field(ge=1, le=1000)]
    name: Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    description: Text = ""


class RestPayload(_Model):
    parameters: list[Parameter] = Field(default_factory=list)

    @field_validator("parameters")
    @classmethod
    def _unique(cls, parameters: list[Parameter]) -> list[Parameter]:
        for attr in ("name", "position"):
            values = [getattr(p, attr) for p in parameters]
            dupes = sorted({v for v in values if values.count(v) > 1}, key=str)
            if dupes:
                raise ValueError(f"parameter {attr}s must be unique; repeated: {dupes}")
        return parameters


class RestPrediction(_Model):
    type: Literal["REST_API"]
    payload: RestPayload


class BusPrediction(_Model):
    type: Literal["MESSAGE_BUS"]
    payload: BusPayload


class BusOutput(_Model):
    type: Literal["MESSAGE_BUS"]
    payload: BusPayload


TrainingInput = Annotated[HistoricDataTraining | BusTraining, Field(discriminator="type")]
PredictionInput = Annotated[RestPrediction | BusPrediction, Field(discriminator="type")]


class Inputs(_Model):
    training: list[TrainingInput] = Field(default_factory=list)
    prediction: list[PredictionInput] = Field(default_factory=list)


class Outputs(_Model):
    training: list[BusOutput] = Field(default_factory=list)
    prediction: list[BusOutput] = Field(default_factory=list)


_PIP_NAME = r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?(?:\[[A-Za-z0-9._,-]+\])?$"
# A bare version ("1.0.1") or PEP 440 specifiers ("~=1.4", ">=2,<3"); nothing that pip would read
# as an option or a second requirement line.
_PIP_VERSION = (
    r"^(?:(?:==|>=|<=|~=|!=|<|>|===)?\s*[A-Za-z0-9.*+!_-]+)(?:\s*,\s*(?:==|>=|<=|~=|!=|<|>)\s*[A-Za-z0-9.*+!_-]+)*$"
)


class Dependency(_Model):
    name: Annotated[str, StringConstraints(max_length=128, pattern=_PIP_NAME)]
    version: Annotated[str, StringConstraints(max_length=128, pattern=_PIP_VERSION)]


FileName = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")]
Hyperparameters = dict[str, JsonValue]


class PythonPayload(_Model):
    dependencies: list[Dependency] = Field(default_factory=list)
    hyperparameters: Hyperparameters = Field(default_factory=dict)
    modelFile: FileName | None = None


class H2OPayload(_Model):
    jarFile: FileName = "predict.jar"
    hyperparameters: Hyperparameters = Field(default_factory=dict)
    modelFile: FileName | None = None


class DockerLayer(_Model):
    name: Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9._-]*$")]


EnvVarName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128)]


class DockerLayersPayload(_Model):
    layers: list[DockerLayer] = Field(default_factory=list)
    envVars: dict[EnvVarName, Annotated[str, StringConstraints(max_length=4096)]] = Field(default_factory=dict)
    openapi: dict[str, JsonValue] | Annotated[str, StringConstraints(max_length=255)] | None = None
    hyperparameters: Hyperparameters = Field(default_factory=dict)


class PythonModel(_Model):
    type: Literal["PYTHON"]
    payload: PythonPayload = PythonPayload()


class H2OModel(_Model):
    type: Literal["H2O"]
    payload: H2OPayload = H2OPayload()


class DockerLayersModel(_Model):
    type: Literal["DOCKER_LAYERS"]
    payload: DockerLayersPayload = DockerLayersPayload()


ModelData = Annotated[PythonModel | H2OModel | DockerLayersModel, Field(discriminator="type")]

# --- extensions: what the original system configured in its web UI -------------------------------

Day = Literal["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]
_ALL_DAYS: tuple[Day, ...] = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
TimeOfDay = Annotated[str, StringConstraints(pattern=r"^(?:[01]\d|2[0-3]):[0-5]\d$")]


class ScheduleEntry(_Model):
    """One point in the week at which the model starts or stops: ``{"days": ["MON"], "at": "08:00"}``."""

    at: TimeOfDay
    days: Annotated[list[Day], Field(min_length=1)] = Field(default_factory=lambda: list(_ALL_DAYS))

    @field_validator("days")
    @classmethod
    def _no_repeats(cls, days: list[str]) -> list[str]:
        if len(set(days)) != len(days):
            raise ValueError("days must not repeat")
        return days


class Schedule(_Model):
    timezone: Annotated[
        str,
        StringConstraints(max_length=64, pattern=r"^(?:UTC|[A-Z][A-Za-z_-]+(?:/[A-Za-z0-9_+-]+){1,2})$"),
    ] = "UTC"
    start: list[ScheduleEntry] = Field(default_factory=list)
    stop: list[ScheduleEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _something_scheduled(self) -> Schedule:
        if not self.start and not self.stop:
            raise ValueError("a schedule needs at least one 'start' or 'stop' entry")
        return self


RoleName = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


class Access(_Model):
    roles: Annotated[list[RoleName], Field(min_length=1)]

    @field_validator("roles")
    @classmethod
    def _unique_roles(cls, roles: list[str]) -> list[str]:
        if len(set(roles)) != len(roles):
            raise ValueError("roles must not repeat")
        return roles


Cpu = Annotated[str, StringConstraints(pattern=r"^(?:\d+m|\d+(?:\.\d{1,3})?)$")]
Memory = Annotated[str, StringConstraints(pattern=r"^\d+(?:Ki|Mi|Gi|Ti|k|M|G|T)?$")]


class ResourceAmounts(_Model):
    cpu: Cpu | None = None
    memory: Memory | None = None


class Resources(_Model):
    requests: ResourceAmounts = ResourceAmounts()
    limits: ResourceAmounts = ResourceAmounts()


class Monitoring(_Model):
    wazuh: SeedBool = False
    prometheus: bool | None = None
    """The environment's ``observability`` objects for this model: false opts out; unset follows it."""
    latencySloSeconds: Annotated[float, Field(gt=0, le=600)] | None = None
    """This model's p99 latency objective (default: the environment's)."""
    errorRatio: Annotated[float, Field(gt=0, lt=1)] | None = None
    drift: bool = False
    """Watch the REST parameters for drift from the training data (PSI gauge and alert)."""


class Autoscaling(_Model):
    """Scaling on load (see the environment's ``autoscaling``); unset fields follow the environment."""

    enabled: bool | None = None
    minReplicas: Annotated[int, Field(ge=0, le=100)] | None = None
    maxReplicas: Annotated[int, Field(ge=1, le=100)] | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.minReplicas is not None and self.maxReplicas is not None and self.minReplicas > self.maxReplicas:
            raise ValueError("minReplicas must not exceed maxReplicas")
        return self


class Manifest(_Model):
    """A model bundle's ``manifest.json``."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        strict=True,
        title="aiar model manifest",
        json_schema_extra={"$id": _SCHEMA_ID},
    )

    name: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    description: Text = ""
    tags: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(default_factory=list)
    version: Annotated[int, Field(ge=1)] | None = None
    input: Inputs = Inputs()
    output: Outputs = Outputs()
    modelData: ModelData
    schedule: Schedule | None = None
    access: Access | None = None
    resources: Resources | None = None
    monitoring: Monitoring | None = None
    autoscaling: Autoscaling | None = None

    @field_validator("name")
    @classmethod
    def _name_makes_a_slug(cls, name: str) -> str:
        if not slugify(name):
            raise ValueError("name must contain at least one letter or digit")
        if len(slugify(name)) > MAX_SLUG:
            raise ValueError(f"name is too long once made a DNS label (max {MAX_SLUG} characters)")
        return name

    def has_rest(self) -> bool:
        return any(isinstance(p, RestPrediction) for p in self.input.prediction)


MAX_SLUG = 40
"""Room is left in the 63-character DNS label for suffixes such as ``-train-<hash>``."""


def slugify(name: str) -> str:
    """``Injection Model`` -> ``injection-model``: the model's name in every generated identifier."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def manifest_json_schema() -> dict[str, Any]:
    return Manifest.model_json_schema(mode="validation")
