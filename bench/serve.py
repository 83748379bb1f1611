"""Benchmark of the model server against baselines run in the same process tree.

- REST: requests/s and p50/p99 latency of ``POST /v2/models/iris/predict`` against a bare ASGI
  endpoint (same uvicorn, same settings) calling the same predict(). Load comes from ``wrk`` in its
  own process. Goals: >= 0.8x the bare throughput, p99 overhead <= 2 ms.
- Bus: predictions/s through RabbitMQ with publisher confirms and acks against a raw pika loop with
  the same settings (prefetch, confirms, ack after confirm). Goal: >= 0.8x.
- Idle RSS of the server without a model. Goal: <= 80 MB.
- H2O: requests/s of the H2O example (``bundles/h2o-quality-gbm``, its JVM behind the server's
  pipe bridge) against the Python example (the same iris model as above) served by the same server
  in the same run. Goal: >= 0.8x (the JVM bridge must not be the bottleneck). Both servers are up
  at once and wrk alternates between them, the same settings for both; every wrk run is preceded by
  a 2 s warm-up run against the same server (both sides alike: it is what lets the JVM's JIT compile
  the scoring path before it is measured). Each round's figures go to stderr; the table keeps the
  round with the median ratio.

Run: ``python bench/serve.py`` (needs wrk and rabbitmq-server from Debian). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.platform.proc import free_port, port_open  # noqa: E402
from tests.platform.rabbitmq import RabbitNode  # noqa: E402
from tests.waiting import poll  # noqa: E402

PREDICT = textwrap.dedent("""
    import pickle


    def load(model_path):
        with open(model_path, "rb") as f:
            return pickle.load(f)


    def predict(model, features):
        return model.predict(features).tolist()
""")

IDLE_PREDICT = "def predict(model, x):\n    return x\n"

# The baseline: the least an ASGI server can do for the same prediction (no routing, no metrics,
# no validation, no thread pool).
BARE_APP = textwrap.dedent("""
    import pickle, sys
    import orjson
    sys.path.insert(0, sys.argv[1])
    from predict import predict
    with open(sys.argv[2], "rb") as f:
        MODEL = pickle.load(f)

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        values = orjson.loads(body)
        result = orjson.dumps(predict(MODEL, values["features"]))
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": result})

    if __name__ == "__main__":
        import uvicorn
        uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[3]), lifespan="off",
                    access_log=False, log_level="warning")
""")

# The bus baseline: a raw pika consumer with the runtime's settings.
RAW_CONSUMER = textwrap.dedent("""
    import json, pickle, sys
    import pika
    sys.path.insert(0, sys.argv[1])
    from predict import predict
    with open(sys.argv[2], "rb") as f:
        MODEL = pickle.load(f)
    port, queue, out_key, prefetch = int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6])
    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port))
    channel = connection.channel()
    channel.confirm_delivery()
    channel.basic_qos(prefetch_count=prefetch)
    props = pika.BasicProperties(content_type="application/json", delivery_mode=2)
    for method, properties, body in channel.consume(queue):
        values = json.loads(body)
        result = json.dumps({"model": "iris", "version": 1,
                             "result": predict(MODEL, values["features"])}).encode()
        channel.basic_publish("amq.topic", out_key, body=result, properties=props)
        channel.basic_ack(method.delivery_tag)
