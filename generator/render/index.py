"""``index.json``: what was generated, from what, and the sha256 of every file.

``apply`` trusts nothing in ``out/`` that does not match this index, and reads its image list from
here instead of re-deriving anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .. import __version__
from ..contract import INDEX_VERSION, Index, IndexModel
from . import Files, canonical_json, file_digest
from .image import BuiltImage


@dataclass(frozen=True)
class ModelEntry:
    slug: str
    name: str
    version: int
    type: str
    bundle_digest: str
    images: tuple[BuiltImage, ...]
    kubernetes: tuple[str, ...] = ()
    """Object files in apply order."""
    waits: tuple[tuple[str, str], ...] = ()
    """(object file, condition) that apply waits for before applying the files after it."""
    gateway: str | None = None
    """The model's own Kong file (None without REST input); ``gateway/kong.yaml`` merges them all."""
    datasets: tuple[tuple[str, str], ...] = ()
    """(storage key, manifest pointer) of each dataset its training Job reads: apply checks they exist."""


@dataclass(frozen=True)
class ClusterEntry:
    namespace: str
    applyset_id: str
    applyset_parent: str
    """File of the ApplySet parent; apply it before any member."""
    gateway: str
    """The merged Kong file of every model."""


def sha256(data: bytes) -> str:
    return "sha256:" + file_digest(data).hex()


def _model(m: ModelEntry) -> IndexModel:
    entry: IndexModel = {
        "name": m.name,
        "version": m.version,
        "type": m.type,
        "images": {
            image.role: {"context": image.context, "dockerfile": image.dockerfile, "ref": image.ref}
            for image in m.images
        },
        "kubernetes": list(m.kubernetes),
        "wait_for": dict(m.waits),
        "gateway": m.gateway,
    }
    if m.datasets:
        entry["datasets"] = [{"key": k, "pointer": p} for k, p in m.datasets]
    return entry


def render_index(
    files: Files, models: Sequence[ModelEntry], environment_digest: str, cluster: ClusterEntry | None = None
) -> bytes:
    """``index.json`` in the contract's schema (:class:`generator.contract.Index`)."""
    index: Index = {
        "index_version": INDEX_VERSION,
        "generator": {"name": "aiar", "version": __version__},
        "inputs": {
            "environment": environment_digest,
            "bundles": {m.slug: m.bundle_digest for m in models},
        },
        "models": {m.slug: _model(m) for m in models},
        "files": {name: sha256(files[name]) for name in sorted(files)},
    }
    if cluster is not None:
        index["cluster"] = {
            "namespace": cluster.namespace,
            "applyset": {"id": cluster.applyset_id, "parent": cluster.applyset_parent},
            "gateway": cluster.gateway,
        }
    return canonical_json(index)
