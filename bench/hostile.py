"""Hostile requests against the model server: how fast they are refused, and what they cost others.

The server runs the ONNX example (``bundles/onnx-quality``: typed from its graph) and the iris
example of bench/serve.py (untyped), one at a time. For each: the latency of ``GET /v2/health/live``
with nothing else going on (the baseline), then again while a second client sends the shape attacks
of issue 11 back to back; the attacks' own latencies; the server's RSS before and after.
Goals: attacks answered 4xx in < 50 ms, the probe under attack < 50 ms, RSS within 20 MB of idle.

Run: ``python bench/hostile.py [--rounds 200]``. Prints a markdown table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from serve import PREDICT, _config, iris_model, rss_mb, start_runtime, stop_process, wait_http  # noqa: E402

from tests.platform.proc import free_port  # noqa: E402


def attacks(name: str) -> list[bytes]:
    def body(*inputs: dict[str, Any]) -> bytes:
        return json.dumps({"inputs": list(inputs)}).encode()

    return [
        body({"name": name, "shape": [10_000_000, 0], "datatype": "FP32", "data": []}),
        body({"name": name, "shape": [1] * 5000, "datatype": "FP32", "data": [1]}),
        body({"name": name, "shape": [2**40], "datatype": "FP32", "data": [1]}),
        b'{"inputs": [{"name": "' + name.encode() + b'", "shape": [1], "datatype": "FP64", "data": [NaN]}]}',
        b'{"inputs": [{"name": "'
        + name.encode()
        + b'", "shape": [1], "datatype": "FP32", "data": '
        + b"[" * 900
        + b"1"
        + b"]" * 900
        + b"}]}",
        body({"name": name, "shape": [10_000_000, 3], "datatype": "FP32", "data": [1, 2, 3]}),
    ]


def probe_latencies(url: str, count: int) -> list[float]:
    with httpx.Client(base_url=url, timeout=30) as client:
        client.get("/v2/health/live")
        out = []
        for _ in range(count):
            started = time.perf_counter()
            client.get("/v2/health/live")
            out.append((time.perf_counter() - started) * 1000)
            time.sleep(0.002)
        return out


def under_attack(url: str, path: str, bodies: list[bytes], rounds: int) -> tuple[list[float], list[float], set[int]]:
    probes: list[float] = []
    stop = threading.Event()

    def probe() -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            while not stop.is_set():
                started = time.perf_counter()
                client.get("/v2/health/live")
                probes.append((time.perf_counter() - started) * 1000)
                time.sleep(0.002)

    thread = threading.Thread(target=probe)
    thread.start()
    answers: list[float] = []
    statuses: set[int] = set()
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(rounds):
            for body in bodies:
                started = time.perf_counter()
                statuses.add(client.post(path, content=body).status_code)
                answers.append((time.perf_counter() - started) * 1000)
    stop.set()
    thread.join()
    return probes, answers, statuses


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def run(work: Path, name: str, config: dict[str, Any], slug: str, parameter: str, rounds: int) -> list[str]:
    port = free_port()
    process = start_runtime(work, config, port)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/v2/health/ready", process)
        idle_rss = rss_mb(process.pid)
        idle = probe_latencies(url, rounds * 3)
        probes, answers, statuses = under_attack(url, f"/v2/models/{slug}/infer", attacks(parameter), rounds)
        grown = rss_mb(process.pid) - idle_rss
    finally:
        stop_process(process)
    return [
        f"| {name}: health probe p50 / p99 / max, idle (baseline) | {statistics.median(idle):.2f} / "
        f"{p99(idle):.2f} / {max(idle):.2f} ms |  |  |",
        f"| {name}: health probe p50 / p99 / max, under attack | {statistics.median(probes):.2f} / "
        f"{p99(probes):.2f} / {max(probes):.2f} ms | p99 {p99(probes) / p99(idle):.2f}x idle | < 50 ms |",
        f"| {name}: {len(answers)} attacks, p50 / p99 / max, statuses {sorted(statuses)} | "
        f"{statistics.median(answers):.2f} / {p99(answers):.2f} / {max(answers):.2f} ms |  | < 50 ms, 4xx |",
        f"| {name}: RSS, idle then after the attacks | {idle_rss:.1f} MB, +{grown:.1f} MB |  | < +20 MB |",
    ]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aiar-bench-hostile-") as tmp:
        work = Path(tmp)
        onnx = work / "onnx-quality"
        shutil.copytree(REPO / "bundles" / "onnx-quality", onnx)
        onnx_config = {
            **_config(onnx / "src", "quality_model.onnx"),
            "model": {"name": "ONNX Quality", "slug": "onnx-quality", "version": 1, "type": "PYTHON"},
            "runner": "onnx",
        }
        onnx_config["rest"]["parameters"][0]["name"] = "features"
        src = work / "iris"
        src.mkdir()
        (src / "predict.py").write_text(PREDICT)
        iris_model(src / "model.pkl")
        rows = ["| measure | value | ratio | goal |", "|---|---|---|---|"]
        rows += run(work, "ONNX (typed)", onnx_config, "onnx-quality", "features", args.rounds)
        rows += run(work, "iris (untyped)", _config(src, "model.pkl"), "iris", "features", args.rounds)
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
