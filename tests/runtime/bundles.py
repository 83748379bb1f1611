"""Small model bundles written by the tests: a real scikit-learn iris classifier and an online model."""

from __future__ import annotations

import csv
import pickle
from pathlib import Path
from typing import Any

IRIS_PREDICT = """
import os
import pathlib
import pickle
import time


def load(model_path):
    gate = os.environ.get("AIAR_TEST_LOAD_GATE")
    if gate:  # the test opens the gate to observe "not ready" before the load finishes
        while not pathlib.Path(gate).exists():
            time.sleep(0.02)
    with open(model_path, "rb") as f:
        return pickle.load(f)


def predict(model, features):
    time.sleep(float(os.environ.get("AIAR_TEST_PREDICT_DELAY", "0")))
    if features == "boom":
        raise RuntimeError("secret detail that must not leak")
    return model.predict(features).tolist()
"""

IRIS_TRAIN = """
import csv
import json
import pickle

from sklearn.linear_model import LogisticRegression


def _rows(dataset):
    if dataset.suffix == ".jsonl":
        records = [json.loads(line) for line in dataset.read_text().splitlines() if line]
        return [r["features"] for r in records], [r["label"] for r in records]
    with dataset.open() as f:
        rows = list(csv.reader(f))[1:]
    return [[float(v) for v in row[:-1]] for row in rows], [int(row[-1]) for row in rows]


def train(dataset, hyperparameters, model_path):
    X, y = _rows(dataset)
    model = LogisticRegression(max_iter=int(hyperparameters["max_iter"])).fit(X, y)
    with open(model_path, "wb") as f:
        pickle.dump(model, f)
    return {"rows": len(X), "accuracy": model.score(X, y), "scale": hyperparameters["scale"]}
"""

ONLINE_PREDICT = """
def predict(model, x):
    if model is None:
        return {"n": 0, "mean": None}
    return {"n": model["n"], "mean": model["sum"] / model["n"]}
"""

ONLINE_TRAIN = """
def train(dataset, hyperparameters, model_path):
    raise NotImplementedError


def update(model, record, hyperparameters):
    model = dict(model or {"n": 0, "sum": 0.0})
    model["n"] += 1
    model["sum"] += float(record["x"])
    return model
"""

ECHO_PREDICT = """
def predict(model, a, b):
    return {"a": a, "b": b}
"""


def write_bundle(root: Path, predict: str, train: str | None = None) -> Path:
    src = root / "src"
    src.mkdir(parents=True, exist_ok=True)
    (src / "predict.py").write_text(predict)
    if train is not None:
        (src / "train.py").write_text(train)
    return src


def iris() -> tuple[Any, Any]:
    from sklearn.datasets import load_iris

    data = load_iris()
    return data.data, data.target


def iris_model(path: Path) -> Any:
    from sklearn.linear_model import LogisticRegression

    x, y = iris()
    model = LogisticRegression(max_iter=500).fit(x, y)
    path.write_bytes(pickle.dumps(model))
    return model


def iris_csv(path: Path) -> None:
    x, y = iris()
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["sepal_length", "sepal_width", "petal_length", "petal_width", "species"])
        for row, label in zip(x.tolist(), y.tolist(), strict=True):
            writer.writerow([*row, label])


def base_config(
    src: Path, slug: str = "iris", parameters: tuple[str, ...] = ("features",), **extra: Any
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "schema_version": 1,
        "model": {"name": slug.title(), "slug": slug, "version": 1, "type": "PYTHON"},
        "code": {"src_dir": str(src)},
        "rest": {
            "parameters": [{"name": n, "position": i + 1, "description": f"the {n}"} for i, n in enumerate(parameters)]
        },
    }
    config.update(extra)
    return config


def bus_connection(port: int) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": port, "heartbeat_s": 10}


def prediction_bus(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "input_keys": [f"{name}.in"],
        "output_keys": [f"{name}.out"],
        "queue": f"{name}.predict",
        "dead_letter_queue": f"{name}.dead",
        **extra,
    }
