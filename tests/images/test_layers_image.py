"""The DOCKER_LAYERS example's image, built on the local platform: it answers its own OpenAPI routes.

Every operation of the OpenAPI document ``aiar generate`` published (``out/greeting-service/
openapi.json``) must have a check below, and each answer must match the document's response schema.
The manifest's ``envVars`` come from the image (only ``PORT`` is moved, to a free port).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jsonschema  # type: ignore[import-untyped]
import pytest

from tests.platform.proc import free_port

from .conftest import RUN_AS, Compiled, build_image, running, wait_http

pytestmark = pytest.mark.platform

SLUG = "greeting-service"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


@dataclass(frozen=True)
class Call:
    status: int
    answer: Any
    body: Any = None
    path_params: dict[str, str] = field(default_factory=dict)


# (method, OpenAPI path) -> calls; the threshold 245 is the manifest's QUALITY_MAX_TEMPERATURE
CALLS: dict[tuple[str, str], list[Call]] = {
    ("post", "/score"): [
        Call(200, {"label": "OK"}, body={"temperature": 245}),
        Call(200, {"label": "NOK"}, body={"temperature": 245.5}),
        Call(400, {"error": 'send {"temperature": <number>}'}, body={"pressure": 1}),
    ],
    ("get", "/greetings/{name}"): [Call(200, {"greeting": "Hello, Ada!"}, path_params={"name": "Ada"})],
    ("get", "/health"): [Call(200, {"status": "ok"})],
}


@dataclass(frozen=True)
class Served:
    url: str
    container: Any


@pytest.fixture(scope="module")
def served(docker_client: Any, compiled: Compiled) -> Iterator[Served]:
    ref = build_image(docker_client, compiled, SLUG)
    port = free_port()
    with running(docker_client, ref, environment={"PORT": str(port)}) as container:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/health", container, timeout=60)
        yield Served(url, container)


def test_the_image_keeps_the_manifest_settings(served: Served) -> None:
    config = served.container.image.attrs["Config"]
    assert config["User"] == RUN_AS
    assert {"GREETING=Hello", "QUALITY_MAX_TEMPERATURE=245", "PORT=8080"} <= set(config["Env"])


def test_every_openapi_route_answers(served: Served, compiled: Compiled) -> None:
    document = json.loads((compiled.out / SLUG / "openapi.json").read_text())
    operations = {
        (method, path): spec
        for path, item in document["paths"].items()
        for method, spec in item.items()
        if method in METHODS
    }
    assert set(operations) == set(CALLS), "every route of the document is checked, and only those"
    with httpx.Client(base_url=served.url, timeout=10) as client:
        for (method, path), calls in CALLS.items():
            for call in calls:
                response = client.request(
                    method.upper(),
                    path.format(**call.path_params),
                    json=call.body if call.body is not None else None,
                )
                where = f"{method.upper()} {path} {call}"
                assert response.status_code == call.status, f"{where}: {response.text}"
                assert response.json() == call.answer, where
                declared = operations[method, path]["responses"].get(str(call.status), {})
                schema = declared.get("content", {}).get("application/json", {}).get("schema")
                if schema is not None:
                    jsonschema.validate(response.json(), schema)
