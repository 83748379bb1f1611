"""``index.json``: what was generated, from what, and the sha256 of every file.

``apply`` trusts nothing in ``out/`` that does not match this index, and reads its image list from
here instead of re-deriving anything.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from .. import __version__
from . import Files
from .image import BuiltImage
from .server_config import canonical_json

INDEX_FILE = "index.json"
INDEX_VERSION = 1


@dataclass(frozen=True)
class ModelEntry:
    slug: str
    name: str
    version: int
    type: str
    bundle_digest: str
    images: tuple[BuiltImage, ...]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def render_index(files: Files, models: Sequence[ModelEntry], environment_digest: str) -> bytes:
    index = {
        "index_version": INDEX_VERSION,
        "generator": {"name": "aiar", "version": __version__},
        "inputs": {
            "environment": environment_digest,
            "bundles": {m.slug: m.bundle_digest for m in models},
        },
        "models": {
            m.slug: {
                "name": m.name,
                "version": m.version,
                "type": m.type,
                "images": {
                    image.role: {
                        "context": image.context,
                        "dockerfile": image.dockerfile,
                        "ref": image.ref,
                    }
                    for image in m.images
                },
            }
            for m in models
        },
        "files": {name: sha256(files[name]) for name in sorted(files)},
    }
    return canonical_json(index)
