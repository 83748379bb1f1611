"""Where predict() runs: a short computing one on the event loop, one call per turn of the loop; a
waiting or slow one in the thread pool. The gate's order is checked on a real asyncio loop, the
placement on a real server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from generator.runtime.placement import HOLD_OFF_CALLS, INLINE_BUDGET_S, LoopGate, Placement

from .bundles import base_config, write_bundle
from .conftest import RunningServer


def settled(wall_s: float, cpu_s: float, calls: int = 100) -> Placement:
    placement = Placement()
    for _ in range(calls):
        placement.record(wall_s, cpu_s)
    return placement


def under_load(placement: Placement, wall_s: float, cpu_s: float, calls: int = 200, in_flight: int = 4) -> None:
    """``calls`` calls through the pool with ``in_flight`` of them running at any time."""
    running = [placement.begin() for _ in range(in_flight)]
    for _ in range(calls):
        placement.end(running.pop(0), wall_s, cpu_s)
        running.append(placement.begin())
    for began_with in running:
        placement.end(began_with, wall_s, cpu_s)


def test_a_new_predict_runs_in_the_pool_until_its_calls_show_otherwise() -> None:
    assert not Placement().inline
    assert settled(0.004, 0.0039).inline  # a 4 ms scikit-learn call, all of it computing


@pytest.mark.parametrize(
    ("wall_s", "cpu_s", "why"),
    [
        (0.004, 0.0002, "it waits (I/O, a sleep): several at once in the pool overlap"),
        (INLINE_BUDGET_S * 2, INLINE_BUDGET_S * 2, "it is slower than a loop may be blocked for"),
    ],
)
def test_a_waiting_or_slow_predict_runs_in_the_pool(wall_s: float, cpu_s: float, why: str) -> None:
    assert not settled(wall_s, cpu_s).inline, why


def test_calls_sharing_the_gil_in_the_pool_are_still_seen_computing() -> None:
    """Four computing calls at once in the pool: each takes four times its CPU time in wall time."""
    computing, waiting = Placement(), Placement()
    under_load(computing, 0.016, 0.004)
    under_load(waiting, 0.016, 0.0001)
    assert computing.inline
    assert not waiting.inline


def test_calls_on_several_cores_at_once_stay_in_the_pool() -> None:
    """Native code without the GIL: four calls at once on two cores use two cores' worth of CPU."""
    placement = Placement()
    under_load(placement, 0.008, 0.004)
    assert not placement.inline


def test_found_unfit_on_the_loop_it_is_held_off_longer_each_time() -> None:
    placement = settled(0.004, 0.004)
    assert placement.inline
    held: list[int] = []
    for _ in range(2):
        for _ in range(60):  # on the loop, alone: it mostly waits (30 ms of which 6 computing)
            placement.end(placement.begin(), 0.030, 0.006, on_loop=True)
            if not placement.inline:
                break
        assert not placement.inline
        calls = 0
        while not placement.inline:  # in the pool, under load, its estimate looks fit at once
            under_load(placement, 0.036, 0.006, calls=4)
            calls += 8
        held.append(calls)
    assert held[0] >= HOLD_OFF_CALLS
    assert held[1] >= 2 * HOLD_OFF_CALLS


def test_a_refused_call_is_not_measured() -> None:
    placement = Placement()
    placement.begin()
    placement.skip()
    assert (placement.wall_s, placement.cpu_s) == (1.0, 0.0)
    assert placement.begin() == 1


def test_one_slow_call_moves_a_fast_predict_off_the_loop() -> None:
    placement = settled(0.001, 0.001)
    placement.record(INLINE_BUDGET_S * 10, INLINE_BUDGET_S * 10)
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
