"""aiar's model server beside its peers on the same scikit-learn model, in one interleaved run.

Servers (all started fresh for every round, one at a time, in an order rotated per round):
- ``bare``: a bare Starlette app under uvicorn (one route, the same settings as aiar's uvicorn)
  calling the same ``predict()``. Every ratio is against it, in the same round.
- ``aiar``: aiar's server, its simple route ``POST /v2/models/{m}/predict``.
- ``aiar-oip``: the same server, its OIP v2 route ``POST /v2/models/{m}/infer``.
- ``aiar-2proc``: the simple route with ``--processes 2`` (compared with ``aiar``: one process).
- ``bare-2proc``: two ``bare`` processes (inline) on one port with ``SO_REUSEPORT``, as aiar's
  ``--processes 2`` does: what two processes give a bare server on this machine (against
  ``bare-inline``), the measured ceiling of ``aiar-2proc``'s gain. Never a round's baseline.
- ``mlserver-pw0`` / ``mlserver-pw1``: MLServer with ``mlserver-sklearn`` (``parallel_workers`` 0:
  inference in the server process; 1: in one worker process), its OIP v2 route, asking for the
  same outputs that ``predict()`` computes (``predict``, and ``predict_proba`` for the classifier).
- ``bentoml``: a BentoML service whose API calls the same ``predict()``.

Per server and round: cold start (process start to the first 200 on the measured route, while the
servers started before it idle) and idle RSS (the whole process tree, 1 s after that first answer).
Then, with all of the round's servers up, a 2 s warm-up of each and the load: ``wrk`` (1 thread) on
one server at a time in turns of ``--slice`` seconds, until each has had ``--seconds``. Turns this
short put whatever else the host does (this one's speed drifts by a third over minutes) on every
server of the round alike. From the turns: requests/s, p50 and p99 (the median turn's), and the
CPU time a request costs the server (user and system time of its process tree, from /proc) and
wrk; from these, the most ``--processes 2`` can give on this machine, where wrk shares the CPUs.
Tables: medians over the rounds; a ratio is the median of the per-round ratios.

MLServer and BentoML have heavy dependencies that conflict with aiar's: each gets its own venv
under ``~/.cache/aiar-bench/`` (pinned; created on first use, reused after), never the project's.

Run: ``python bench/peers.py [--model quality|iris] [--rounds 3] [--seconds 10]`` (needs wrk).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from serve import PREDICT as IRIS_PREDICT
from serve import iris_model, rss_mb, start_runtime, stop_process, wrk_post

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.platform.proc import free_port  # noqa: E402

MLSERVER_VERSION = "1.7.1"
BENTOML_VERSION = "1.4.40"
COLD_START_TIMEOUT_S = 180.0

BARE_STARLETTE = textwrap.dedent("""
    import pickle, signal, socket, subprocess, sys
    if sys.argv[4] == "2proc":  # two inline processes on one port (SO_REUSEPORT), as aiar's --processes 2
        children = [subprocess.Popen([sys.executable, *sys.argv[:4], "reuseport"]) for _ in range(2)]
        signal.signal(signal.SIGTERM, lambda *_: [c.terminate() for c in children])
        for child in children:
            child.wait()
        sys.exit(0)
    import orjson
    import uvicorn
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import Response
    from starlette.routing import Route
    sys.path.insert(0, sys.argv[1])
    from predict import predict
    with open(sys.argv[2], "rb") as f:
        MODEL = pickle.load(f)

    async def inline(request):
        values = orjson.loads(await request.body())
        return Response(orjson.dumps(predict(MODEL, **values)), media_type="application/json")

    async def threads(request):
        values = orjson.loads(await request.body())
        result = await run_in_threadpool(predict, MODEL, **values)
        return Response(orjson.dumps(result), media_type="application/json")

    endpoint = threads if sys.argv[4] == "threads" else inline
    app = Starlette(routes=[Route("/predict", endpoint, methods=["POST"])])
    settings = dict(lifespan="off", access_log=False, log_config=None, timeout_graceful_shutdown=10)
    if sys.argv[4] == "reuseport":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", int(sys.argv[3])))
        sock.listen(2048)
        uvicorn.Server(uvicorn.Config(app, **settings)).run(sockets=[sock])
    else:
        uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[3]), **settings)
