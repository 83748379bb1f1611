"""Stage 4: render a plan into files. Each renderer is pure: plan in, ``{path: bytes}`` out.

The helpers every renderer shares live here, once: the files type, the canonical JSON form and the
content digest.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

Files = dict[str, bytes]
"""Rendered files by POSIX path relative to the output root."""


def canonical_json(data: Any) -> bytes:
    """Sorted keys, two-space indent, UTF-8, trailing newline: stable and readable in a diff."""
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


# sha256 by content: a file is hashed for each image of its context and again for the index, and the
# runtime archive is the same object in every context. Bounded, since keys keep their bytes alive.
_DIGESTS: dict[bytes, bytes] = {}
_DIGESTS_LIMIT = 8192


def file_digest(data: bytes) -> bytes:
    """The sha256 digest of ``data``, computed once for the same bytes."""
    digest = _DIGESTS.get(data)
    if digest is None:
        digest = hashlib.sha256(data).digest()
        if len(_DIGESTS) >= _DIGESTS_LIMIT:
            _DIGESTS.clear()
        _DIGESTS[data] = digest
    return digest
