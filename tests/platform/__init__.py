"""Local platform for integration tests (Kubernetes API + kwok, registry, podman, RabbitMQ, S3).

See ``tests/platform/testenv.py`` (CLI: ``python -m tests.platform.testenv up|down|status|env``).
"""

from .testenv import Platform, ensure_up

__all__ = ["Platform", "ensure_up"]
