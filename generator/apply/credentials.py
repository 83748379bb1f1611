"""Registry credentials: read from the environment variables the environment file names, never
from the file itself. No pydantic here: ``aiar export`` reads them without the environment's models."""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from . import fail


class NamesCredentials(Protocol):
    """A registry as the environment names it (its ``Registry`` model, or the export's plain reading)."""

    @property
    def url(self) -> str: ...
    @property
    def username_env(self) -> str | None: ...
    @property
    def password_env(self) -> str | None: ...


@dataclass
class Credentials:
    """Registry credentials read from the environment variables the environment file names."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, registry: NamesCredentials, environ: Mapping[str, str] = os.environ) -> Credentials:
        values: list[str | None] = []
        for name in (registry.username_env, registry.password_env):
            if name is None:
                values.append(None)
            elif name not in environ:
                raise fail(f"registry {registry.url}", f"environment variable {name} is not set (registry credentials)")
            else:
                values.append(environ[name])
        return cls(values[0], values[1])

    def auth_config(self) -> dict[str, str] | None:
        if self.username is None or self.password is None:
            return None
        return {"username": self.username, "password": self.password}

    def basic(self) -> str | None:
        if self.username is None or self.password is None:
            return None
        return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
