"""What aiar ships besides its code, read through :mod:`importlib.resources`, each in one place.

The model-server package (as the archive images import it from) and its requirements, aiar's H2O
bridge jar, the Jinja templates and the catalog of Docker layers. All are part of aiar, never of a
bundle: the same aiar always gives the same bytes.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from . import defaults

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
LAYER_SUFFIX = ".Dockerfile.j2"
"""A layer of the catalog is ``templates/layers/<name>.Dockerfile.j2``."""


def _package() -> Traversable:
    return resources.files(__package__ or "generator")


def _runtime() -> Traversable:
    return _package() / "runtime"


def _python_files(root: Traversable, parts: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], bytes]]:
    for entry in root.iterdir():
        if entry.is_dir() and entry.name != "__pycache__":
            yield from _python_files(entry, (*parts, entry.name))
        elif entry.is_file() and entry.name.endswith(".py"):
            yield (*parts, entry.name), entry.read_bytes()


@cache
def runtime_archive() -> bytes:
    """The model-server package as one importable ZIP (part of aiar itself, not of the bundle).

    One file instead of a copy of every module keeps ``out/`` small and its diffs about the bundle;
    Python imports straight from it (``PYTHONPATH``). Entries are stored uncompressed with fixed
    dates and modes, so the bytes are the same on every machine whatever its zlib.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for parts, data in sorted(_python_files(_runtime())):
            info = zipfile.ZipInfo("/".join((defaults.RUNTIME_PACKAGE, *parts)), _ZIP_EPOCH)
            info.external_attr = 0o100644 << 16
            info.create_system = 3  # Unix, whatever the host
            archive.writestr(info, data)
    return buffer.getvalue()


@cache
def runtime_requirements() -> tuple[str, ...]:
    """The model server's own pins (``generator/runtime/requirements.txt``), comments left out."""
    path = _runtime() / "requirements.txt"
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))


@cache
def optional_runtime_requirements() -> dict[str, str]:
    """The model server's pins that only some models need (``requirements-optional.txt``), by package."""
    path = _runtime() / "requirements-optional.txt"
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    pins = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return {pin.split("==")[0]: pin for pin in pins}


def h2o_jar_path() -> Path:
    """aiar's H2O bridge jar on disk (built from ``java/h2o-bridge`` by its ``build.sh``).

    aiar runs from a directory (a checkout or an installed wheel), never from a ZIP, so the
    resource is a file a JVM can open.
    """
    return Path(str(_package() / "jars" / defaults.H2O_JAR))


@cache
def h2o_jar() -> bytes:
    """The bridge jar's bytes, shipped as the ``jarFile`` of H2O bundles that give a MOJO and no jar."""
    return h2o_jar_path().read_bytes()


def templates_dir() -> Path:
    """``templates/`` ships inside the wheel as ``generator/templates``; in a checkout it is beside it."""
    packaged = Path(str(_package() / "templates"))
    return packaged if packaged.is_dir() else Path(str(_package())).parent / "templates"


@cache
def layer_catalog() -> tuple[str, ...]:
    """Names of the Docker layers shipped with aiar, sorted."""
    return tuple(
        sorted(p.name.removesuffix(LAYER_SUFFIX) for p in (templates_dir() / "layers").glob("*" + LAYER_SUFFIX))
    )