""")

BENTO_SERVICE = textwrap.dedent("""
    import os, pickle, sys
    from typing import Any
    import bentoml
    sys.path.insert(0, os.environ["PEER_SRC"])
    from predict import predict as user_predict

    @bentoml.service(workers=1)
    class Model:
        def __init__(self) -> None:
            with open(os.environ["PEER_MODEL"], "rb") as f:
                self.model = pickle.load(f)

        @bentoml.api
        def predict(self, {signature}) -> Any:
            return user_predict(self.model, {arguments})
""")


@dataclass(frozen=True)
class Model:
    """A model, the code that serves it, and one request per kind of route."""

    slug: str
    src: Path
    parameters: tuple[tuple[str, str], ...]
    """(name, Python annotation) in predict()'s order."""
    train: Callable[[Path], None]
    simple: dict[str, Any]
    oip: dict[str, Any]
    mlserver: dict[str, Any]


def _quality(work: Path) -> Model:
    bundle = REPO / "bundles" / "quality-classifier"
    src = bundle / "src"

    def train(path: Path) -> None:  # as the example's training Job does: its train.py, its hyperparameters
        sys.path.insert(0, str(src))
        try:
            import train as example_train  # type: ignore[import-not-found]
        finally:
            sys.path.remove(str(src))
        manifest = json.loads((bundle / "manifest.json").read_text())
        hyperparameters = manifest["modelData"]["payload"]["hyperparameters"]
        example_train.train(REPO / "bundles" / "datasets" / "quality_history.csv", hyperparameters, path)

    values = {"temperature": 241.0, "pressure": 880.0, "cycle_time": 29.5}
    return Model(
        slug="quality-classifier",
        src=src,
        parameters=tuple((name, "float") for name in values),
        train=train,
        simple=values,
        oip={"inputs": [{"name": k, "shape": [1], "datatype": "FP64", "data": [v]} for k, v in values.items()]},
        mlserver={
            "inputs": [{"name": "input-0", "shape": [1, 3], "datatype": "FP64", "data": list(values.values())}],
            # predict() computes both: the label and its probability
            "outputs": [{"name": "predict"}, {"name": "predict_proba"}],
        },
    )


def _iris(work: Path) -> Model:
    src = work / "iris-src"
    src.mkdir(parents=True, exist_ok=True)
    (src / "predict.py").write_text(IRIS_PREDICT)
    row = [5.1, 3.5, 1.4, 0.2]
    return Model(
        slug="iris",
        src=src,
        parameters=(("features", "list[list[float]]"),),
        train=iris_model,
        simple={"features": [row]},
        oip={"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP64", "data": row}]},
        mlserver={
            "inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": row}],
            "outputs": [{"name": "predict"}],
        },
    )


MODELS = {"quality": _quality, "iris": _iris}


# --- the peers' venvs ------------------------------------------------------------------------------


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aiar-bench"


def _same_as_ours(*names: str) -> list[str]:
    """Pins of what the model's pickle needs, at the versions the project's venv has (it trains the model)."""
    return [f"{name}=={importlib.metadata.version(name)}" for name in names]


def peer_requirements() -> dict[str, list[str]]:
    return {
        "mlserver": [
            f"mlserver=={MLSERVER_VERSION}",
            f"mlserver-sklearn=={MLSERVER_VERSION}",
            # uvloop 0.22 breaks MLServer 1.7.1's inference workers (parallel_workers >= 1: "There is no
            # current event loop", SeldonIO/MLServer#2286, unreleased fix in #2285): the last one that works
            "uvloop==0.21.0",
            *_same_as_ours("scikit-learn", "numpy"),
        ],
        "bentoml": [f"bentoml=={BENTOML_VERSION}", *_same_as_ours("scikit-learn", "numpy")],
    }


