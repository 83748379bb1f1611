"""The one Jinja environment, for text formats only (Dockerfiles, .dockerignore).

Strict: an undefined variable is an error, not an empty string. Values reach templates only through
quoting filters, so that a manifest's text cannot become a Dockerfile instruction.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jinja2

from .assets import templates_dir


def docker_string(value: object) -> str:
    """A double-quoted Dockerfile string: one line, escapes and ``$`` neutralised."""
    text = " ".join(str(value).split())
    return json.dumps(text, ensure_ascii=False).replace("$", "\\$")


def docker_json(value: object) -> str:
    """An exec-form (JSON array) argument list."""
    return json.dumps(value, ensure_ascii=False).replace("$", "\\$")


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # renders Dockerfiles, not HTML: the quoting filters escape values for the shell
        autoescape=False,  # noqa: S701
    )
    env.filters["dq"] = docker_string
    env.filters["dj"] = docker_json
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
