"""Hostile and sloppy inference requests: bounded before any work, refused with a 4xx that names the
problem, and never stalling the server for anyone else."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from generator.runtime import codec
from generator.runtime.codec import RequestError, ResultError
from generator.runtime.config import Parameter
from generator.runtime.typed import Signature

from .bundles import ECHO_PREDICT, base_config, write_bundle
from .conftest import RunningServer


def request(*inputs: dict[str, Any], **extra: Any) -> bytes:
    return json.dumps({"inputs": list(inputs), **extra}).encode()


def decode(body: bytes) -> Any:
    parsed = codec.parse_infer_request(body)
    signature = Signature((Parameter(name="a", position=1),))
    signature.requested(parsed)
    return [signature.tensor_argument(t) for t in parsed.inputs]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (request({"name": "a", "shape": [10_000_000, 0], "datatype": "FP32", "data": []}), "nested lists"),
        (request({"name": "a", "shape": [1] * 5000, "datatype": "FP32", "data": [1]}), "rank 5000"),
        (request({"name": "a", "shape": [2**40], "datatype": "FP32", "data": [1]}), "dimension over"),
        (request({"name": "a", "shape": [1], "datatype": "FP32", "data": [[[[1]]]]}), "nested deeper"),
        (b'{"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [NaN]}]}', "NaN and Infinity"),
        (b'{"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [Infinity]}]}', "not JSON"),
        (b"\x00\x00\x00\x10binary", "binary tensor data extension"),
        (request({"name": "a", "shape": [1], "datatype": "INT64", "data": [1.5]}), "must be integers"),
        (request({"name": "a", "shape": [1], "datatype": "UINT8", "data": [-5]}), "out of UINT8's range"),
        (request({"name": "a", "shape": [1], "datatype": "INT8", "data": [200]}), "out of INT8's range"),
        (request({"name": "a", "shape": [1], "datatype": "BOOL", "data": [10]}), "true or false"),
        (request({"name": "a", "shape": [1], "datatype": "FP16", "data": [1e6]}), "out of FP16's range"),
        (request({"name": "a", "shape": [1], "datatype": "FP32", "data": ["1"]}), "must be numbers"),
        (
            request({"name": "a", "shape": [1], "datatype": "FP32", "data": [1]}, outputs=[{"name": "probability"}]),
            "unknown output 'probability'",
        ),
    ],
)
def test_hostile_requests_are_refused_before_any_work(body: bytes, message: str) -> None:
    with pytest.raises(RequestError, match=message):
        decode(body)


def test_a_deeply_nested_body_is_refused_not_recursed() -> None:
    deep = "[" * 900 + "1" + "]" * 900
    body = b'{"inputs": [{"name": "a", "shape": [1], "datatype": "FP32", "data": ' + deep.encode() + b"}]}"
    with pytest.raises(RequestError):
        decode(body)


@pytest.mark.parametrize(
    ("tensor", "value"),
    [
        ({"name": "a", "shape": [1], "datatype": "FP32", "data": [80.5]}, 80.5),  # numpy's np.array([x])
        ({"name": "a", "shape": [1], "datatype": "INT64", "data": [7]}, 7),
        ({"name": "a", "shape": [1], "datatype": "BOOL", "data": [True]}, True),
        ({"name": "a", "shape": [2], "datatype": "UINT8", "data": [0, 255]}, [0, 255]),
        ({"name": "a", "shape": [1, 2], "datatype": "FP64", "data": [1, 2.5]}, [[1, 2.5]]),
        ({"name": "a", "shape": [0, 3], "datatype": "FP32", "data": []}, []),
    ],
)
def test_usual_client_shapes(tensor: dict[str, Any], value: Any) -> None:
    assert decode(request(tensor)) == [value]


@pytest.mark.parametrize("result", [math.nan, [1.0, math.inf], {"p": -math.inf}])
def test_non_finite_results_are_an_error_not_null(result: Any) -> None:
    with pytest.raises(ResultError):
        codec.dumps_result(result)
    assert codec.dumps_result([1.0, None]) == b"[1.0,null]"  # a real None stays null


def test_numpy_nan_is_an_error() -> None:
    np = pytest.importorskip("numpy")
    with pytest.raises(ResultError):
        codec.dumps_result(np.array([1.0, np.nan]))


def rss(client: httpx.Client) -> float:
    text = client.get("/metrics").text
    for line in text.splitlines():
        if line.startswith("process_resident_memory_bytes "):
            return float(line.split()[1])
    raise AssertionError("no process_resident_memory_bytes in /metrics")


ATTACKS = [
    request({"name": "a", "shape": [10_000_000, 0], "datatype": "FP32", "data": []}),
    request({"name": "a", "shape": [1] * 5000, "datatype": "FP32", "data": [1]}),
    b'{"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [NaN]}]}',
    request({"name": "a", "shape": [2**40], "datatype": "FP32", "data": [1]}),
    b'{"inputs": [{"name": "a", "shape": [1], "datatype": "FP32", "data": ' + b"[" * 900 + b"1" + b"]" * 900 + b"}]}",
]


def attack(server: RunningServer, path: str, attacks: list[bytes], rounds: int = 20) -> tuple[set[int], int, float]:
    """The attacks, ``rounds`` times, while a second client probes /v2/health/live: the statuses, how many
    probes were answered while the attacks were in flight, and the server's RSS growth (bytes)."""
    answered: list[tuple[float, float]] = []
    stop = threading.Event()

    def probe() -> None:
        with server.client() as health:
            while not stop.is_set():
                started = time.monotonic()
                assert health.get("/v2/health/live").status_code == 200
                answered.append((started, time.monotonic()))
                time.sleep(0.005)

    with server.client() as http:
        idle = rss(http)
        prober = threading.Thread(target=probe)
        prober.start()
        while not answered and prober.is_alive():
            time.sleep(0.01)
        statuses = set()
        try:
            first = time.monotonic()
            for _ in range(rounds):
                for body in attacks:
                    statuses.add(http.post(path, content=body).status_code)
            last = time.monotonic()
        finally:
            stop.set()
            prober.join()
        after = rss(http)
    during = sum(1 for started, done in answered if first <= started and done <= last)
    return statuses, during, after - idle