def peer_venv(name: str, requirements: Sequence[str]) -> Path:
    """The bin/ directory of a venv holding exactly ``requirements``; built on first use, then reused."""
    key = hashlib.sha256("\n".join([sys.version, *requirements]).encode()).hexdigest()[:12]
    venv = cache_root() / f"{name}-{key}"
    done = venv / ".complete"
    if not done.is_file():
        print(f"creating {venv} ({' '.join(requirements)}) ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, *requirements], check=True)
        done.write_text("\n".join(requirements) + "\n")
    return venv / "bin"


# --- servers -------------------------------------------------------------------------------------


@dataclass
class Started:
    process: subprocess.Popen[bytes]
    url: str
    body: dict[str, Any]
    log: Path


@dataclass
class Setup:
    work: Path
    model: Model
    model_file: Path
    bins: dict[str, Path] = field(default_factory=dict)

    def log(self, name: str) -> Path:
        return self.work / f"{name}.log"


def _aiar_config(setup: Setup) -> dict[str, Any]:
    model = setup.model
    return {
        "model": {"name": model.slug, "slug": model.slug, "version": 1, "type": "PYTHON"},
        "code": {"src_dir": str(model.src)},
        "model_file": setup.model_file.name,
        "rest": {"parameters": [{"name": name, "position": i + 1} for i, (name, _) in enumerate(model.parameters)]},
    }


def _start_aiar(setup: Setup, route: str, *args: str) -> Started:
    port = free_port()
    # the runtime finds the model file next to the code's directory: the work directory holds both
    config = _aiar_config(setup)
    config["code"]["src_dir"] = str(setup.work / "src")
    process = start_runtime(setup.work, config, port, *args)
    body = setup.model.simple if route == "predict" else setup.model.oip
    return Started(
        process, f"http://127.0.0.1:{port}/v2/models/{setup.model.slug}/{route}", body, setup.work / "server.log"
    )


def _start_bare(setup: Setup, mode: str) -> Started:
    port = free_port()
    script = setup.work / "bare_starlette.py"
    script.write_text(BARE_STARLETTE)
    command = [sys.executable, str(script), str(setup.work / "src"), str(setup.model_file), str(port), mode]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=setup.log("bare").open("ab"))
    return Started(process, f"http://127.0.0.1:{port}/predict", setup.model.simple, setup.log("bare"))


def _start_mlserver(setup: Setup, parallel_workers: int) -> Started:
    root = setup.work / f"mlserver-{parallel_workers}"
    model_dir = root / setup.model.slug
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "model.pkl").write_bytes(setup.model_file.read_bytes())
    (model_dir / "model-settings.json").write_text(
        json.dumps(
            {
                "name": setup.model.slug,
                "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": "./model.pkl"},
            }
        )
    )
    port = free_port()
    settings = {
        "http_port": port,
        "grpc_port": free_port(),
        "metrics_port": free_port(),
        "parallel_workers": parallel_workers,
        "debug": False,  # no access log: aiar and the baseline write none either
        "host": "127.0.0.1",
    }
    (root / "settings.json").write_text(json.dumps(settings))
    bin_dir = setup.bins["mlserver"]
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("PYTHONPATH", None)
    process = subprocess.Popen(
        [str(bin_dir / "mlserver"), "start", str(root)],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=setup.log("mlserver").open("ab"),
    )
    url = f"http://127.0.0.1:{port}/v2/models/{setup.model.slug}/infer"
    return Started(process, url, setup.model.mlserver, setup.log("mlserver"))


def _start_bentoml(setup: Setup) -> Started:
    root = setup.work / "bentoml"
    root.mkdir(exist_ok=True)
    parameters = setup.model.parameters
    (root / "service.py").write_text(
        BENTO_SERVICE.format(
            signature=", ".join(f"{name}: {annotation}" for name, annotation in parameters),
            arguments=", ".join(name for name, _ in parameters),
        )
    )
    port = free_port()
    bin_dir = setup.bins["bentoml"]
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "BENTOML_HOME": str(root / "home"),
        "BENTOML_DO_NOT_TRACK": "true",  # no usage report over the network
        "PEER_SRC": str(setup.work / "src"),
        "PEER_MODEL": str(setup.model_file),
    }
    env.pop("PYTHONPATH", None)
    process = subprocess.Popen(
        [str(bin_dir / "bentoml"), "serve", "service:Model", "--host", "127.0.0.1", "--port", str(port)],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=setup.log("bentoml").open("ab"),
    )
    return Started(process, f"http://127.0.0.1:{port}/predict", setup.model.simple, setup.log("bentoml"))


