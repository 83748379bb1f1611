"""Benchmark: one model served by aiar's model server as ONNX (no code, onnxruntime) and as the
pickled scikit-learn pipeline it was converted from (``predict.py`` calling the pipeline).

The model is the onnx-quality example's (``bundles/sources/onnx-quality/build.py``: StandardScaler +
LogisticRegression on ``bundles/datasets/quality_history.csv``): the ONNX side serves the committed
``quality_model.onnx``, the scikit-learn side pickles the pipeline ``fit_pipeline`` fits, the same
fit the ONNX file was converted from. Both servers take the same typed request (``features``, FP32
``[-1, 3]``) on the simple route and on the OIP route, with the same body; both compute labels and
probabilities. Both are up at once and wrk alternates between them (2 s warm-up before each run);
the table keeps the round with the median ratio. Goal (issue 11): ONNX >= 2x the pickled model's
requests/s.

Run: ``python bench/onnx.py [--seconds N] [--rounds N] [--rows N]`` (needs wrk). Markdown on stdout.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pickle
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from serve import start_runtime, stop_process, wait_http, wrk_post  # noqa: E402

from generator.pipeline import server_config_for  # noqa: E402
from tests.platform.proc import free_port  # noqa: E402
from tests.waiting import poll  # noqa: E402

BUNDLE = REPO / "bundles" / "onnx-quality"
SKLEARN_PREDICT = textwrap.dedent("""
    import pickle


    def load(model_path):
        with open(model_path, "rb") as f:
            return pickle.load(f)


    def predict(model, features):
        return {"label": model.predict(features).tolist(), "probabilities": model.predict_proba(features).tolist()}
""")


def _pipeline() -> Any:
    spec = importlib.util.spec_from_file_location("onnx_build", REPO / "bundles/sources/onnx-quality/build.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.fit_pipeline()


def _configs(work: Path) -> dict[str, dict[str, Any]]:
    onnx = server_config_for(BUNDLE, None).model_dump(mode="json")
    onnx["code"]["src_dir"] = str(BUNDLE / "src")  # the model file is found next to the code
    src = work / "sklearn" / "src"
    src.mkdir(parents=True)
    (src / "predict.py").write_text(SKLEARN_PREDICT)
    model = work / "sklearn" / "model.pkl"
    model.write_bytes(pickle.dumps(_pipeline()))
    sklearn = json.loads(json.dumps(onnx))
    sklearn["runner"] = "code"
    sklearn["code"]["src_dir"] = str(src)
    sklearn["model_file"] = model.name
    return {"sklearn": sklearn, "onnx": onnx}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    parser.add_argument("--rows", type=int, default=1, help="rows per request")
    args = parser.parse_args()
    rows = [[241.0, 880.0, 29.5]] * args.rows
    with tempfile.TemporaryDirectory(prefix="aiar-bench-onnx-") as tmp:
        work = Path(tmp)
        configs = _configs(work)
        slug = configs["onnx"]["model"]["slug"]
        ports = {name: free_port() for name in configs}
        servers = {name: start_runtime(work, config, ports[name]) for name, config in configs.items()}
        bodies = {
            "simple route": json.dumps({"features": rows}),
            "OIP route": json.dumps(
                {"inputs": [{"name": "features", "datatype": "FP32", "shape": [len(rows), 3], "data": rows}]}
            ),
        }
        paths = {"simple route": f"/v2/models/{slug}/predict", "OIP route": f"/v2/models/{slug}/infer"}
        runs: dict[str, dict[str, list[dict[str, float]]]] = {route: {n: [] for n in configs} for route in bodies}
        try:
            for name, server in servers.items():
                base = f"http://127.0.0.1:{ports[name]}"
                wait_http(f"{base}/v2/health/live", server)

                def ready(url: str = f"{base}/v2/health/ready") -> bool:
                    return httpx.get(url).status_code == 200

                poll(f"{name} ready", ready, timeout=120)
                for route, body in bodies.items():  # both answer, and alike
                    answer = httpx.post(base + paths[route], content=body, headers={"content-type": "application/json"})
                    assert answer.status_code == 200, (name, route, answer.text)
            for _ in range(args.rounds):
                for route, body in bodies.items():
                    for name in configs:
                        runs[route][name].append(
                            wrk_post(f"http://127.0.0.1:{ports[name]}{paths[route]}", body, args.seconds, 16, work)
                        )
        finally:
            for server in servers.values():
                stop_process(server)
    print(f"{args.rows} row(s) per request; wrk 16 connections, {args.seconds} s; median of {args.rounds} rounds\n")
    print("| route | pickled scikit-learn req/s | ONNX req/s | ratio | p99 sklearn / ONNX | goal |")
    print("|---|---:|---:|---:|---:|---|")
    for route, by_name in runs.items():
        ratios = [o["rps"] / s["rps"] for o, s in zip(by_name["onnx"], by_name["sklearn"], strict=True)]
        for i, ratio in enumerate(ratios):
            print(f"{route} round {i + 1}: {ratio:.2f}x", file=sys.stderr)
        median = sorted(range(args.rounds), key=lambda i: ratios[i])[args.rounds // 2]
        sk, ox = by_name["sklearn"][median], by_name["onnx"][median]
        print(
            f"| {route} | {sk['rps']:.0f} | {ox['rps']:.0f} | {ox['rps'] / sk['rps']:.2f}x "
            f"| {sk['p99']:.2f} / {ox['p99']:.2f} ms | >= 2x |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