def test_shape_attacks_neither_stall_nor_bloat_the_server(
    tmp_path: Path, start_server: Callable[..., RunningServer]
) -> None:
    """Latencies are bench/hostile.py's; here: all refused, the health probe answered meanwhile, RSS
    within 20 MB of idle."""
    src = write_bundle(tmp_path / "bundle", ECHO_PREDICT)
    server = start_server(base_config(src, slug="echo", parameters=("a", "b")))
    server.wait_ready()
    statuses, during, growth = attack(server, "/v2/models/echo/infer", ATTACKS)
    assert statuses == {400}
    assert during > 0  # probes were answered while the attacks went on, not only after them
    assert growth < 20 * 2**20


def test_typed_and_onnx_parameters_refuse_the_attacks_too(
    tmp_path: Path, start_server: Callable[..., RunningServer]
) -> None:
    from .test_typed_serving import onnx_config, onnx_src

    server = start_server(onnx_config(onnx_src(tmp_path)))
    server.wait_ready()
    typed = [body.replace(b'"name": "a"', b'"name": "features"') for body in ATTACKS] + [
        request({"name": "features", "shape": [10_000_000, 3], "datatype": "FP32", "data": [1, 2, 3]}),
        request({"name": "features", "shape": [1, 3], "datatype": "FP32", "data": [[[[1, 2, 3]]]]}),
        request({"name": "features", "shape": [1, 3], "datatype": "FP32", "data": [1e39, 0, 0]}),
        json.dumps({"features": [[1, 2, 3]] * 3 + [[1] * 5000]}).encode(),
    ]
    statuses, during, growth = attack(server, "/v2/models/onnx-quality/infer", typed[:-1])
    # and on the simple route: a ragged row; 100,000 good rows then a bad one (checked off the event loop)
    big = json.dumps({"features": [[1.0, 2.0, 3.0]] * 100_000 + [["x", 0, 0]]}).encode()
    simple, during_simple, _ = attack(server, "/v2/models/onnx-quality/predict", [typed[-1], big], rounds=3)
    statuses |= simple
    assert statuses == {400}
    assert during > 0
    assert during_simple > 0
    assert growth < 20 * 2**20