SERVERS: dict[str, Callable[[Setup], Started]] = {
    "bare-inline": lambda s: _start_bare(s, "inline"),
    "bare-threads": lambda s: _start_bare(s, "threads"),
    "bare-2proc": lambda s: _start_bare(s, "2proc"),
    "aiar": lambda s: _start_aiar(s, "predict"),
    "aiar-oip": lambda s: _start_aiar(s, "infer"),
    "aiar-2proc": lambda s: _start_aiar(s, "predict", "--processes", "2"),
    "aiar-1thread": lambda s: _start_aiar(s, "predict", "--workers", "1"),
    "mlserver-pw0": lambda s: _start_mlserver(s, 0),
    "mlserver-pw1": lambda s: _start_mlserver(s, 1),
    "bentoml": _start_bentoml,
}


# --- measuring -----------------------------------------------------------------------------------


def _stat(pid: int) -> list[str]:
    """The fields of ``/proc/PID/stat`` after the command name (the first is the state, field 3)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants, from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int(_stat(int(entry.name))[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, []))
    return found


def _tree_rss_mb(pid: int) -> float:
    total = 0.0
    for member in _tree(pid):
        try:
            total += rss_mb(member)
        except (OSError, RuntimeError):  # gone meanwhile, or a zombie without memory
            continue
    return total


def _tree_cpu_s(pid: int) -> float:
    """CPU seconds (user and system) the live processes of ``pid``'s tree have used so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for member in _tree(pid):
        try:
            fields = _stat(member)
        except OSError:  # gone meanwhile
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / tick


def _cold_start(started: Started, began: float) -> float:
    """Seconds from the process start to the first 200 on the measured route."""
    deadline = began + COLD_START_TIMEOUT_S
    with httpx.Client(timeout=5) as http:
        while time.perf_counter() < deadline:
            if started.process.poll() is not None:
                tail = started.log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"server exited with {started.process.returncode} before answering:\n{tail}")
            try:
                if http.post(started.url, json=started.body).status_code == 200:
                    return time.perf_counter() - began
            except httpx.HTTPError:
                pass
            time.sleep(0.01)
    raise RuntimeError(f"no 200 from {started.url} within {COLD_START_TIMEOUT_S:.0f}s")


def _boot(setup: Setup, name: str) -> tuple[Started, dict[str, float]]:
    """``name`` started, with its cold start and its idle RSS (the tree's, 1 s after the first 200)."""
    began = time.perf_counter()
    started = SERVERS[name](setup)
    try:
        cold = _cold_start(started, began)
        time.sleep(1)
        return started, {"cold": cold, "rss": _tree_rss_mb(started.process.pid)}
    except BaseException:
        stop_process(started.process)
        raise


def _load(setup: Setup, started: Started, seconds: int, connections: int, warmup: bool) -> dict[str, float]:
    pid = started.process.pid
    body = json.dumps(started.body)
    return wrk_post(started.url, body, seconds, connections, setup.work, lambda: _tree_cpu_s(pid), warmup)


def combined(slices: list[dict[str, float]]) -> dict[str, float]:
    """One server's slices of a round as one run: requests/s and CPU per request over all of them;
    p50 and p99 the median of the slices' own."""
    requests = sum(s["requests"] for s in slices)
    return {
        "rps": requests / sum(s["seconds"] for s in slices),
        "p50": statistics.median(s["p50"] for s in slices),
        "p99": statistics.median(s["p99"] for s in slices),
        "cpu_us": sum(s["cpu_s"] for s in slices) / requests * 1e6,
        "wrk_cpu_us": sum(s["wrk_cpu_s"] for s in slices) / requests * 1e6,
    }


