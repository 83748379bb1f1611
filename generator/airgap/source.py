"""The registry an export reads its images from, as the environment file names it.

An export needs four values of the environment file: its registry's URL, whether it is reached
without TLS verification, and the names of the variables holding its credentials. When the file and
the files it names (CA bundle, layer files) are byte for byte those ``out/`` was generated with (the
digest ``out/``'s index records), ``generate`` validated them then: they are read here as plain
data (``envread``: bounded and screened as always), without building the environment's models, which
cost 0.15-0.2 s of CPU beside the image copies (a fifth of an export of ten small images). Any other
file is validated in full, and refused unless it is ``out/``'s (:func:`source_registry`).

The four values are checked against the same patterns the models use even so: ``out/`` and the
file could have been edited together.

This module imports neither pydantic nor the environment's models (only its fallback does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..apply.outdir import OutDir, staging_insecure
from ..envread import (
    ENV_VAR_MAX,
    ENV_VAR_PATTERN,
    MAX_CA_BUNDLE_BYTES,
    MAX_LAYER_FILE_BYTES,
    REGISTRY_URL_MAX,
    REGISTRY_URL_PATTERN,
    Unreadable,
    beside,
    environment_digest,
    read_regular_file,
    read_text,
    read_yaml,
)
from ..errors import AiarError, Problem
from . import ArchiveError

_URL = re.compile(REGISTRY_URL_PATTERN)
_ENV_VAR = re.compile(ENV_VAR_PATTERN)


@dataclass(frozen=True)
class SourceRegistry:
    """The registry images are read from: the environment's, or the one ``--registry`` names."""

    url: str
    insecure: bool = False
    username_env: str | None = None
    password_env: str | None = None

    def staged(self, into: str | None, insecure: bool | None) -> SourceRegistry:
        """``into`` in place of this registry (its credentials kept), as ``apply.build`` stages."""
        if into is None:
            return self
        return replace(self, url=into, insecure=staging_insecure(self.insecure, into, insecure))


@dataclass(frozen=True)
class PlainEnvironment:
    """The environment file as read, not validated: its bytes and its data."""

    path: Path
    raw: bytes
    document: Any

    @classmethod
    def read(cls, path: Path) -> PlainEnvironment:
        """Raises :class:`AiarError` (located problems) or ``OSError``, as ``envread`` does."""
        raw, text = read_text(path)
        document, _ = read_yaml(text, str(path))
        return cls(path, raw, document)

    def registry(self) -> SourceRegistry | None:
        """The registry the file names, if its values have the types and forms the models require."""
        registry = self.document.get("registry") if isinstance(self.document, dict) else None
        if not isinstance(registry, dict):
            return None
        url, insecure = registry.get("url"), registry.get("insecure", False)
        names = registry.get("username_env"), registry.get("password_env")
        # fullmatch: ``$`` alone would let a final newline through, which the models refuse
        if not (isinstance(url, str) and 0 < len(url) <= REGISTRY_URL_MAX and _URL.fullmatch(url)):
            return None
        if type(insecure) is not bool:
            return None
        if not all(
            n is None or (isinstance(n, str) and len(n) <= ENV_VAR_MAX and _ENV_VAR.fullmatch(n)) for n in names
        ):
            return None
        return SourceRegistry(url, insecure, names[0], names[1])

    def digest(self) -> str | None:
        """The digest ``generate`` records of this file and the files it names; None when one of
        those cannot be read or is named by a value of the wrong type (validation says which)."""
        document = self.document if isinstance(self.document, dict) else {}
        build, layers = document.get("build") or {}, document.get("layers") or {}
        if not isinstance(build, dict) or not isinstance(layers, dict):
            return None
        ca_name = build.get("ca_bundle")
        try:
            ca_bundle = None
            if ca_name is not None:
                if not isinstance(ca_name, str):
                    return None
                ca_bundle = read_regular_file(beside(self.path, ca_name), MAX_CA_BUNDLE_BYTES)
            texts = {}
            for name, layer in layers.items():
                if not isinstance(layer, dict):
                    return None
                file = layer.get("file")
                if file is None:
                    continue
                if not isinstance(file, str):
                    return None
                texts[name] = read_regular_file(beside(self.path, file), MAX_LAYER_FILE_BYTES).decode("utf-8")
        except (Unreadable, UnicodeDecodeError):
            return None
        return environment_digest(self.raw, ca_bundle, texts)


def unchanged_registry(plain: PlainEnvironment, out: OutDir) -> SourceRegistry | None:
    """The registry of ``plain`` when it is the environment ``out/`` was generated with; else None."""
    if plain.digest() != out.environment_digest:
        return None
    return plain.registry()


def source_registry(out: OutDir, env_file: Path, known: SourceRegistry | None = None) -> SourceRegistry:
    """The environment's registry, when ``env_file`` is the environment ``out/`` was generated with
    (``known``: found so already); otherwise the file's problems, or the refusal of another file."""
    if known is not None:
        return known
    try:
        registry = unchanged_registry(PlainEnvironment.read(env_file), out)
    except (AiarError, OSError):
        registry = None  # said below, by the validation
    if registry is not None:
        return registry
    from ..environment import load_environment

    loaded = load_environment(env_file)
    if loaded.digest != out.environment_digest:
        message = f"is not the environment {out.root} was generated with; run `aiar generate --env {env_file}` first"
        raise ArchiveError([Problem(str(env_file), "", message)])
    model = loaded.env.registry
    return SourceRegistry(model.url, model.insecure, model.username_env, model.password_env)
