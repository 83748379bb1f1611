"""The apply stage: make a registry and a cluster match ``out/``, reading nothing else.

``outdir`` checks ``out/`` against its index; ``images`` builds and pushes what the registry lacks;
``kube`` talks server-side apply; ``plan`` diffs a dry run against live state; ``prune`` finds what
left the ApplySet; ``gateway`` pushes the Kong config; ``run`` strings them together in order.
"""

from __future__ import annotations

from ..errors import AiarError, Problem


class ApplyError(AiarError):
    """Something in the registry, the cluster or the gateway refused, failed or timed out."""


def fail(subject: str, message: str) -> ApplyError:
    return ApplyError([Problem(subject, "", message)])
