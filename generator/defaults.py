"""Every default that shapes what gets built, in one place. Templates never invent defaults."""

from __future__ import annotations

RUNTIME_PACKAGE = "aiar_runtime"
"""Name under which ``generator/runtime`` is imported inside images."""
RUNTIME_ARCHIVE = "aiar_runtime.zip"
"""The runtime package as one ZIP in the build context, put on ``PYTHONPATH`` in the image."""

APP_DIR = "/app"
VENV_DIR = "/opt/venv"
REQUIREMENTS_PATH = "/opt/aiar-requirements.txt"
"""What the venv was installed from, kept in the image: it says what is in there."""
CONFIG_MOUNT = "/etc/aiar"
CONFIG_FILE = "model-server.json"
# a path inside the image, where /tmp is the pod's own emptyDir
SCRATCH_DIR = "/tmp"  # noqa: S108

RUN_AS_UID = 10001
"""Numeric, so that Kubernetes can verify ``runAsNonRoot`` without reading /etc/passwd."""

HTTP_PORT = 8080
OIP_OUTPUT = "result"
"""The one OIP output of a model whose code returns one result."""

JAVA_DIR = "/opt/java"
"""Where an H2O image holds the JRE copied from the environment's Java image."""
JVM_OPTIONS = ("-XX:+UseSerialGC", "-XX:MaxRAMPercentage=50", "-XX:-UsePerfData")
"""One scoring thread needs no parallel GC; half the container's memory leaves room for the Python
server; no perf data file, as the root filesystem is read-only."""
JVM_TRAIN_OPTIONS = ("-XX:MaxRAMPercentage=40", "-XX:-UsePerfData")
"""For ``train.jar``, one JVM per training. Bus training runs it in the prediction pod beside
predict.jar's JVM, so it gets less than the Job alone would need: these are heap ceilings, not a
budget; a model whose training needs more must raise the pod's memory limit."""
H2O_TRAIN_JAR = "train.jar"
"""An H2O bundle's training jar, ``src/train.jar``, as the original system named it."""
H2O_JAR = "h2o-predict.jar"
"""aiar's own H2O bridge jar (``generator/jars``, built from ``java/h2o-bridge``), shipped for bundles
that give a MOJO and no jar."""
BUS_PREFETCH = 16
BUS_MAX_RETRIES = 3
BUS_TRAINING_BUFFER = 1000

DATASET_PREFIX = "datasets"
MODEL_PREFIX = "models"

RESOURCE_REQUESTS = {"cpu": "100m", "memory": "256Mi", "ephemeral-storage": "128Mi"}
RESOURCE_LIMITS = {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "512Mi"}
"""Of the model's containers (server and training). The kubelet counts the pod's emptyDir usage and its
containers' logs against the sum of the containers' ephemeral-storage limits, so the limit leaves room
for a full scratch volume (``SCRATCH_SIZE``) plus logs; the root filesystem itself is read-only."""

IMAGE_TAG_LENGTH = 20
"""Hex digits of the build context's sha256 used as the image tag."""

OCI_VENDOR = "aiar"


def queue_name(slug: str, purpose: str) -> str:
    return f"aiar.{slug}.{purpose}"


def dataset_key(file_name: str) -> str:
    return f"{DATASET_PREFIX}/{file_name}"


def model_key(slug: str, version: int, file_name: str) -> str:
    return f"{MODEL_PREFIX}/{slug}/{version}/{file_name}"


# --- cluster side (generator/render/cluster, schedule, gateway) ------------------------------------

PART_OF = "aiar"
"""``app.kubernetes.io/part-of`` and ``managed-by`` of everything aiar renders."""
ANNOTATION_PREFIX = "aiar.dev"
APPLYSET_PARENT = "aiar-applyset"
"""Name of the ConfigMap that is the ApplySet parent in the namespace (see render/cluster/applyset.py)."""
NAME_HASH_LENGTH = 10
"""Hex digits of the content hash in ``<slug>-config-<hash>`` and ``<slug>-train-<hash>``."""

REPLICAS = 1
"""Replicas of an unscheduled model, and what a ``start`` CronJob scales to. Above one, the model gets
a PodDisruptionBudget and topology spread constraints (see ``plan.cluster.ClusterPlan.max_replicas``)."""
PDB_MAX_UNAVAILABLE = 1
"""Voluntary disruptions (node drains) take at most one of a model's pods at a time."""
SPREAD_TOPOLOGY_KEYS = ("kubernetes.io/hostname", "topology.kubernetes.io/zone")
"""A multi-replica model's pods spread over nodes, then zones; ScheduleAnyway, so that a cluster with
fewer nodes or zones than replicas still runs them all."""
HEALTH_ROUTE_NAMES = ("readyz", "ready", "readiness", "healthz", "health")
"""Last path segments of a DOCKER_LAYERS OpenAPI ``GET`` route taken as its readiness check, most
specific first; liveness-only names (``livez``) are not readiness signals and are not used."""
REVISION_HISTORY = 3
SERVICE_PORT = 80
DNS_PORT = 53
SCRATCH_SIZE = "256Mi"
"""``sizeLimit`` of every pod's ``/tmp`` emptyDir (a downloaded model or dataset; the scaler's kubectl cache)."""

PROBE_PERIOD_S = 10
STARTUP_FAILURES = 60
"""Startup probe: up to 60 x 5 s for the model to load before liveness applies."""

TRAINING_BACKOFF_LIMIT = 2
TRAINING_DEADLINE_S = 6 * 3600
"""The training Job's ``activeDeadlineSeconds``, and how long one train.jar run may take."""

SCHEDULE_STARTING_DEADLINE_S = 300
"""A start/stop missed by more than this (controller down) is skipped rather than run late."""
SCHEDULE_SUCCESS_HISTORY = 1
SCHEDULE_FAILED_HISTORY = 3
SCALER_BACKOFF_LIMIT = 2
SCALER_DEADLINE_S = 120
API_TOKEN_TTL_S = 600
"""Lifetime of the scaler's projected API token (the kubelet's minimum); the Job ends well before."""
SCALER_RESOURCES = {
    "requests": {"cpu": "10m", "memory": "32Mi", "ephemeral-storage": "32Mi"},
    "limits": {"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "320Mi"},
}
"""kubectl's discovery cache needs a few MiB (the request); the limit still covers a full scratch
volume plus logs, so that the scratch volume's own ``sizeLimit`` is what stops a runaway write."""
SIDECAR_RESOURCES = {
    "requests": {"cpu": "50m", "memory": "64Mi", "ephemeral-storage": "32Mi"},
    "limits": {"cpu": "200m", "memory": "256Mi", "ephemeral-storage": "128Mi"},
}
"""The Wazuh agent writes only its logs (its root filesystem is read-only; /tmp is the model's scratch)."""

KONG_FORMAT_VERSION = "3.0"
KONG_TAG = "aiar"
"""decK ``select_tags``: a sync of aiar's gateway file touches only entities carrying this tag."""
KONG_KEY_NAMES = ("apikey",)


def image_layout() -> dict[str, object]:
    """Where things live inside every image aiar writes a Dockerfile for (template variables)."""
    return {
        "venv": VENV_DIR,
        "scratch": SCRATCH_DIR,
        "app_dir": APP_DIR,
        "runtime_archive": RUNTIME_ARCHIVE,
        "uid": RUN_AS_UID,
        "requirements_path": REQUIREMENTS_PATH,
    }
