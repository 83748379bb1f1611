"""The JVM bridge's pipe protocol against a stand-in jar (a Python script), and its hand-off to REST.

The stand-in answers each burst it reads in reverse order, with a stray line before it and split
across two writes, so that the bridge must match answers by id, skip noise and join partial lines.
"""

from __future__ import annotations

import asyncio
import sys
import textwrap
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from generator.runtime.jvm import JvmBridge
from generator.runtime.predictor import NotReadyError, PredictError
from generator.runtime.rest import _Answers

FAKE_JAR = textwrap.dedent("""
    import json, os, sys, time
    out = sys.stdout.buffer
    rest = b""
    while chunk := os.read(0, 65536):
        *lines, rest = (rest + chunk).split(b"\\n")
        answers = []
        for line in lines:
            request = json.loads(line)
            if "ping" in request:
                answers.append({"id": request["id"], "result": {"pong": True}})
                continue
            params = request["params"]
            time.sleep(params.get("slow", 0))
            if "fail" in params:
                answers.append({"id": request["id"], "error": params["fail"]})
            else:
                answers.append({"id": request["id"], "result": {"echo": params, "burst": len(lines)}})
        data = b"".join(json.dumps(a).encode() + b"\\n" for a in reversed(answers))
        out.write(b"a stray line, not an answer\\n")
        out.write(data[: len(data) // 2])
        out.flush()
        time.sleep(0.01)
        out.write(data[len(data) // 2 :])
        out.flush()
""")


@pytest.fixture
def bridge(tmp_path: Path) -> Any:
    script = tmp_path / "fake_jar.py"
    script.write_text(FAKE_JAR)
    bridge = JvmBridge([sys.executable, str(script)], str(tmp_path), start_timeout_s=30, request_timeout_s=0.5)
    bridge.start()
    assert bridge.alive
    yield bridge
    bridge.close()


def test_jvm_bridge_writes_a_loop_iteration_as_one_burst(bridge: JvmBridge) -> None:
    async def many() -> list[Any]:
        futures = [bridge.submit({"n": n}) for n in range(20)]  # one loop iteration: one write
        return await asyncio.gather(*(asyncio.wrap_future(f) for f in futures))

    results = asyncio.run(many())
    assert [r["echo"]["n"] for r in results] == list(range(20))
    assert {r["burst"] for r in results} == {20}


def test_jvm_bridge_blocking_call_on_a_loop_does_not_wait_for_it(bridge: JvmBridge) -> None:
    async def blocking() -> Any:
        return bridge.call({"n": 1})  # blocks the loop: its request must not wait for the loop

    assert asyncio.run(blocking())["echo"] == {"n": 1}


def test_jvm_bridge_errors_and_late_answers(bridge: JvmBridge) -> None:
    with pytest.raises(PredictError, match=r"predict\.jar: bad input"):
        bridge.call({"fail": "bad input"})
    with pytest.raises(PredictError, match="no answer within"):
        bridge.call({"slow": 1.0})
    assert not bridge._pending  # given up on: forgotten
    time.sleep(0.8)  # the late answer arrives meanwhile: dropped, and the reader goes on
    assert bridge.call({"n": 9})["echo"] == {"n": 9}


def test_jvm_bridge_closed_pipe_is_not_ready(bridge: JvmBridge) -> None:
    bridge.close()
    with pytest.raises(NotReadyError):
        bridge.submit({"n": 1}, wait=True).result(5)


def test_rest_answers_from_another_thread_reach_the_loop() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        answers = _Answers(loop)
        futures: list[Future[Any]] = [Future() for _ in range(4)]
        waiters = [answers.waiter(f) for f in futures]
        deliveries: list[None] = []
        deliver = answers._deliver

        def counted() -> None:
            deliveries.append(None)
            deliver()

        answers._deliver = counted  # type: ignore[method-assign]

        def burst() -> None:
            futures[0].set_result(1)
            futures[1].set_exception(PredictError("no"))
            futures[2].cancel()

        thread = threading.Thread(target=burst)
        thread.start()
        thread.join()
        assert await waiters[0] == 1
        with pytest.raises(PredictError):
            await waiters[1]
        with pytest.raises(asyncio.CancelledError):
            await waiters[2]
        assert len(deliveries) == 1  # a burst of answers: one wake-up of the loop
        waiters[3].cancel()  # a waiter given up on (timeout) ignores its late answer
        futures[3].set_result(4)
        await asyncio.sleep(0)
        assert waiters[3].cancelled()

    asyncio.run(main())
