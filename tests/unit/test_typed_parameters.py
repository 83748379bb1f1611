"""Typed REST parameters and ONNX bundles at compile time: located problems, the server config, the
OpenAPI document, the image's requirements; and the ONNX example's reproducible build."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from generator.cli import main
from generator.pipeline import local_plan_for
from generator.runtime.openapi import openapi_document
from tests.conftest import REPO, MakeBundle
from tests.helpers import minimal_manifest


def with_parameter(**fields: Any) -> dict[str, Any]:
    manifest = minimal_manifest()
    manifest["input"]["prediction"][0]["payload"]["parameters"][0].update(fields)
    return manifest


def problems(bundle: Path) -> list[str]:
    result = CliRunner().invoke(main, ["validate", str(bundle)])
    assert result.exit_code == 1
    return [line for line in result.stderr.splitlines() if "manifest.json:" in line]


P = "/input/prediction/0/payload/parameters/0"


@pytest.mark.parametrize(
    ("fields", "pointer", "message"),
    [
        ({"datatype": "FP128"}, f"{P}/datatype", "Input should be 'BOOL'"),
        ({"shape": [3]}, P, "'shape' needs a 'datatype'"),
        ({"datatype": "FP32", "shape": [-2]}, f"{P}/shape/0", "greater than or equal to -1"),
        ({"datatype": "FP32", "shape": [1] * 33}, f"{P}/shape", "at most 32 items"),
        ({"datatype": "FP32", "schema": {"type": "number"}}, P, "either 'datatype' (and 'shape') or 'schema'"),
        ({"schema": {"type": "number", "minimum": "zero"}}, f"{P}/schema/minimum", "not a valid JSON Schema"),
        ({"schema": {"type": "bogus"}}, f"{P}/schema/type", "not a valid JSON Schema"),
        ({"schema": {"$ref": "https://example.com/s.json"}}, f"{P}/schema/$ref", "may refer only to itself"),
        ({"schema": {"anyOf": [{"$ref": "#/$defs/nope"}]}}, f"{P}/schema/anyOf/0/$ref", "names nothing"),
        ({"schema": {"items": json.loads("[" * 40 + "{}" + "]" * 40)}}, f"{P}/schema", "nests deeper than 32"),
        ({"schema": {"enum": ["x" * 100] * 200}}, f"{P}/schema", "larger than 16384 bytes"),
    ],
)
def test_declared_types_are_checked_where_written(
    make_bundle: MakeBundle, fields: dict[str, Any], pointer: str, message: str
) -> None:
    [line] = problems(make_bundle(with_parameter(**fields)))
    located, _, text = line.partition(": ")
    file, row, col = located.rsplit(":", 2)
    assert file.endswith("manifest.json")
    assert int(row) > 1
    assert int(col) > 0
    assert text.startswith(f"{pointer}: ")
    assert message in text


def test_declared_types_reach_the_server_config_and_openapi(make_bundle: MakeBundle) -> None:
    manifest = with_parameter(datatype="FP64", shape=[-1, 4])
    manifest["input"]["prediction"][0]["payload"]["parameters"].append(
        {"position": 2, "name": "options", "schema": {"type": "object", "required": ["mode"]}}
    )
    manifest["input"]["prediction"][0]["payload"]["result"] = {"datatype": "INT64", "shape": [-1]}
    manifest["input"]["prediction"][0]["payload"]["parameters"][0]["name"] = "rows"
    files = {"src/predict.py": "def predict(model, rows, options):\n    return rows\n"}
    plan = local_plan_for(make_bundle(manifest, files), None)
    rest = plan.server.rest
    assert rest is not None
    rows, options = rest.parameters
    assert rows.tensor is not None
    assert (rows.tensor.datatype, rows.tensor.shape) == ("FP64", (-1, 4))
    assert options.json_schema == {"type": "object", "required": ["mode"]}
    [result] = rest.outputs
    assert result.tensor is not None
    assert (result.name, result.tensor.datatype) == ("result", "INT64")
    assert plan.runtime_extras == ("jsonschema==4.26.0",)  # only because a parameter has a schema
    document = openapi_document(plan.server)
    body = document["paths"]["/v2/models/tiny-model/predict"]["post"]["requestBody"]["content"]
    properties = body["application/json"]["schema"]["properties"]
    assert properties["rows"]["items"]["maxItems"] == 4
    assert properties["options"]["allOf"] == [{"type": "object", "required": ["mode"]}]


def test_an_untyped_model_needs_no_extra_pins(make_bundle: MakeBundle) -> None:
    assert local_plan_for(make_bundle(minimal_manifest()), None).runtime_extras == ()


def onnx_manifest() -> dict[str, Any]:
    manifest = minimal_manifest()
    manifest["modelData"] = {"type": "PYTHON", "payload": {"modelFile": "model.onnx"}}
    return manifest


def test_an_onnx_bundle_needs_no_code_but_its_graph(make_bundle: MakeBundle) -> None:
    plan = local_plan_for(make_bundle(onnx_manifest(), {"src/model.onnx": b"graph"}), None)
    assert plan.server.runner == "onnx"
    assert plan.runtime_extras == ("numpy==2.4.6", "onnxruntime==1.32.0")
    [line] = problems(make_bundle(onnx_manifest(), {}))
    assert "/modelData/payload/modelFile: an ONNX model without predict.py needs src/model.onnx" in line
    with_code = local_plan_for(
        make_bundle(
            onnx_manifest(), {"src/model.onnx": b"graph", "src/predict.py": "def predict(m, x):\n  return x\n"}
        ),
        None,
    )
    assert with_code.server.runner == "code"  # its own predict.py runs it
    assert with_code.runtime_extras == ()


def test_the_onnx_example_rebuilds_to_the_same_bytes() -> None:
    spec = importlib.util.spec_from_file_location("onnx_build", REPO / "bundles/sources/onnx-quality/build.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = (REPO / "bundles/onnx-quality/src/quality_model.onnx").read_bytes()
    rebuilt = module.model_bytes()
    assert hashlib.sha256(rebuilt).hexdigest() == hashlib.sha256(committed).hexdigest()
