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
