"""Train the injection-moulding defect detector: PCA on healthy cycles, threshold on reconstruction error.

Hyperparameters (from manifest.json, passed through as written):
- n_comp_criteria: fraction of variance the kept components must explain (e.g. 0.95)
- scale: "True" to standardise each variable first
- cleansing: "extreme" drops rows with any value beyond 3 standard deviations before fitting
- algorithm: "SVD" (full SVD) or "RANDOMIZED"
"""

import json
import pickle

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler


def _flag(value):
    return str(value).strip().lower() in ("true", "1", "yes")


def _read(dataset):
    if str(dataset).endswith(".jsonl"):
        with open(dataset, encoding="utf-8") as lines:
            return pd.DataFrame([json.loads(line) for line in lines if line.strip()])
    return pd.read_csv(dataset)


def _cleanse(frame, how):
    if how != "extreme":
        return frame
    z = (frame - frame.mean()) / frame.std(ddof=0).replace(0, 1)
    return frame[(z.abs() <= 3).all(axis=1)]


def train(dataset, hyperparameters, model_path):
    frame = _read(dataset).select_dtypes(include=[np.number]).dropna()
    if frame.empty:
        raise ValueError("the dataset has no numeric rows to train on")
    frame = _cleanse(frame, hyperparameters.get("cleansing", "none"))
    columns = list(frame.columns)
    values = frame.to_numpy(dtype=float)
    scaler = StandardScaler().fit(values) if _flag(hyperparameters.get("scale", "True")) else None
    if scaler is not None:
        values = scaler.transform(values)
    solver = "randomized" if str(hyperparameters.get("algorithm", "SVD")).upper() == "RANDOMIZED" else "full"
    pca = PCA(n_components=float(hyperparameters.get("n_comp_criteria", 0.95)), svd_solver=solver)
    pca.fit(values)
    errors = _reconstruction_error(pca, values)
    threshold = float(np.percentile(errors, 99))
    model = {"columns": columns, "scaler": scaler, "pca": pca, "threshold": threshold}
    with open(model_path, "wb") as out:
        pickle.dump(model, out)
    return {
        "rows": int(values.shape[0]),
        "variables": len(columns),
        "components": int(pca.n_components_),
        "explained_variance": float(pca.explained_variance_ratio_.sum()),
        "threshold": threshold,
    }


def _reconstruction_error(pca, values):
    restored = pca.inverse_transform(pca.transform(values))
    return ((values - restored) ** 2).sum(axis=1)