def run_round(
    setup: Setup, order: list[str], seconds: int, connections: int, slice_s: int
) -> dict[str, dict[str, float]]:
    """One round: the servers started one after the other (each one's cold start and idle RSS
    measured while the ones before it idle), then each warmed up, then loaded in turns of ``slice_s``
    seconds until each has had ``seconds``: whatever else the machine does meanwhile falls on all of
    them alike, instead of on whichever ran at the time."""
    started: dict[str, Started] = {}
    booted: dict[str, dict[str, float]] = {}
    try:
        for name in order:
            started[name], booted[name] = _boot(setup, name)
        for name in order:
            _load(setup, started[name], 2, connections, warmup=False)
        slices: dict[str, list[dict[str, float]]] = {name: [] for name in order}
        for _ in range(max(1, round(seconds / slice_s))):
            for name in order:
                slices[name].append(_load(setup, started[name], slice_s, connections, warmup=False))
    finally:
        for server in started.values():
            stop_process(server.process)
    return {name: {**combined(slices[name]), **booted[name]} for name in order}


def run(setup: Setup, names: list[str], rounds: int, seconds: int, connections: int, slice_s: int) -> Runs:
    runs: Runs = {name: [] for name in names}
    for i in range(rounds):
        order = names[i % len(names) :] + names[: i % len(names)]  # rotated: no server always goes first
        for name, result in run_round(setup, order, seconds, connections, slice_s).items():
            runs[name].append(result)
            print(
                f"round {i + 1} {name}: {result['rps']:.0f}/s p50 {result['p50']:.2f} ms p99 {result['p99']:.2f} ms"
                f" cpu {result['cpu_us']:.0f} us/request cold {result['cold']:.2f} s rss {result['rss']:.1f} MB",
                file=sys.stderr,
            )
    return runs


# --- the report ----------------------------------------------------------------------------------


Runs = dict[str, list[dict[str, float]]]
BASELINES = ("bare-inline", "bare-threads")
"""predict() on the event loop (fastest for a fast model) or in Starlette's thread pool (better for a
slow one): the baseline of each round is whichever served more requests/s in that round."""


def with_baseline(runs: Runs) -> Runs:
    """``runs`` with ``bare`` first: per round, the bare variant that served more requests/s."""
    present = [runs[name] for name in BASELINES if name in runs]
    if not present:
        return runs
    best = [max(results, key=lambda r: r["rps"]) for results in zip(*present, strict=True)]
    return {"bare": best, **runs}


def _median_ratio(runs: Runs, name: str, base: str, key: str) -> float:
    return statistics.median(a[key] / b[key] for a, b in zip(runs[name], runs[base], strict=True))


def _median_delta(runs: Runs, name: str, base: str, key: str) -> float:
    return statistics.median(a[key] - b[key] for a, b in zip(runs[name], runs[base], strict=True))


