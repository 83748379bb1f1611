"""The contract between the compiler and the apply stage: names both sides read, each defined once.

(``runtime/config.py`` is the same kind of contract between the compiler and the model server.)
"""

from __future__ import annotations

SCALES_ANNOTATION = "aiar.dev/scales"
"""On a scale CronJob: the name of the Deployment it scales."""
REPLICAS_ANNOTATION = "aiar.dev/replicas"
"""On a scale CronJob: the replica count it sets."""

RUNTIME_REQUIREMENTS_MARKER = "# The aiar model server's own:"
"""In a build context's ``requirements.txt``: the model's pins come before this line, aiar's after."""

STOPPED_BY_ANNOTATION = "aiar.dev/stopped-by"
"""On a Deployment ``aiar stop`` stopped: who (``user@host``). apply keeps it at 0 replicas while set."""
STOPPED_AT_ANNOTATION = "aiar.dev/stopped-at"
"""On a Deployment ``aiar stop`` stopped: when (ISO 8601, UTC)."""
OPERATIONAL_ANNOTATIONS = frozenset({STOPPED_BY_ANNOTATION, STOPPED_AT_ANNOTATION})
"""aiar's own annotations that the operations commands write, not apply: never drift."""
