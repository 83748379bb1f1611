"""The seed's predict style: ``predict(temperature, pressure)``, no model argument, the code loading its
own model file (by name from the working directory, or from ``AIAR_MODEL_FILE``)."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import pytest

from generator.runtime.config import source_predict_style

from .bundles import base_config, write_bundle
from .conftest import RunningServer

SEED_STYLE = """
import os
import pickle

# Loaded when imported, by name, as the seed's examples do: aiar imports it once the file is in place.
with open("trained_model.pkl", "rb") as f:
    MODEL = pickle.load(f)


def predict(temperature, pressure):
    return {"score": MODEL["weight"] * temperature + pressure, "file": os.environ["AIAR_MODEL_FILE"]}
"""


def test_a_seed_style_bundle_serves(tmp_path: Path, start_server: Callable[..., RunningServer]) -> None:
    src = write_bundle(tmp_path / "bundle", SEED_STYLE)
    (src / "trained_model.pkl").write_bytes(pickle.dumps({"weight": 2}))
    config = base_config(src, slug="seed", parameters=("temperature", "pressure"), model_file="trained_model.pkl")
    server = start_server(config)
    server.wait_ready()
    with server.client() as http:
        answer = http.post("/v2/models/seed/predict", json={"temperature": 10, "pressure": 3})
        assert answer.status_code == 200, answer.text
        assert answer.json()["score"] == 23
        assert answer.json()["file"].endswith("trained_model.pkl")
        oip = http.post(
            "/v2/models/seed/infer",
            json={
                "inputs": [
                    {"name": "temperature", "shape": [1], "datatype": "FP64", "data": [1.5]},
                    {"name": "pressure", "shape": [1], "datatype": "INT64", "data": [1]},
                ]
            },
        )
        assert oip.status_code == 200, oip.text


@pytest.mark.parametrize(
    ("source", "parameters", "style"),
    [
        ("def predict(model, x):\n    pass\n", 1, "model-first"),
        ("def predict(temperature, pressure):\n    pass\n", 2, "parameters-only"),
        ("def predict(model, json_data):\n    pass\n", 1, "model-first"),  # the seed's own example
        ("def predict(m, a, b):\n    pass\n", 2, "model-first"),
        ("def predict(model, *args):\n    pass\n", 3, "model-first"),
        ("def predict(a, b=1):\n    pass\n", 1, "parameters-only"),
        ("def predict(a):\n    pass\n", 3, None),
        ("def predict(a, b, c, d):\n    pass\n", 1, None),
        ("def other(a):\n    pass\n", 1, None),
        ("def predict(:\n", 1, None),
    ],
)
def test_styles(source: str, parameters: int, style: str | None) -> None:
    assert source_predict_style(source, parameters) == style


def test_a_predict_fitting_neither_style_stops_the_server(tmp_path: Path) -> None:
    from generator.runtime.config import CodeLayout
    from generator.runtime.usercode import PredictCode, UserCodeError

    src = write_bundle(tmp_path / "bundle", "def predict(a):\n    return a\n")
    with pytest.raises(UserCodeError, match="takes neither"):
        PredictCode.from_layout(CodeLayout(src_dir=str(src)), parameters=3)
