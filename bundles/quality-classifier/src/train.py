"""Train the part-quality classifier from a CSV of past cycles.

Columns: temperature, pressure, cycle_time, and label ("OK" or "NOK").
"""

import csv
import json
import pickle

from sklearn.ensemble import RandomForestClassifier

FEATURES = ("temperature", "pressure", "cycle_time")


def _records(dataset):
    with open(dataset, encoding="utf-8", newline="") as stream:
        if str(dataset).endswith(".jsonl"):
            return [json.loads(line) for line in stream if line.strip()]
        return list(csv.DictReader(stream))


def train(dataset, hyperparameters, model_path):
    records = _records(dataset)
    if not records:
        raise ValueError("the dataset is empty")
    features = [[float(r[name]) for name in FEATURES] for r in records]
    labels = [str(r["label"]) for r in records]
    model = RandomForestClassifier(
        n_estimators=int(hyperparameters.get("n_estimators", 50)),
        max_depth=int(hyperparameters.get("max_depth", 6)),
        random_state=int(hyperparameters.get("random_state", 0)),
    )
    model.fit(features, labels)
    with open(model_path, "wb") as out:
        pickle.dump(model, out)
    return {"rows": len(records), "classes": sorted(set(labels)), "train_accuracy": float(model.score(features, labels))}
