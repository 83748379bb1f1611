"""The vocabulary a manifest is written in: the strict base model, field types, and the inputs and
outputs every model type shares.

:mod:`generator.manifest` assembles the whole manifest from these and from each model type's own
``modelData`` variant, which lives with its type in :mod:`generator.kinds`.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

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


OipDatatype = Literal[
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES"
]  # fmt: skip
Shape = Annotated[list[Annotated[int, Field(ge=-1, le=2**31 - 1)]], Field(max_length=32)]
MAX_SCHEMA_BYTES = 16 * 1024
MAX_SCHEMA_DEPTH = 32


def _depth(value: object, limit: int) -> int:
    """How deep ``value`` nests, counting no further than ``limit + 1``."""
    if limit < 0 or not isinstance(value, (dict, list)):
        return 0
    items = value.values() if isinstance(value, dict) else value
    return 1 + max((_depth(item, limit - 1) for item in items), default=0)


class TensorType(StrictModel):
    """A type in Open Inference Protocol terms: ``shape`` ``[]`` (the default) is one value, ``-1`` a
    dimension of any length."""

    datatype: OipDatatype
    shape: Shape = Field(default_factory=list)


class Parameter(StrictModel):
    position: Annotated[int, Field(ge=1, le=1000)]
    name: Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    description: Text = ""
    # The parameter's type (an extension): an OIP datatype and shape, or a JSON Schema (2020-12).
    datatype: OipDatatype | None = None
    shape: Shape | None = None
    json_schema: dict[str, JsonValue] | None = Field(default=None, alias="schema")

    @model_validator(mode="after")
    def _one_kind_of_type(self) -> Parameter:
        if self.shape is not None and self.datatype is None:
            raise ValueError("'shape' needs a 'datatype'")
        if self.json_schema is not None and self.datatype is not None:
            raise ValueError("a parameter declares either 'datatype' (and 'shape') or 'schema', not both")
        return self

    @field_validator("json_schema")
    @classmethod
    def _bounded(cls, schema: dict[str, JsonValue] | None) -> dict[str, JsonValue] | None:
        if schema is None:
            return None
        if _depth(schema, MAX_SCHEMA_DEPTH) > MAX_SCHEMA_DEPTH:
            raise ValueError(f"the schema nests deeper than {MAX_SCHEMA_DEPTH} levels")
        if len(json.dumps(schema)) > MAX_SCHEMA_BYTES:
            raise ValueError(f"the schema is larger than {MAX_SCHEMA_BYTES} bytes")
        return schema


class RestPayload(StrictModel):
    parameters: list[Parameter] = Field(default_factory=list)
    result: TensorType | None = None
    """The type of predict()'s result (an extension): the OIP output's datatype and shape."""

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
