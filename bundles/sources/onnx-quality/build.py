"""Builds bundles/onnx-quality/src/quality_model.onnx: a scikit-learn pipeline trained on
bundles/datasets/quality_history.csv, converted to ONNX by skl2onnx.

    .venv/bin/python bundles/sources/onnx-quality/build.py

The bytes are reproducible (fixed seed, fixed opset, no timestamps in ONNX): a second run writes the
same file, and tests/unit/test_onnx_example.py checks it. Pinned: scikit-learn, skl2onnx and onnx
as in pyproject's dev extra.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
DATASET = REPO / "bundles" / "datasets" / "quality_history.csv"
TARGET = REPO / "bundles" / "onnx-quality" / "src" / "quality_model.onnx"
FEATURES = ("temperature", "pressure", "cycle_time")
OPSET = 17


def fit_pipeline(dataset: Path = DATASET) -> Any:
    """The scikit-learn pipeline the ONNX file is converted from (also what bench/onnx.py pickles)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    with dataset.open(newline="") as f:
        rows = list(csv.DictReader(f))
    x = [[float(row[name]) for name in FEATURES] for row in rows]
    y = [row["label"] for row in rows]
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=7)).fit(x, y)


def model_bytes(dataset: Path = DATASET) -> bytes:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    pipeline = fit_pipeline(dataset)
    onx = to_onnx(
        pipeline,
        initial_types=[("features", FloatTensorType([None, len(FEATURES)]))],
        options={id(pipeline.steps[-1][1]): {"zipmap": False}},
        target_opset={"": OPSET, "ai.onnx.ml": 3},
        naming="quality_",
    )
    onx.doc_string = ""
    onx.producer_version = ""
    return bytes(onx.SerializeToString())


def main() -> int:
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_bytes(model_bytes())
    print(f"wrote {TARGET.relative_to(REPO)} ({TARGET.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
