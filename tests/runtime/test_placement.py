"""Where predict() runs: a short computing one on the event loop, one call per turn of the loop; a
waiting or slow one in the thread pool. The gate's order is checked on a real asyncio loop, the
placement on a real server."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from generator.runtime.placement import HOLD_OFF_CALLS, INLINE_BUDGET_S, TRIAL_CALLS, LoopGate, Placement
from tests.platform.proc import terminate

from .bundles import base_config, write_bundle
from .conftest import RunningServer


def tried(wall_s: float, cpu_s: float, calls: int = TRIAL_CALLS) -> Placement:
    """A new placement after ``calls`` trial calls in the pool, one at a time."""
    placement = Placement()
    for _ in range(calls):
        with placement.pool_call() as measured:
            placement.record(wall_s, cpu_s, measured)
    return placement


def test_a_new_predict_is_tried_in_the_pool_then_runs_on_the_loop_if_it_computes_briefly() -> None:
    assert not Placement().inline
    assert not tried(0.004, 0.0039, calls=TRIAL_CALLS - 1).inline
    assert tried(0.004, 0.0039).inline  # a 4 ms scikit-learn call, all of it computing


@pytest.mark.parametrize(
    ("wall_s", "cpu_s", "why"),
    [
        (0.004, 0.0002, "it waits (I/O, a sleep): several at once in the pool overlap"),
        (0.008, 0.016, "it computes on two cores at once (native code without the GIL)"),
        (INLINE_BUDGET_S * 2, INLINE_BUDGET_S * 2, "it is slower than a loop may be blocked for"),
    ],
)
def test_a_waiting_parallel_or_slow_predict_runs_in_the_pool(wall_s: float, cpu_s: float, why: str) -> None:
    assert not tried(wall_s, cpu_s).inline, why


def test_a_slow_trial_call_ends_the_trial_at_once() -> None:
    placement = tried(INLINE_BUDGET_S * 4, INLINE_BUDGET_S * 4, calls=1)
    with placement.pool_call() as measured:
        assert measured == "pool"  # no more one-at-a-time calls: every thread of the pool serves


def test_trial_calls_run_one_at_a_time_and_the_others_are_not_measured() -> None:
    placement = Placement()
    inside, release, second = threading.Event(), threading.Event(), threading.Event()

    def first_call() -> None:
        with placement.pool_call():
            inside.set()
            release.wait(5)

    def second_call() -> None:
        with placement.pool_call():
            second.set()

    threads = [threading.Thread(target=first_call), threading.Thread(target=second_call)]
    threads[0].start()
    assert inside.wait(5)
    threads[1].start()
    assert not second.wait(0.2), "a second trial call ran beside the first"
    release.set()
    for thread in threads:
        thread.join(5)
    assert second.is_set()
    placement.record(0.001, 0.0, "pool")  # a call among others: no measure
    assert (placement.wall_s, placement.cpu_s) == (1.0, 0.0)


def test_found_unfit_on_the_loop_it_is_held_off_longer_each_time() -> None:
    placement = tried(0.004, 0.004)
    held: list[int] = []
    for _ in range(2):
        assert placement.inline
        for _ in range(60):  # on the loop, alone: it mostly waits (30 ms of which 6 computing)
            placement.record(0.030, 0.006, "loop")
            if not placement.inline:
                break
        assert not placement.inline
        calls = 0
        while True:
            with placement.pool_call() as measured:
                if measured == "trial":
                    break
                placement.record(0.001, 0.001, measured)
                calls += 1
        held.append(calls)
        for _ in range(TRIAL_CALLS):  # tried again, fit again
            with placement.pool_call() as measured:
                placement.record(0.004, 0.004, measured)
    assert held == [HOLD_OFF_CALLS, 2 * HOLD_OFF_CALLS]


def test_one_slow_call_moves_a_fast_predict_off_the_loop() -> None:
    placement = tried(0.001, 0.001)
    placement.record(0.001 + 10 * INLINE_BUDGET_S, 0.001 + 10 * INLINE_BUDGET_S, "loop")
    assert not placement.inline


async def _serve(gate: LoopGate, events: list[str], count: int, probe_during_first: bool) -> None:
    loop = asyncio.get_running_loop()

    def probe() -> None:
        events.append("probe")

    async def prediction(index: int) -> None:
        await gate.enter()
        try:
            events.append(f"predict {index}")
            if index == 0 and probe_during_first:
                loop.call_soon(probe)  # a probe read from its socket while the first call runs
        finally:
            gate.leave()

    await asyncio.gather(*(prediction(i) for i in range(count)))


def test_the_gate_lets_a_probe_in_between_two_predictions() -> None:
    events: list[str] = []
    asyncio.run(_serve(LoopGate(), events, 5, probe_during_first=True))
    # Without the gate all five ready calls run back to back and the probe waits for every one.
    assert events == ["predict 0", "probe", "predict 1", "predict 2", "predict 3", "predict 4"]


def test_the_gate_keeps_arrival_order_and_is_free_after() -> None:
    events: list[str] = []
    gate = LoopGate()
    asyncio.run(_serve(gate, events, 4, probe_during_first=False))
    assert events == [f"predict {i}" for i in range(4)]
    assert gate.waiting == 0
    asyncio.run(_serve(gate, events, 1, probe_during_first=False))  # entered at once: not held


def test_a_waiter_cancelled_after_being_let_in_hands_the_gate_on() -> None:
    async def scenario() -> list[str]:
        gate, events = LoopGate(), []
        await gate.enter()  # held by "the first call"
        second = asyncio.ensure_future(gate.enter())
        third = asyncio.ensure_future(gate.enter())
        await asyncio.sleep(0)
        gate.leave()
        await asyncio.sleep(0)  # the gate is handed to the second waiter...
        second.cancel()  # ...which is cancelled before it runs
        await asyncio.wait_for(third, timeout=5)
        events.append(f"third in, {gate.waiting} waiting")
        gate.leave()
        return events

    assert asyncio.run(scenario()) == ["third in, 0 waiting"]


def test_a_waiter_cancelled_after_a_hand_over_that_skipped_it_raises_only_cancellation() -> None:
    async def scenario() -> None:
        gate = LoopGate()
        await gate.enter()
        second = asyncio.ensure_future(gate.enter())
        third = asyncio.ensure_future(gate.enter())
        await asyncio.sleep(0)
        gate.leave()  # the hand-over runs on the next turn...
        second.cancel()  # ...after the second waiter's future is cancelled: it is skipped
        await asyncio.wait_for(third, timeout=5)
        with pytest.raises(asyncio.CancelledError):
            await second
        gate.leave()
        assert gate.waiting == 0

    asyncio.run(scenario())


WHERE_PREDICT = """
import threading
import time


