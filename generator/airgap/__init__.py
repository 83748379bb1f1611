"""Air-gapped deployment: ``aiar export`` writes one archive on the connected side; ``aiar apply
--from`` (and ``plan --from``) verify it, push its images into the site's registry and apply its
``out/`` with no other network access. See :mod:`.archive` for the layout."""

from __future__ import annotations

from ..errors import AiarError


class ArchiveError(AiarError):
    """An archive that cannot be written, or read and trusted."""


__all__ = ["ArchiveError"]
