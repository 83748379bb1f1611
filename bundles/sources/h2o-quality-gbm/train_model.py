"""Train the H2O example's model and export it as a MOJO: ``bundles/h2o-quality-gbm/src/model.zip``.

A GBM on ``bundles/datasets/quality_history.csv`` (the same process data as the PYTHON example),
trained by a local H2O started by the PyPI ``h2o`` package (it carries the H2O jar; needs Java).
Run from the repository root: ``.venv/bin/python bundles/sources/h2o-quality-gbm/train_model.py``
(``java/h2o-bridge/build.sh`` runs it).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import h2o
from h2o.estimators import H2OGradientBoostingEstimator

REPO = Path(__file__).resolve().parents[3]
DATASET = REPO / "bundles" / "datasets" / "quality_history.csv"
TARGET = REPO / "bundles" / "h2o-quality-gbm" / "src" / "model.zip"
FEATURES = ["temperature", "pressure", "cycle_time"]


def main() -> int:
    h2o.init(ip="127.0.0.1", port=54321, nthreads=1, max_mem_size="512M", bind_to_localhost=True)
    try:
        frame = h2o.import_file(str(DATASET))
        frame["label"] = frame["label"].asfactor()
        # seed + one thread: the same data gives the same trees, so a rebuild is a no-op in review
        model = H2OGradientBoostingEstimator(ntrees=40, max_depth=4, learn_rate=0.1, seed=7)
        model.train(x=FEATURES, y="label", training_frame=frame)
        with tempfile.TemporaryDirectory() as tmp:
            mojo = Path(model.download_mojo(path=tmp))
            TARGET.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(mojo, TARGET)
        print(f"wrote {TARGET.relative_to(REPO)} ({TARGET.stat().st_size} bytes)")
    finally:
        h2o.cluster().shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