""")

WRK_POST = 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [==[{}]==]\n'


def iris_model(path: Path) -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    data = load_iris()
    path.write_bytes(pickle.dumps(LogisticRegression(max_iter=500).fit(data.data, data.target)))


def runtime_env(root: Path) -> dict[str, str]:
    """A directory holding ``aiar_runtime`` as images have it; returns the env to run it."""
    package = root / "aiar_runtime"
    if not package.exists():
        shutil.copytree(REPO / "generator" / "runtime", package, ignore=shutil.ignore_patterns("__pycache__"))
    return {**os.environ, "PYTHONPATH": str(root), "AIAR_MODEL_DIR": str(root / "models")}


def _config(src: Path, model_file: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "model": {"name": "Iris", "slug": "iris", "version": 1, "type": "PYTHON"},
        "code": {"src_dir": str(src)},
        "model_file": model_file,
        "rest": {"parameters": [{"name": "features", "position": 1}]},
        **extra,
    }


def start_runtime(work: Path, config: dict[str, Any], port: int, *args: str) -> subprocess.Popen[bytes]:
    path = work / f"config-{port}.json"
    path.write_text(json.dumps(config))
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiar_runtime",
            "serve",
            "--config",
            str(path),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *args,
        ],
        env=runtime_env(work),
        stdout=subprocess.DEVNULL,
        stderr=(work / "server.log").open("ab"),
    )


def wait_http(url: str, process: subprocess.Popen[bytes]) -> None:
    def up() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        return httpx.get(url, timeout=1).status_code < 500

    poll(url, up, timeout=60, retry_on=(httpx.HTTPError,))


def stop_process(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    assert match, text
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk_post(
    url: str,
    body: str,
    seconds: int,
    connections: int,
    work: Path,
    cpu: Callable[[], float] | None = None,
    warmup: bool = True,
) -> dict[str, float]:
    """wrk's requests/s, p50 and p99 (ms) after a 2 s warm-up (unless ``warmup`` is false), and
    ``wrk_cpu_us``: wrk's own CPU time per request; with ``cpu`` (a reading of the server's CPU
    seconds), also ``cpu_us``: the server's CPU time per request of the measured run. The totals
    behind them too (``requests``, ``seconds``, ``cpu_s``, ``wrk_cpu_s``), to add runs up."""
    script = work / "post.lua"
    script.write_text(WRK_POST.format(body))
    args = ["wrk", "-t1", f"-c{connections}", "--latency", "-s", str(script), url]
    if warmup:
        subprocess.run([*args[:-1], "-d2s", url], check=True, capture_output=True)
    before, wrk_before = cpu() if cpu is not None else 0.0, _children_cpu_s()
    out = subprocess.run([*args[:-1], f"-d{seconds}s", url], check=True, capture_output=True, text=True).stdout
    used, wrk_used = cpu() - before if cpu is not None else 0.0, _children_cpu_s() - wrk_before
    if "Non-2xx" in out:
        raise RuntimeError(f"errors under load:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    total = max(int(re.search(r"(\d+) requests in", out).group(1)), 1)  # type: ignore[union-attr]
    result = {
        "rps": rps,
        "p50": p50,
        "p99": p99,
        "wrk_cpu_us": wrk_used / total * 1e6,
        "requests": float(total),
        "seconds": total / rps if rps else float(seconds),
        "wrk_cpu_s": wrk_used,
    }
    if cpu is not None:
        result["cpu_us"] = used / total * 1e6
        result["cpu_s"] = used
    return result


def _children_cpu_s() -> float:
    """User and system CPU seconds of this process's finished (waited-for) children: wrk's runs."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_rest(work: Path, src: Path, model: Path, seconds: int, rounds: int) -> dict[str, dict[str, float]]:
    """Both servers up at once, wrk runs alternating between them; the median round is kept.

    Alternating spreads whatever else the machine is doing over both sides of each ratio.
    """
    body = json.dumps({"features": [[5.1, 3.5, 1.4, 0.2]]})
    bare_port, port = free_port(), free_port()
    (work / "bare_app.py").write_text(BARE_APP)
    bare = subprocess.Popen(
        [sys.executable, str(work / "bare_app.py"), str(src), str(model), str(bare_port)], stderr=subprocess.DEVNULL
    )
    server = start_runtime(work, _config(src, model.name), port)
    runs: dict[str, list[dict[str, float]]] = {"bare": [], "aiar": []}
    try:
        poll("the bare app", lambda: port_open(bare_port), timeout=30)
        wait_http(f"http://127.0.0.1:{port}/v2/health/live", server)
        poll("ready", lambda: httpx.get(f"http://127.0.0.1:{port}/v2/health/ready").status_code == 200, timeout=60)
        urls = {
            "bare": f"http://127.0.0.1:{bare_port}/predict",
            "aiar": f"http://127.0.0.1:{port}/v2/models/iris/predict",
        }
        for _ in range(rounds):
            for name, url in urls.items():
                runs[name].append(wrk_post(url, body, seconds, 16, work))
    finally:
        stop_process(bare)
        stop_process(server)
    ratios = [a["rps"] / b["rps"] for a, b in zip(runs["aiar"], runs["bare"], strict=True)]
    median = sorted(range(rounds), key=lambda i: ratios[i])[rounds // 2]
    return {"bare": runs["bare"][median], "aiar": runs["aiar"][median]}


def _h2o_config() -> dict[str, Any]:
    from generator.pipeline import server_config_for

    bundle = REPO / "bundles" / "h2o-quality-gbm"
    config = server_config_for(bundle, None).model_dump(mode="json")
    config["code"]["src_dir"] = str(bundle / "src")
    return config


def bench_h2o(work: Path, src: Path, model: Path, seconds: int, rounds: int) -> dict[str, dict[str, float]]:
    """The H2O example and the Python example, both on the aiar server; alternating wrk rounds."""
    python_port, h2o_port = free_port(), free_port()
    python = start_runtime(work, _config(src, model.name), python_port)
    h2o = start_runtime(work, _h2o_config(), h2o_port)
    bodies = {
        "python": json.dumps({"features": [[5.1, 3.5, 1.4, 0.2]]}),
        "h2o": json.dumps({"temperature": 241.0, "pressure": 880.0, "cycle_time": 29.5}),
    }
    urls = {
        "python": f"http://127.0.0.1:{python_port}/v2/models/iris/predict",
        "h2o": f"http://127.0.0.1:{h2o_port}/v2/models/h2o-quality-gbm/predict",
    }
    runs: dict[str, list[dict[str, float]]] = {"python": [], "h2o": []}
    try:
        for process, port in ((python, python_port), (h2o, h2o_port)):
            wait_http(f"http://127.0.0.1:{port}/v2/health/live", process)

            def ready(url: str = f"http://127.0.0.1:{port}/v2/health/ready") -> bool:
                return httpx.get(url).status_code == 200

            poll("ready", ready, timeout=120)
        for _ in range(rounds):
            for name, url in urls.items():
                runs[name].append(wrk_post(url, bodies[name], seconds, 16, work))
    finally:
        stop_process(python)
        stop_process(h2o)
    ratios = [a["rps"] / b["rps"] for a, b in zip(runs["h2o"], runs["python"], strict=True)]
    for i, ratio in enumerate(ratios):  # every round, so that the spread behind the median shows
        python_rps, h2o_rps = runs["python"][i]["rps"], runs["h2o"][i]["rps"]
        print(f"h2o round {i + 1}: python {python_rps:.0f}/s, h2o {h2o_rps:.0f}/s, {ratio:.2f}x", file=sys.stderr)
    median = sorted(range(rounds), key=lambda i: ratios[i])[rounds // 2]
    return {"python": runs["python"][median], "h2o": runs["h2o"][median]}


def _fill(node: RabbitNode, queue: str, out_key: str, count: int) -> str:
    import pika

    collector = f"{queue}.collector"
    connection = pika.BlockingConnection(node.parameters())
    channel = connection.channel()
    for name in (queue, collector):
        channel.queue_declare(name, durable=True)
        channel.queue_purge(name)
    channel.queue_bind(queue, "amq.topic", routing_key=f"{queue}.in")
    channel.queue_bind(collector, "amq.topic", routing_key=out_key)
    props = pika.BasicProperties(delivery_mode=2, content_type="application/json")
    body = json.dumps({"features": [[5.1, 3.5, 1.4, 0.2]]}).encode()
    for _ in range(count):
        channel.basic_publish("amq.topic", f"{queue}.in", body, props)
    connection.close()
    return collector


def _drain_rate(node: RabbitNode, collector: str, count: int) -> float:
    """Predictions/s from the first result to the last (startup and model load excluded)."""
    poll("the first result", lambda: node.queue_depth(collector) > 0, timeout=60, interval=0.01)
    first = time.perf_counter()
    start_depth = node.queue_depth(collector)
    poll("all results", lambda: node.queue_depth(collector) >= count, timeout=300, interval=0.02)
    return (count - start_depth) / (time.perf_counter() - first)


def bench_bus(work: Path, src: Path, model: Path, count: int, rounds: int) -> dict[str, float]:
    """Alternating rounds (raw pika loop, then the runtime) on one broker; the median ratio kept."""
    node = RabbitNode.isolated(work / "rabbitmq")
    node.start()
    prefetch = 16
    (work / "raw_consumer.py").write_text(RAW_CONSUMER)
    bus = {
        "input_keys": ["aiar.in"],
        "output_keys": ["aiar.out"],
        "queue": "aiar",
        "dead_letter_queue": "aiar.dead",
        "prefetch": prefetch,
    }
    config = _config(src, model.name, message_bus={"host": "127.0.0.1", "port": node.port}, prediction_bus=bus)
    runs: list[tuple[float, float]] = []
    try:
        for _ in range(rounds):
            collector = _fill(node, "raw", "raw.out", count)
            raw = subprocess.Popen(
                [
                    sys.executable,
                    str(work / "raw_consumer.py"),
                    str(src),
                    str(model),
                    str(node.port),
                    "raw",
                    "raw.out",
                    str(prefetch),
                ]
            )
            try:
                bare = _drain_rate(node, collector, count)
            finally:
                stop_process(raw)
            collector = _fill(node, "aiar", "aiar.out", count)
            server = start_runtime(work, config, free_port())
            try:
                runs.append((bare, _drain_rate(node, collector, count)))
            finally:
                stop_process(server)
    finally:
        node.stop(epmd=True)
    bare, aiar = sorted(runs, key=lambda run: run[1] / run[0])[rounds // 2]
    return {"bare": bare, "aiar": aiar}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def bench_idle_rss(work: Path) -> float:
    src = work / "idle" / "src"
    src.mkdir(parents=True)
    (src / "predict.py").write_text(IDLE_PREDICT)
    port = free_port()
    server = start_runtime(work, _config(src, None), port)
    try:
        poll("the idle server", lambda: port_open(port), timeout=30)
        wait_http(f"http://127.0.0.1:{port}/v2/health/ready", server)
        httpx.post(f"http://127.0.0.1:{port}/v2/models/iris/predict", json={"features": 1})
        httpx.get(f"http://127.0.0.1:{port}/metrics")
        time.sleep(1)
        return rss_mb(server.pid)
    finally:
        stop_process(server)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per REST run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating REST rounds")
    parser.add_argument("--messages", type=int, default=5000, help="messages per bus run")
    parser.add_argument("--only", choices=("all", "h2o"), default="all", help="run every measure, or only H2O's")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aiar-bench-") as tmp:
        work = Path(tmp)
        src = work / "bundle" / "src"
        src.mkdir(parents=True)
        (src / "predict.py").write_text(PREDICT)
        model = work / "bundle" / "model.pkl"
        iris_model(model)
        h2o = bench_h2o(work, src, model, args.seconds, args.rounds)
        h2o_row = (
            f"H2O REST requests/s vs the Python example (same server; median of {args.rounds})",
            f"{h2o['python']['rps']:.0f}",
            f"{h2o['h2o']['rps']:.0f}",
            f"{h2o['h2o']['rps'] / h2o['python']['rps']:.2f}x",
            ">= 0.8x",
        )
        if args.only == "h2o":
            _print_table([h2o_row])
            return 0
        rest = bench_rest(work, src, model, args.seconds, args.rounds)
        bus = bench_bus(work, src, model, args.messages, args.rounds)
        rss = bench_idle_rss(work)
    bare, aiar = rest["bare"], rest["aiar"]
    rows = [
        (
            f"REST requests/s (wrk, 16 connections; median of {args.rounds} rounds)",
            f"{bare['rps']:.0f}",
            f"{aiar['rps']:.0f}",
            f"{aiar['rps'] / bare['rps']:.2f}x",
            ">= 0.8x",
        ),
        (
            "REST p50 latency",
            f"{bare['p50']:.2f} ms",
            f"{aiar['p50']:.2f} ms",
            f"{aiar['p50'] / bare['p50']:.2f}x ({aiar['p50'] - bare['p50']:+.2f} ms)",
            "",
        ),
        (
            "REST p99 latency",
            f"{bare['p99']:.2f} ms",
            f"{aiar['p99']:.2f} ms",
            f"{aiar['p99'] / bare['p99']:.2f}x ({aiar['p99'] - bare['p99']:+.2f} ms)",
            "overhead <= 2 ms",
        ),
        (
            f"bus predictions/s (confirms + acks, {args.messages} msgs; median of {args.rounds})",
            f"{bus['bare']:.0f}",
            f"{bus['aiar']:.0f}",
            f"{bus['aiar'] / bus['bare']:.2f}x",
            ">= 0.8x",
        ),
        ("idle RSS, no model", "", f"{rss:.1f} MB", "", "<= 80 MB"),
        h2o_row,
    ]
    _print_table(rows)
    return 0


def _print_table(rows: Sequence[tuple[str, ...]]) -> None:
    print("| measure | baseline | aiar | ratio | goal |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    sys.exit(main())
