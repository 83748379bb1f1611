"""The model server's JSON config (``<slug>/server/model-server.json``), as the runtime reads it."""

from __future__ import annotations

from .. import defaults
from ..plan import ModelPlan
from . import Files, canonical_json

SERVER_DIR = "server"


def render_server_config(plan: ModelPlan) -> Files:
    # ``jvm`` only where there is one, and its training part only for a model that trains: configs
    # keep the shape they had before either existed (the config's hash names its ConfigMap)
    jvm = plan.server.jvm
    config = plan.server.model_dump(mode="json", exclude={"jvm"} if jvm is None else None)
    if jvm is not None and jvm.train_jar is None:
        for key in ("train_jar", "train_options", "train_timeout_s"):
            del config["jvm"][key]
    return {f"{plan.slug}/{SERVER_DIR}/{defaults.CONFIG_FILE}": canonical_json(config)}
