"""Small builders shared by the tests."""

from __future__ import annotations

from typing import Any


def minimal_manifest(**overrides: Any) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "name": "Tiny Model",
        "description": "echo",
        "tags": [],
        "input": {
            "prediction": [
                {
                    "type": "REST_API",
                    "payload": {"parameters": [{"position": 1, "name": "x", "description": "anything"}]},
                }
            ]
        },
        "modelData": {"type": "PYTHON", "payload": {"dependencies": []}},
    }
    manifest.update(overrides)
    return manifest
