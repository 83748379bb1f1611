"""Every default that shapes what gets built, in one place. Templates never invent defaults."""

from __future__ import annotations

RUNTIME_PACKAGE = "aiar_runtime"
"""Name under which ``generator/runtime`` is imported inside images."""
RUNTIME_ARCHIVE = "aiar_runtime.zip"
"""The runtime package as one ZIP in the build context, put on ``PYTHONPATH`` in the image."""

APP_DIR = "/app"
VENV_DIR = "/opt/venv"
CONFIG_MOUNT = "/etc/aiar"
CONFIG_FILE = "model-server.json"
SCRATCH_DIR = "/tmp"

RUN_AS_UID = 10001
"""Numeric, so that Kubernetes can verify ``runAsNonRoot`` without reading /etc/passwd."""

HTTP_PORT = 8080
BUS_PREFETCH = 16
BUS_MAX_RETRIES = 3
BUS_TRAINING_BUFFER = 1000

DATASET_PREFIX = "datasets"
MODEL_PREFIX = "models"

RESOURCE_REQUESTS = {"cpu": "100m", "memory": "256Mi"}
RESOURCE_LIMITS = {"cpu": "1", "memory": "1Gi"}

IMAGE_TAG_LENGTH = 20
"""Hex digits of the build context's sha256 used as the image tag."""

OCI_VENDOR = "aiar"


def queue_name(slug: str, purpose: str) -> str:
    return f"aiar.{slug}.{purpose}"


def dataset_key(file_name: str) -> str:
    return f"{DATASET_PREFIX}/{file_name}"


def model_key(slug: str, version: int, file_name: str) -> str:
    return f"{MODEL_PREFIX}/{slug}/{version}/{file_name}"
