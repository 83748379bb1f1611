"""The committed JSON Schema of ``manifest.json`` (``generator/manifest.schema.json``)."""

from __future__ import annotations

import json
from pathlib import Path

from .manifest import manifest_json_schema

SCHEMA_PATH = Path(__file__).parent / "manifest.schema.json"


def schema_text() -> str:
    return json.dumps(manifest_json_schema(), indent=2, sort_keys=True) + "\n"
