"""``serve --processes N``: several server processes on one port, one supervisor, shared metrics."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import httpx

from tests.platform.proc import free_port, port_open
from tests.waiting import poll

from .bundles import base_config, write_bundle
from .conftest import run_runtime

PID_PREDICT = """
import os


def predict(model, x):
    return {"pid": os.getpid(), "x": x}
"""


GATED_PREDICT = """
import os
import pathlib
import time


def load(model_path):
    gate = pathlib.Path(os.environ["AIAR_TEST_GATES"]) / f"open-{os.getpid()}"
    while not gate.exists():  # each process loads its model when the test opens its own gate
        time.sleep(0.02)
    return "model"


def predict(model, features):
    return {"pid": os.getpid()}
"""


def _children(pid: int) -> list[int]:
    """The direct children of ``pid``, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after its closing parenthesis
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start(
    runtime_path: Path, tmp_path: Path, processes: int, predict: str = PID_PREDICT, **extra: str
) -> tuple[subprocess.Popen[bytes], str]:
    src = write_bundle(tmp_path / "bundle", predict)
    config = base_config(src)
    if predict is GATED_PREDICT:
        (src.parent / "model.bin").write_bytes(b"")
        config["model_file"] = "model.bin"
    port = free_port()
    # the metrics directory in the test's own: a SIGKILLed supervisor cannot remove its temporary one
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "counter_1.db").write_bytes(b"")  # a stale file of an earlier run: removed
    process = run_runtime(
        runtime_path,
        "serve",
        config,
        tmp_path,
        {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"), **extra},
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--processes",
        str(processes),
    )

    def listening() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"exited {process.returncode}: {(tmp_path / 'serve.log').read_text()}")
        return port_open(port)

    poll("the supervisor's servers to listen", listening, timeout=30)
    return process, f"http://127.0.0.1:{port}"


def _pids_serving(url: str, wanted: int) -> set[int]:
    """Predictions over new connections until ``wanted`` different processes have answered."""
    seen: set[int] = set()
    sent = 0

    def enough() -> bool:
        nonlocal sent
        with httpx.Client(base_url=url, timeout=10) as http:  # a new connection each time
            answer = http.post("/v2/models/iris/predict", json={"features": sent})
        assert answer.status_code == 200, answer.text
        sent += 1
        seen.add(answer.json()["pid"])
        return len(seen) >= wanted

    poll(f"{wanted} processes to answer", enough, timeout=60, interval=0)
    return seen


def _metric(text: str, name: str, labels: str) -> float:
    series = f"{name}{{{labels}}}" if labels else name
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    assert match, f"no {name}{{{labels}}} in:\n{text}"
    return float(match.group(1))


def test_two_processes_serve_share_metrics_and_stop_together(runtime_path: Path, tmp_path: Path) -> None:
    supervisor, url = _start(runtime_path, tmp_path, 2)
    try:
        poll("ready", lambda: httpx.get(f"{url}/v2/health/ready").status_code == 200, timeout=60)
        children = _children(supervisor.pid)
        assert len(children) == 2, children
        assert not (tmp_path / "metrics" / "counter_1.db").exists()  # the earlier run's values are gone
        pids = _pids_serving(url, 2)
        assert pids == set(children), (pids, children)
        # Whichever process answers /metrics reports every process's predictions.
        with httpx.Client(base_url=url, timeout=10) as http:
            before = _metric(http.get("/metrics").text, "aiar_predictions_total", 'channel="rest"')
            for i in range(10):
                assert http.post("/v2/models/iris/predict", json={"features": i}).status_code == 200
        for _ in range(4):  # new connections: the kernel spreads them, so both processes answer scrapes
            text = httpx.get(f"{url}/metrics").text
            assert _metric(text, "aiar_predictions_total", 'channel="rest"') == before + 10
        # ready is the minimum over the processes, each refreshing its own value every second
        poll(
            "aiar_model_ready 1",
            lambda: _metric(httpx.get(f"{url}/metrics").text, "aiar_model_ready", "") == 1.0,
            timeout=10,
        )
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(30) == 0
        poll("the children to be gone", lambda: not any(_alive(pid) for pid in children), timeout=10)
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()


def _ready_answers(url: str, count: int) -> set[int]:
    """The status of /v2/health/ready over ``count`` new connections (any process may answer each)."""
    return {httpx.get(f"{url}/v2/health/ready", timeout=10).status_code for _ in range(count)}


def test_ready_only_when_every_process_is(runtime_path: Path, tmp_path: Path) -> None:
    gates = tmp_path / "gates"
    gates.mkdir()
    supervisor, url = _start(runtime_path, tmp_path, 2, GATED_PREDICT, AIAR_TEST_GATES=str(gates))
    try:
        first, second = _children(supervisor.pid)
        (gates / f"open-{first}").touch()

        def first_answers() -> bool:
            answer = httpx.post(f"{url}/v2/models/iris/predict", json={"features": 1}, timeout=10)
            return answer.status_code == 200 and answer.json()["pid"] == first

        poll("the first process to answer", first_answers, timeout=30, interval=0)
        # the second is still loading: whichever process answers the probe, it is not ready
        assert _ready_answers(url, 12) == {503}
        (gates / f"open-{second}").touch()
        poll("ready", lambda: _ready_answers(url, 1) == {200}, timeout=30)
        assert _ready_answers(url, 12) == {200}
    finally:
        supervisor.terminate()
        supervisor.wait(30)


def test_a_killed_supervisor_leaves_no_orphan(runtime_path: Path, tmp_path: Path) -> None:
    supervisor, _ = _start(runtime_path, tmp_path, 2)
    try:
        children = _children(supervisor.pid)
        assert len(children) == 2, children
        supervisor.kill()  # SIGKILL: no chance to forward anything
        supervisor.wait()
        poll("the children to be gone", lambda: not any(_alive(pid) for pid in children), timeout=20)
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()


def test_a_child_that_dies_stops_the_server(runtime_path: Path, tmp_path: Path) -> None:
    supervisor, _ = _start(runtime_path, tmp_path, 2)
    try:
        first, second = _children(supervisor.pid)
        os.kill(first, signal.SIGKILL)
        assert supervisor.wait(30) != 0
        poll("the other child to be gone", lambda: not _alive(second), timeout=10)
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()


def test_bus_training_is_refused_with_several_processes(runtime_path: Path, tmp_path: Path) -> None:
    src = write_bundle(tmp_path / "bundle", PID_PREDICT)
    config = base_config(
        src,
        message_bus={"host": "127.0.0.1", "port": free_port()},
        training={"bus": {"input_keys": ["t.in"], "queue": "t", "buffer": 10, "online": True}},
    )
    process = run_runtime(runtime_path, "serve", config, tmp_path, None, "--processes", "2")
    assert process.wait(30) == 1
    assert "bus training" in (tmp_path / "serve.log").read_text()