def predict(model, mode):
    if mode == "compute":  # about 2 ms of work on the calling thread
        deadline = time.thread_time() + 0.002
        while time.thread_time() < deadline:
            pass
    else:  # waits without computing
        time.sleep(0.002)
    return threading.current_thread().name
"""


@pytest.mark.parametrize(("mode", "on_the_loop"), [("compute", True), ("wait", False)])
def test_the_server_places_predict_by_what_its_calls_do(
    tmp_path: Path, start_server: Callable[..., RunningServer], mode: str, on_the_loop: bool
) -> None:
    src = write_bundle(tmp_path / "bundle", WHERE_PREDICT)
    server = start_server(base_config(src, slug="where", parameters=("mode",)))
    server.wait_ready()
    with server.client() as http:
        first = http.post("/v2/models/where/predict", json={"mode": mode}).json()
        # Under load first: in the pool, eight calls at once share the GIL (a computing call's wall
        # time is several times its CPU time), which must not make it look like one that waits.
        with ThreadPoolExecutor(max_workers=8) as clients:
            list(clients.map(lambda _: http.post("/v2/models/where/predict", json={"mode": mode}), range(120)))
        threads = [http.post("/v2/models/where/predict", json={"mode": mode}).json() for _ in range(20)]
    assert first.startswith("predict"), "a new predict() starts in the pool"
    assert all(name == "MainThread" for name in threads) is on_the_loop, threads
    assert any(name.startswith("predict") for name in threads) is not on_the_loop, threads


def _pin(pid: int, cpu: int) -> None:
    """Every thread of process ``pid`` to one CPU (threads started later inherit it)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setaffinity(int(task.name), {cpu})


def test_a_computing_predict_stays_on_the_loop_while_other_processes_share_its_cpu(
    tmp_path: Path, start_server: Callable[..., RunningServer]
) -> None:
    """Preempted for two thirds of each call by two busy processes on its CPU (as a container at its
    CPU limit is throttled), a computing predict() still never waits: it belongs on the loop."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two CPUs: one shared by the server and the busy processes, one for the client")
    src = write_bundle(tmp_path / "bundle", WHERE_PREDICT)
    server = start_server(base_config(src, slug="where", parameters=("mode",)))
    server.wait_ready()
    mine = os.sched_getaffinity(0)
    cpu = min(mine)
    os.sched_setaffinity(0, mine - {cpu})  # this test's client elsewhere
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        for pid in (server.process.pid, *(hog.pid for hog in hogs)):
            _pin(pid, cpu)
        with server.client() as http:
            calls = [http.post("/v2/models/where/predict", json={"mode": "compute"}) for _ in range(TRIAL_CALLS + 40)]
    finally:
        for hog in hogs:
            terminate(hog)
        os.sched_setaffinity(0, mine)
    threads = [call.json() for call in calls[-20:]]
    assert all(name == "MainThread" for name in threads), threads
