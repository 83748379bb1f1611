"""The manifest as the user wrote it: the seed's format, plus optional extensions.

These models mirror the input and decide nothing; defaults that matter for what gets built are
resolved in :mod:`generator.plan`. Field names keep the seed's camelCase so that pydantic locations
are the user's JSON pointers. The shared vocabulary (inputs, outputs, field types) is in
:mod:`generator.manifest_parts`; ``modelData`` is the tagged union of every model type's own variant,
each defined with its type in :mod:`generator.kinds` and gathered here from :data:`generator.kinds.KINDS`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol, Union

from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_validator

from .kinds import KINDS
from .manifest_parts import (
    BusOutput,
    BusPayload,
    BusPrediction,
    BusTraining,
    BusTrainingPayload,
    Dependency,
    FileName,
    HistoricDataPayload,
    HistoricDataTraining,
    Hyperparameters,
    Inputs,
    Outputs,
    Parameter,
    RestPayload,
    RestPrediction,
    RoutingKey,
    SeedBool,
    StrictModel,
    Text,
)

_SCHEMA_ID = "https://aiar.dev/schemas/manifest.schema.json"

if TYPE_CHECKING:

    class _Payload(Protocol):
        @property
        def hyperparameters(self) -> Hyperparameters: ...

    class ModelData(Protocol):
        """What every type's ``modelData`` variant has; a type's own code narrows to its variant."""

        @property
        def type(self) -> str: ...

        @property
        def payload(self) -> _Payload: ...

else:
    ModelData = Annotated[Union[tuple(kind.variant for kind in KINDS.values())], Field(discriminator="type")]  # noqa: UP007


# --- extensions: what the original system configured in its web UI -------------------------------

Day = Literal["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]
_ALL_DAYS: tuple[Day, ...] = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
TimeOfDay = Annotated[str, StringConstraints(pattern=r"^(?:[01]\d|2[0-3]):[0-5]\d$")]


class ScheduleEntry(StrictModel):
    """One point in the week at which the model starts or stops: ``{"days": ["MON"], "at": "08:00"}``."""

    at: TimeOfDay
    days: Annotated[list[Day], Field(min_length=1)] = Field(default_factory=lambda: list(_ALL_DAYS))

    @field_validator("days")
    @classmethod
    def _no_repeats(cls, days: list[str]) -> list[str]:
        if len(set(days)) != len(days):
            raise ValueError("days must not repeat")
        return days


class Schedule(StrictModel):
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


class Access(StrictModel):
    roles: Annotated[list[RoleName], Field(min_length=1)]

    @field_validator("roles")
    @classmethod
    def _unique_roles(cls, roles: list[str]) -> list[str]:
        if len(set(roles)) != len(roles):
            raise ValueError("roles must not repeat")
        return roles


Cpu = Annotated[str, StringConstraints(pattern=r"^(?:\d+m|\d+(?:\.\d{1,3})?)$")]
Memory = Annotated[str, StringConstraints(pattern=r"^\d+(?:Ki|Mi|Gi|Ti|k|M|G|T)?$")]


class ResourceAmounts(StrictModel):
    cpu: Cpu | None = None
    memory: Memory | None = None


class Resources(StrictModel):
    requests: ResourceAmounts = ResourceAmounts()
    limits: ResourceAmounts = ResourceAmounts()


class Monitoring(StrictModel):
    wazuh: SeedBool = False
    prometheus: bool | None = None
    """The environment's ``observability`` objects for this model: false opts out; unset follows it."""
    latencySloSeconds: Annotated[float, Field(gt=0, le=600)] | None = None
    """This model's p99 latency objective (default: the environment's)."""
    errorRatio: Annotated[float, Field(gt=0, lt=1)] | None = None
    drift: bool = False
    """Watch the REST parameters for drift from the training data (PSI gauge and alert)."""


class Autoscaling(StrictModel):
    """Scaling on load (see the environment's ``autoscaling``); unset fields follow the environment."""

    enabled: bool | None = None
    minReplicas: Annotated[int, Field(ge=0, le=100)] | None = None
    maxReplicas: Annotated[int, Field(ge=1, le=100)] | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.minReplicas is not None and self.maxReplicas is not None and self.minReplicas > self.maxReplicas:
            raise ValueError("minReplicas must not exceed maxReplicas")
        return self


class Manifest(StrictModel):
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


__all__ = [
    "Access",
    "BusOutput",
    "BusPayload",
    "BusPrediction",
    "BusTraining",
    "BusTrainingPayload",
    "Dependency",
    "FileName",
    "HistoricDataPayload",
    "HistoricDataTraining",
    "Inputs",
    "Manifest",
    "ModelData",
    "Monitoring",
    "Outputs",
    "Parameter",
    "Resources",
    "RestPayload",
    "RestPrediction",
    "RoutingKey",
    "Schedule",
    "ScheduleEntry",
    "manifest_json_schema",
    "slugify",
]
