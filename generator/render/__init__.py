"""Stage 4: render a plan into files. Each renderer is pure: plan in, ``{path: bytes}`` out."""

from __future__ import annotations

Files = dict[str, bytes]
"""Rendered files by POSIX path relative to the output root."""