def report(runs: Runs) -> list[str]:
    lines = [
        "| server | requests/s | vs bare | p50 | p99 | p99 vs bare | CPU/request | vs bare | cold start | vs bare"
        " | idle RSS |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    has_bare = "bare" in runs
    for name, results in runs.items():
        rps, p50, p99, cpu, cold, rss = (
            statistics.median(r[k] for r in results) for k in ("rps", "p50", "p99", "cpu_us", "cold", "rss")
        )
        vs_rps = f"{_median_ratio(runs, name, 'bare', 'rps'):.2f}x" if has_bare else ""
        vs_p99 = f"{_median_ratio(runs, name, 'bare', 'p99'):.2f}x" if has_bare else ""
        vs_cpu = f"{_median_ratio(runs, name, 'bare', 'cpu_us'):.2f}x" if has_bare else ""
        vs_cold = f"{_median_delta(runs, name, 'bare', 'cold'):+.2f} s" if has_bare else ""
        label = "bare (the faster per round)" if name == "bare" else name
        lines.append(
            f"| {label} | {rps:.0f} | {vs_rps} | {p50:.2f} ms | {p99:.2f} ms | {vs_p99} | {cpu:.0f} us | {vs_cpu}"
            f" | {cold:.2f} s | {vs_cold}"
            f" | {rss:.1f} MB |"
        )
    return lines


def goals(runs: Runs) -> list[str]:
    lines = []

    def verdict(text: str, value: float, met: bool) -> None:
        lines.append(f"- {text}: {value:.2f} — {'met' if met else 'missed'}")

    if "bare" in runs:
        for name in ("aiar", "aiar-oip"):
            if name in runs:
                ratio = _median_ratio(runs, name, "bare", "rps")
                verdict(f"{name} requests/s >= 0.95x bare", ratio, ratio >= 0.95)
                p99 = _median_ratio(runs, name, "bare", "p99")
                verdict(f"{name} p99 <= bare's (ratio)", p99, p99 <= 1.0)
                delta = _median_delta(runs, name, "bare", "cold")
                verdict(f"{name} cold start <= bare + 0.5 s (difference in s)", delta, delta <= 0.5)
    if "aiar" in runs and "aiar-2proc" in runs:
        ratio = _median_ratio(runs, "aiar-2proc", "aiar", "rps")
        verdict("aiar --processes 2 requests/s >= 1.7x one process", ratio, ratio >= 1.7)
        lines.append(f"  - {_ceiling(runs['aiar'])}")
        if "bare-2proc" in runs and "bare-inline" in runs:
            bare = _median_ratio(runs, "bare-2proc", "bare-inline", "rps")
            lines.append(f"  - measured: bare Starlette, two processes on one port, {bare:.2f}x one (bare-inline)")
            lines.append(f"  - aiar --processes 2 against bare's two processes: {ratio / bare:.2f} of bare's gain")
    return lines


def _ceiling(one_process: list[dict[str, float]]) -> str:
    """What more processes can give at most on this machine, where wrk shares the CPUs: all of them busy
    with requests that each cost the server and wrk what one process's requests cost them."""
    cores = os.cpu_count() or 1
    ceilings = [cores * 1e6 / (r["cpu_us"] + r["wrk_cpu_us"]) / r["rps"] for r in one_process]
    server, client = (statistics.median(r[k] for r in one_process) for k in ("cpu_us", "wrk_cpu_us"))
    return (
        f"the machine's ceiling: {statistics.median(ceilings):.2f}x one process ({cores} CPUs; a request costs"
        f" the server {server:.0f} us and wrk {client:.0f} us of CPU)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--model", choices=sorted(MODELS), default="quality", help="quality: the example's random forest"
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (every server restarted each)")
    parser.add_argument("--seconds", type=int, default=10, help="wrk's measured seconds per server and round")
    parser.add_argument("--slice", type=int, default=2, help="seconds per turn of one server's load in a round")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument(
        "--only", default=",".join(SERVERS), help=f"comma-separated servers (default: all of {','.join(SERVERS)})"
    )
    args = parser.parse_args()
    names = [name for name in args.only.split(",") if name]
    unknown = sorted(set(names) - set(SERVERS))
    if unknown:
        parser.error(f"unknown servers: {', '.join(unknown)}")
    requirements = peer_requirements()
    bins = {
        peer: peer_venv(peer, reqs) for peer, reqs in requirements.items() if any(n.startswith(peer) for n in names)
    }
    with tempfile.TemporaryDirectory(prefix="aiar-peers-") as tmp:
        work = Path(tmp)
        model = MODELS[args.model](work)
        # one directory as the runtime expects it: src/ (the code) beside the model file
        (work / "src").symlink_to(model.src, target_is_directory=True)
        model_file = work / "model.pkl"
        model.train(model_file)
        setup = Setup(work, model, model_file, bins)
        runs = run(setup, names, args.rounds, args.seconds, args.connections, args.slice)
    turns = f"{args.seconds} s per server and round, in {args.slice} s turns"
    print(f"model: {args.model}; wrk -t1 -c{args.connections}, {turns}\n")
    for peer, reqs in requirements.items():
        if peer in bins:
            print(f"{peer} venv: {' '.join(reqs)}")
    runs = with_baseline(runs)
    print(f"\nmedians of {args.rounds} rounds; a ratio (or difference) is the median of the per-round ones\n")
    print("\n".join(report(runs)))
    print()
    print("\n".join(goals(runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
