"""The seed's own manifest compiles as written, and the example keeps it verbatim."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from generator.bundle import read_bundle
from generator.kinds.python import PythonModel
from generator.load import load_bundle
from generator.manifest import BusTraining, HistoricDataTraining
from tests.conftest import SEED_MANIFEST, SEED_MANIFEST_SHA256


def test_example_keeps_the_seed_manifest_verbatim() -> None:
    # The bytes the seed published: an edit of the example (even whitespace) fails here.
    assert hashlib.sha256(SEED_MANIFEST.read_bytes()).hexdigest() == SEED_MANIFEST_SHA256


def test_seed_manifest_validates_unchanged(make_bundle: object, tmp_path: Path) -> None:
    root = tmp_path / "seed"
    (root / "src").mkdir(parents=True)
    (root / "manifest.json").write_bytes(SEED_MANIFEST.read_bytes())
    (root / "src/predict.py").write_text("def predict(model, json_data):\n    return json_data\n")
    (root / "src/train.py").write_text("def train(dataset, hyperparameters, model_path):\n    return None\n")
    manifest = load_bundle(read_bundle(root)).manifest
    assert manifest.version == 1
    assert isinstance(manifest.modelData, PythonModel)
    assert manifest.modelData.payload.hyperparameters["scale"] == "True"  # the seed's string stays a string
    assert manifest.modelData.payload.modelFile == "trained_model.pkl"
    historic, bus = manifest.input.training
    assert isinstance(historic, HistoricDataTraining)
    assert historic.payload.fileName == "train_data.csv"
    assert isinstance(bus, BusTraining)
    assert bus.payload.buffer == 1000
    assert bus.payload.online is False
    assert json.loads(SEED_MANIFEST.read_text())["modelData"]["payload"]["hyperparameters"]["n_comp_criteria"] == 0.95


def test_online_accepts_the_seed_spelling(make_bundle: object, tmp_path: Path) -> None:
    from generator.manifest import Manifest

    for spelling, expected in (("true", True), ("True", True), (True, True), ("false", False), (False, False)):
        manifest = Manifest.model_validate(
            {
                "name": "m",
                "modelData": {"type": "PYTHON"},
                "input": {
                    "training": [
                        {"type": "MESSAGE_BUS", "payload": {"routingKeys": [{"name": "k"}], "online": spelling}}
                    ]
                },
            }
        )
        entry = manifest.input.training[0]
        assert isinstance(entry, BusTraining)
        assert entry.payload.online is expected
