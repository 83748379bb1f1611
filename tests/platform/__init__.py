"""Local platform for integration tests (Kubernetes API + kwok, registry, podman, RabbitMQ, S3).

Use ``from tests.platform.testenv import Platform, ensure_up``; CLI:
``python -m tests.platform.testenv up|down|status|env``.
"""
