"""Property: whatever a manifest says, it stays a value in the generated Dockerfile."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from generator.bundle import BundleSource
from generator.environment import load_environment
from generator.load import load_bundle
from generator.plan import plan_model
from generator.render.image import render_build_context
from tests.conftest import EXAMPLE_ENV
from tests.helpers import minimal_manifest

ENV = load_environment(EXAMPLE_ENV)


def dockerfile_for(**fields: Any) -> str:
    manifest = json.dumps(minimal_manifest(**fields))
    source = BundleSource(
        "q",
        (
            ("manifest.json", manifest.encode()),
            ("src/predict.py", b"def predict(model, *params):\n    return params\n"),
        ),
    )
    plan = plan_model(load_bundle(source), 1, ENV)
    return render_build_context(plan)["Dockerfile.predict"].decode()


def instruction_shape(dockerfile: str) -> list[str]:
    """The instruction keyword of each logical line: what the Dockerfile *does*."""
    shape, continued = [], False
    for line in dockerfile.splitlines():
        if not continued and line and not line.startswith("#"):
            shape.append(line.split()[0])
        continued = line.endswith("\\")
    return shape


BASELINE = instruction_shape(dockerfile_for())


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200).filter(lambda s: s.strip() != ""), st.text(max_size=300))
def test_name_and_description_cannot_add_instructions(name: str, description: str) -> None:
    try:
        text = dockerfile_for(name=name.replace("\0", "") or "x", description=description)
    except Exception as exc:  # names that make no DNS label are refused by validation, that's fine
        error: Exception | None = exc
    else:
        error = None
    if error is not None:
        assert type(error).__name__ == "ManifestError"
        return
    assert instruction_shape(text) == BASELINE
    label_lines = [line for line in text.splitlines() if "org.opencontainers.image.description=" in line]
    assert len(label_lines) == 1
    value = label_lines[0].split("=", 1)[1].removesuffix(" \\")
    # the value is one double-quoted string in which every $ is escaped
    assert value.startswith('"')
    assert value.endswith('"')
    assert "$" not in value.replace("\\$", "")
