"""Schemathesis against the generated OpenAPI document: no server errors, responses as documented.

Not run: ``positive_data_acceptance``. OIP requests have rules OpenAPI 3.0 cannot state (the number
of ``data`` elements matches ``shape``; each parameter named once), so schema-valid nonsense gets a
400 on purpose.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

from .bundles import ECHO_PREDICT, base_config, write_bundle
from .conftest import RunningServer

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
        "unsupported_method",
        "negative_data_rejection",
    ]
)


def test_generated_openapi_holds(tmp_path: Path, start_server: Callable[..., RunningServer]) -> None:
    src = write_bundle(tmp_path / "bundle", ECHO_PREDICT)
    server = start_server(base_config(src, slug="echo", parameters=("a", "b")))
    server.wait_ready()
    st = shutil.which("st", path=str(Path(sys.executable).parent)) or shutil.which("st")
    assert st, "schemathesis is not installed"
    result = subprocess.run(
        [
            st,
            "run",
            f"{server.url}/openapi.json",
            "--url",
            server.url,
            "--checks",
            CHECKS,
            "--max-examples",
            "60",
            "--seed",
            "1",
            "--generation-deterministic",
            "--request-timeout",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    document = httpx.get(f"{server.url}/openapi.json").json()
    operations = sum(len(methods) for methods in document["paths"].values())
    assert operations == 12  # the model's routes, also under /versions/1, and the server's
    assert f"Tested: {operations}" in result.stdout
