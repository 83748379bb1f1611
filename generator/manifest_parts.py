"""The vocabulary a manifest is written in: the strict base model, field types, and the inputs and
outputs every model type shares.

:mod:`generator.manifest` assembles the whole manifest from these and from each model type's own
``modelData`` variant, which lives with its type in :mod:`generator.kinds`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    field_validator,
)


class StrictModel(BaseModel):
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


class RoutingKey(StrictModel):
    name: RoutingKeyName


class BusPayload(StrictModel):
    routingKeys: Annotated[list[RoutingKey], Field(min_length=1)]


class BusTrainingPayload(BusPayload):
    buffer: Annotated[int, Field(ge=1, le=10_000_000)] = 1000
    online: SeedBool = False


class HistoricDataPayload(StrictModel):
    dataSource: Name = "STORAGE"
    fileName: Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=r"^[^/\\][^\\]*$")]


class HistoricDataTraining(StrictModel):
    type: Literal["HISTORIC_DATA"]
    payload: HistoricDataPayload


class BusTraining(StrictModel):
    type: Literal["MESSAGE_BUS"]
    payload: BusTrainingPayload


class Parameter(StrictModel):
    position: Annotated[int, Field(ge=1, le=1000)]
    name: Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    description: Text = ""


class RestPayload(StrictModel):
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


class RestPrediction(StrictModel):
    type: Literal["REST_API"]
    payload: RestPayload


class BusPrediction(StrictModel):
    type: Literal["MESSAGE_BUS"]
    payload: BusPayload


class BusOutput(StrictModel):
    type: Literal["MESSAGE_BUS"]
    payload: BusPayload


TrainingInput = Annotated[HistoricDataTraining | BusTraining, Field(discriminator="type")]
PredictionInput = Annotated[RestPrediction | BusPrediction, Field(discriminator="type")]


class Inputs(StrictModel):
    training: list[TrainingInput] = Field(default_factory=list)
    prediction: list[PredictionInput] = Field(default_factory=list)


class Outputs(StrictModel):
    training: list[BusOutput] = Field(default_factory=list)
    prediction: list[BusOutput] = Field(default_factory=list)


_PIP_NAME = r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?(?:\[[A-Za-z0-9._,-]+\])?$"
# A bare version ("1.0.1") or PEP 440 specifiers ("~=1.4", ">=2,<3"); nothing that pip would read
# as an option or a second requirement line.
_PIP_VERSION = (
    r"^(?:(?:==|>=|<=|~=|!=|<|>|===)?\s*[A-Za-z0-9.*+!_-]+)(?:\s*,\s*(?:==|>=|<=|~=|!=|<|>)\s*[A-Za-z0-9.*+!_-]+)*$"
)


class Dependency(StrictModel):
    name: Annotated[str, StringConstraints(max_length=128, pattern=_PIP_NAME)]
    version: Annotated[str, StringConstraints(max_length=128, pattern=_PIP_VERSION)]


FileName = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")]
Hyperparameters = dict[str, JsonValue]


EnvVarName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128)]
