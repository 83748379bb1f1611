"""Input drift: the reference saved at training, the PSI over a bounded window, the gauge a running
server exports as its inputs move."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from generator.runtime import drift
from generator.runtime.config import ServerConfig
from generator.runtime.training import save_drift_reference

from .bundles import ECHO_PREDICT, base_config, write_bundle
from .conftest import RunningServer


def test_psi_is_small_for_the_same_distribution_and_large_for_a_shift() -> None:
    rng = random.Random(7)  # noqa: S311 -- seeded: the same draws every run
    ref = drift.reference({"x": [rng.gauss(0, 1) for _ in range(5000)]}, 10)
    same, shifted = drift.DriftMonitor(ref, 1000), drift.DriftMonitor(ref, 1000)
    for _ in range(1000):
        same.observe({"x": rng.gauss(0, 1)})
        shifted.observe({"x": rng.gauss(1.5, 1)})
    assert same.score("x") < 0.05
    assert shifted.score("x") > 0.5


def test_the_window_is_bounded_and_too_few_values_score_nan() -> None:
    ref = drift.reference({"x": range(100)}, 10)
    monitor = drift.DriftMonitor(ref, 50)
    for v in range(10):
        monitor.observe({"x": v, "ignored": "text"})
    assert math.isnan(monitor.score("x"))
    for _ in range(500):
        monitor.observe({"x": 5})
    assert len(monitor._values["x"]) == 50
    assert monitor.score("x") > 1  # every recent value in one bin


def test_training_saves_the_reference_of_the_inputs(tmp_path: Path) -> None:
    dataset = tmp_path / "history.csv"
    rows = ["temperature,pressure,label"] + [f"{200 + i},{800 + i % 7},x" for i in range(100)]
    dataset.write_text("\n".join(rows) + "\n")
    config = ServerConfig.model_validate(
        base_config(
            tmp_path,
            parameters=("temperature", "pressure", "absent"),
            drift={"inputs": ["temperature", "pressure", "absent"]},
        )
    )
    path = save_drift_reference(config, dataset, tmp_path, None)
    assert path is not None
    saved = json.loads(path.read_text())
    assert set(saved["inputs"]) == {"temperature", "pressure"}  # a parameter the data lacks is not watched
    assert sum(saved["inputs"]["temperature"]["expected"]) == pytest.approx(1)
    assert len(saved["inputs"]["temperature"]["edges"]) == 9


def _psi(server: RunningServer) -> dict[str, float]:
    text = server.client().get("/metrics").text
    return {
        s.labels["input"]: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "aiar_input_drift_psi"
    }


def test_a_running_server_scores_its_inputs_drift(tmp_path: Path, start_server: Callable[..., RunningServer]) -> None:
    src = write_bundle(tmp_path / "bundle", ECHO_PREDICT)
    (src / drift.DRIFT_REFERENCE_FILE).write_text(json.dumps(drift.reference({"a": range(100), "b": range(100)}, 10)))
    config = base_config(src, slug="drift-echo", parameters=("a", "b"), drift={"inputs": ["a", "b"], "window": 50})
    server = start_server(config)
    server.wait_ready()
    with server.client() as client:
        for i in range(50):  # as in training: spread over 0..99
            assert client.post("/v2/models/drift-echo/predict", json={"a": i * 2, "b": i * 2}).status_code == 200
        steady = _psi(server)
        assert steady["a"] < 0.1
        for i in range(50):  # a moved upstream: everything above the training range
            assert client.post("/v2/models/drift-echo/predict", json={"a": 500 + i, "b": i * 2}).status_code == 200
    moved = _psi(server)
    assert moved["a"] > 1
    assert moved["b"] < 0.1
