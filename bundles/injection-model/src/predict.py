"""Score injection-moulding cycles: a cycle is a defect when PCA cannot reconstruct it well.

`json_data` is one cycle ({"variable": value, ...}), a list of cycles, or either as a JSON string.
"""

import json
import pickle

import numpy as np


def load(model_path):
    with open(model_path, "rb") as stream:
        return pickle.load(stream)


def _rows(json_data):
    if isinstance(json_data, str):
        json_data = json.loads(json_data)
    return json_data if isinstance(json_data, list) else [json_data]


def predict(model, json_data):
    if model is None:
        raise RuntimeError("the model has not been trained yet")
    rows = _rows(json_data)
    missing = sorted({c for row in rows for c in model["columns"] if c not in row})
    if missing:
        raise ValueError(f"missing variables: {missing}")
    values = np.array([[float(row[c]) for c in model["columns"]] for row in rows])
    if model["scaler"] is not None:
        values = model["scaler"].transform(values)
    restored = model["pca"].inverse_transform(model["pca"].transform(values))
    errors = ((values - restored) ** 2).sum(axis=1)
    return [
        {"defect": bool(error > model["threshold"]), "score": float(error), "threshold": model["threshold"]}
        for error in errors
    ]
