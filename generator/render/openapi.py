"""A model's own OpenAPI document (DOCKER_LAYERS), published beside its artifacts for its API's users."""

from __future__ import annotations

from ..plan import ModelPlan
from . import Files, canonical_json

OPENAPI_FILE = "openapi.json"


def render_openapi(plan: ModelPlan) -> Files:
    if plan.layers is None or plan.layers.openapi is None:
        return {}
    return {f"{plan.slug}/{OPENAPI_FILE}": canonical_json(plan.layers.openapi)}
