"""The contract between the compiler and the apply stage: the layout of ``out/``, each name defined once.

The compiler writes ``out/`` by these names and apply reads it by them, as ``runtime/config.py`` is
the contract between the compiler and the model server. It imports nothing of aiar's: both sides
(and nothing else) depend on it.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

# --- files of out/ ---------------------------------------------------------------------------------

INDEX_FILE = "index.json"
"""At the root of ``out/``: what was generated and the sha256 of every file (:class:`Index`)."""
INDEX_VERSION = 1
"""The index schema below; apply refuses any other (an older or newer aiar wrote it)."""
APPLYSET_FILE = "k8s/applyset.yaml"
"""The ApplySet parent of every model's objects; applied before any member."""
GATEWAY_DIR = "gateway"
KONG_FILE = "kong.yaml"
"""A model's Kong routes: ``<slug>/gateway/kong.yaml``."""
GATEWAY_FILE = f"{GATEWAY_DIR}/{KONG_FILE}"
"""Every model's Kong routes, merged into one declarative file."""
K8S_DIR = "k8s"
"""A model's Kubernetes objects: ``<slug>/k8s/<object>.yaml``, one object per file."""


# --- the index schema ------------------------------------------------------------------------------


class IndexImage(TypedDict):
    context: str
    """Build context directory, relative to ``out/``."""
    dockerfile: str
    ref: str
    """``repository:tag``; the tag is the build context's digest."""


class IndexDataset(TypedDict):
    key: str
    """Storage key of a dataset the model's training Job reads."""
    pointer: str
    """Where its manifest names it (a JSON pointer), for apply's problem."""


class IndexModel(TypedDict):
    name: str
    version: int
    type: str
    images: dict[str, IndexImage]
    """By role: ``predict`` and, for a model that trains from storage, ``train``."""
    kubernetes: list[str]
    """Object files in apply order."""
    wait_for: dict[str, str]
    """Object file -> the condition apply waits for before applying the files after it."""
    gateway: str | None
    """The model's own Kong file; None without REST input."""
    datasets: NotRequired[list[IndexDataset]]
    """Only when its training Job reads any."""


class IndexApplySet(TypedDict):
    id: str
    parent: str
    """File of the ApplySet parent (:data:`APPLYSET_FILE`)."""


class IndexCluster(TypedDict):
    namespace: str
    applyset: IndexApplySet
    gateway: str
    """The merged Kong file (:data:`GATEWAY_FILE`)."""


class IndexGenerator(TypedDict):
    name: str
    version: str


class IndexInputs(TypedDict):
    environment: str
    """sha256 of the environment file the artifacts were compiled against."""
    bundles: dict[str, str]
    """slug -> sha256 of its bundle."""


class Index(TypedDict):
    """``index.json``: apply trusts nothing in ``out/`` that does not match it."""

    index_version: int
    generator: IndexGenerator
    inputs: IndexInputs
    models: dict[str, IndexModel]
    files: dict[str, str]
    """Every other file of ``out/`` -> ``sha256:<hex>``."""
    cluster: NotRequired[IndexCluster]


# --- labels and annotations ------------------------------------------------------------------------

APPLYSET_ID_LABEL = "applyset.kubernetes.io/id"
"""On the ApplySet parent: the set's ID (KEP-3659)."""
APPLYSET_PART_OF_LABEL = "applyset.kubernetes.io/part-of"
"""On every member: the parent's ID. apply prunes only labelled members of its own set."""
APPLYSET_TOOLING_ANNOTATION = "applyset.kubernetes.io/tooling"
"""On the parent: ``aiar/v<version>``."""
APPLYSET_GROUP_KINDS_ANNOTATION = "applyset.kubernetes.io/contains-group-kinds"
"""On the parent: the ``Kind.group`` of every member, the only kinds apply looks among to prune."""

SCALES_ANNOTATION = "aiar.dev/scales"
"""On a scale CronJob: the name of the Deployment it scales."""
REPLICAS_ANNOTATION = "aiar.dev/replicas"
"""On a scale CronJob: the replica count it sets."""

RUNTIME_REQUIREMENTS_MARKER = "# The aiar model server's own:"
"""In a build context's ``requirements.txt``: the model's pins come before this line, aiar's after."""
LOCKED_REQUIREMENTS_MARKER = "# Locked by `aiar lock`: every package installed, with its wheel's sha256."
"""In a locked build context's ``requirements.txt`` (hash-checking mode): no pins to look up before a build."""

STOPPED_BY_ANNOTATION = "aiar.dev/stopped-by"
"""On a Deployment ``aiar stop`` stopped: who (``user@host``). apply keeps it at 0 replicas while set."""
STOPPED_AT_ANNOTATION = "aiar.dev/stopped-at"
"""On a Deployment ``aiar stop`` stopped: when (ISO 8601, UTC)."""
DELETED_MODELS_ANNOTATION = "aiar.dev/deleted-models"
"""On the ApplySet parent: the models ``aiar delete`` removed (comma-separated slugs). apply leaves them
out until one is applied by name (``aiar apply MODEL``)."""
AUTOSCALED_ANNOTATION = "aiar.dev/autoscaled-by"
"""On a Deployment under an autoscaler: its kind (``ScaledObject`` or ``HorizontalPodAutoscaler``). The
autoscaler owns its replicas: apply sends a count only to hold it stopped (0)."""
KEDA_PAUSED_ANNOTATION = "autoscaling.keda.sh/paused-replicas"
"""On a ScaledObject: KEDA holds its target at this count and stops scaling it. The stop CronJobs and
``aiar stop`` set it to ``"0"``; the start CronJobs and ``aiar start`` remove it."""
OPERATIONAL_ANNOTATIONS = frozenset(
    {STOPPED_BY_ANNOTATION, STOPPED_AT_ANNOTATION, DELETED_MODELS_ANNOTATION, KEDA_PAUSED_ANNOTATION}
)
"""aiar's own annotations that the operations commands write, not apply: never drift."""


# --- apply order -----------------------------------------------------------------------------------

KIND_PHASE: dict[str, int] = {
    "ConfigMap": 1,
    "Secret": 1,
    "ServiceAccount": 2,
    "Role": 2,
    "RoleBinding": 2,
    "TriggerAuthentication": 2,
    "Job": 3,
    "Deployment": 4,
    "Service": 4,
    "PodDisruptionBudget": 4,
    "ScaledObject": 5,
    "HorizontalPodAutoscaler": 5,
    "CronJob": 5,
    "NetworkPolicy": 6,
    "PodMonitor": 7,
    "PrometheusRule": 7,
}
"""The apply phase of every kind aiar renders: config, RBAC, the training Job (apply waits for it),
serving, its autoscaler and the schedule's CronJobs, the NetworkPolicies, then monitoring. The
compiler orders each model's objects by it and apply applies phase by phase; a kind that is not here
is neither rendered nor applied."""


class UnknownKindError(LookupError):
    """A Kubernetes kind without an apply phase: add it to :data:`KIND_PHASE` with the renderer."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"no apply phase for the kind {kind!r}: add it to contract.KIND_PHASE")
        self.kind = kind


def apply_phase(kind: str) -> int:
    """The phase ``kind`` is applied in; an unknown kind is an error, never a guess."""
    try:
        return KIND_PHASE[kind]
    except KeyError:
        raise UnknownKindError(kind) from None
