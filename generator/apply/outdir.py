"""Read ``out/`` for apply, trusting nothing that does not match ``index.json``.

A partial copy, a stray file or an edited file means ``out/`` is not what ``aiar generate`` wrote:
applying it could push an image or delete an object nobody reviewed, so every such case is refused
before anything else happens.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from ..contract import (
    APPLYSET_ID_LABEL,
    APPLYSET_PART_OF_LABEL,
    INDEX_FILE,
    INDEX_VERSION,
    K8S_DIR,
    Index,
    IndexModel,
    UnknownKindError,
    apply_phase,
)
from ..errors import OutputError, Problem
from . import fail


@dataclass(frozen=True)
class ObjectKey:
    """Identity of a Kubernetes object, independent of its API version."""

    group: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        kind = f"{self.kind}.{self.group}" if self.group else self.kind
        return f"{kind} {self.namespace}/{self.name}" if self.namespace else f"{kind} {self.name}"


def group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def key_of(body: Mapping[str, Any]) -> ObjectKey:
    meta = body.get("metadata") or {}
    return ObjectKey(
        group_of(str(body["apiVersion"])), str(body["kind"]), str(meta.get("namespace") or ""), str(meta["name"])
    )


@dataclass(frozen=True)
class KubeObject:
    path: str
    """File in ``out/`` it was read from."""
    model: str | None
    """Slug of the model it belongs to; None for objects shared by every model (the ApplySet parent)."""
    body: dict[str, Any]
    wait_for: str | None = None
    """Condition apply waits for before applying later phases (``Complete`` for training Jobs)."""

    @property
    def key(self) -> ObjectKey:
        return key_of(self.body)

    @property
    def api_version(self) -> str:
        return str(self.body["apiVersion"])

    @property
    def kind(self) -> str:
        return str(self.body["kind"])


@dataclass(frozen=True)
class Image:
    model: str
    role: str
    context: Path
    """Absolute path of the build context."""
    dockerfile: str
    ref: str

    @property
    def repository(self) -> str:
        return self.ref.rpartition(":")[0]

    @property
    def tag(self) -> str:
        return self.ref.rpartition(":")[2]


def relocated_ref(ref: str, registry_url: str, into: str | None) -> str | None:
    """``ref`` with the environment's registry ``registry_url`` replaced by ``into`` (same repository
    and tag); ``ref`` itself without ``into``; None when ``ref`` is not in that registry."""
    if into is None:
        return ref
    prefix = registry_url.rstrip("/") + "/"
    if not ref.startswith(prefix):
        return None
    return into.rstrip("/") + "/" + ref.removeprefix(prefix)


def relocated(images: Sequence[Image], registry_url: str, into: str | None) -> tuple[Image, ...]:
    """``images`` with the environment's registry replaced by ``into`` (same repositories and tags)."""
    moved = []
    for image in images:
        ref = relocated_ref(image.ref, registry_url, into)
        if ref is None:
            raise fail(image.ref, f"is not in the environment's registry {registry_url}")
        moved.append(replace(image, ref=ref))
    return tuple(moved)


def staging_insecure(env_insecure: bool, into: str | None, insecure: bool | None) -> bool:
    """Whether the registry images go to (or come from) is reached without TLS verification: the
    environment's choice, unless ``into`` replaces its registry and ``insecure`` is given."""
    return env_insecure if into is None or insecure is None else insecure


@dataclass(frozen=True)
class Model:
    slug: str
    images: tuple[Image, ...]
    objects: tuple[KubeObject, ...]
    datasets: tuple[tuple[str, str], ...] = ()
    """(storage key, manifest pointer) of each dataset its training Job reads."""


@dataclass(frozen=True)
class OutDir:
    root: Path
    environment_digest: str
    models: tuple[Model, ...]
    parent: KubeObject | None
    """The ApplySet parent; None when out/ has no Kubernetes objects at all."""
    gateway: bytes | None
    """The merged Kong declarative config, when generated."""
    selection: frozenset[str] | None = None
    """Models named on the command line (``aiar apply MODEL...``): only theirs is built, applied and
    pruned; None for all of ``out/``."""

    def select(self, slugs: Iterable[str]) -> OutDir:
        """The same out/, narrowed to these models; an unknown name is a problem naming the known ones."""
        wanted = frozenset(slugs)
        known = {m.slug for m in self.models}
        unknown = sorted(wanted - known)
        if unknown:
            raise OutputError(
                [
                    _problem(
                        self.root, INDEX_FILE, f"no model {name!r} in this out/; it has: {', '.join(sorted(known))}"
                    )
                    for name in unknown
                ]
            )
        return replace(self, models=tuple(m for m in self.models if m.slug in wanted), selection=wanted)

    def owns(self, model: str | None) -> bool:
        """Whether a live member of the model ``model`` is within this apply's reach (its selection)."""
        return self.selection is None or model in self.selection

    @property
    def images(self) -> tuple[Image, ...]:
        return tuple(i for m in self.models for i in m.images)

    @property
    def objects(self) -> tuple[KubeObject, ...]:
        """Every member of the ApplySet (the parent excluded)."""
        return tuple(o for m in self.models for o in m.objects)

    @property
    def namespace(self) -> str | None:
        return self.parent.key.namespace if self.parent is not None else None

    @property
    def applyset_id(self) -> str | None:
        if self.parent is None:
            return None
        return str(self.parent.body["metadata"]["labels"][APPLYSET_ID_LABEL])


def _problem(root: Path, name: str, message: str) -> Problem:
    return Problem(str(root / name), "", message)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def check_files(root: Path, expected: Mapping[str, str]) -> list[Problem]:
    """Every indexed file present with its hash, and nothing else in the tree."""
    problems: list[Problem] = []
    present = {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if (p.is_file() or p.is_symlink()) and p.relative_to(root).as_posix() != INDEX_FILE
    }
    problems.extend(
        _problem(root, name, "not listed in index.json: refusing to apply a tampered out/")
        for name in sorted(present - set(expected))
    )
    for name, digest in sorted(expected.items()):
        path = root / name
        if name not in present:
            problems.append(_problem(root, name, "listed in index.json but missing: out/ is partial"))
        elif path.is_symlink():
            problems.append(_problem(root, name, "is a symlink: refusing to follow it"))
        elif sha256_file(path) != digest:
            problems.append(_problem(root, name, "content differs from index.json: run `aiar generate` again"))
    return problems


@cache
def _yaml() -> Any:
    from ruamel.yaml import YAML

    # The C loader (ruamel.yaml.clib) when installed: ten times faster on a few hundred objects.
    return YAML(typ="safe", pure=False)


def _load_yaml(root: Path, name: str) -> dict[str, Any]:
    data = _yaml().load((root / name).read_bytes())
    if not isinstance(data, dict) or not {"apiVersion", "kind", "metadata"} <= data.keys():
        raise OutputError([_problem(root, name, "is not a Kubernetes object")])
    return data


def object_files(root: Path, slug: str, entry: IndexModel, files: Iterable[str]) -> list[str]:
    """The model's Kubernetes object files, in apply order.

    The index lists them (``kubernetes``); an index without the list (older generators) falls back to
    every YAML file under ``<slug>/k8s/``, ordered by the contract's apply phase of their kinds.
    """
    listed = entry.get("kubernetes")
    if isinstance(listed, list):
        return [str(x) for x in listed]
    found = sorted(f for f in files if f.startswith(f"{slug}/{K8S_DIR}/") and f.endswith(".yaml"))
    phases = {f: _phase(root, f, _load_yaml(root, f)) for f in found}
    return sorted(found, key=phases.__getitem__)


def _phase(root: Path, name: str, body: Mapping[str, Any]) -> int:
    """The apply phase of the object in ``name``; a kind the contract has no phase for is refused."""
    try:
        return apply_phase(str(body["kind"]))
    except UnknownKindError as exc:
        raise OutputError([_problem(root, name, f"{exc}; this aiar does not apply it")]) from None


def _parent_file(index: Index) -> str | None:
    cluster = index.get("cluster")
    parent = cluster["applyset"].get("parent") if cluster else None
    return parent or None


def read_out(root: Path, *, kube_objects: bool = True) -> OutDir:
    """Check ``out/`` against its index and read what apply needs; refuse anything inconsistent.

    ``kube_objects=False``: every file is still checked against the index, but no Kubernetes object
    is parsed (the models have none, and there is no parent): what an export needs, which carries the
    checked bytes and leaves their reading to the site's apply."""
    root = root.absolute()
    try:
        index: Index = json.loads((root / INDEX_FILE).read_bytes())
    except FileNotFoundError:
        raise OutputError([_problem(root, INDEX_FILE, "missing: not an aiar output directory")]) from None
    except (OSError, ValueError) as exc:
        raise OutputError([_problem(root, INDEX_FILE, f"unreadable: {exc}")]) from None
    if not isinstance(index, dict) or index.get("index_version") != INDEX_VERSION:
        raise OutputError([_problem(root, INDEX_FILE, "unsupported index version: regenerate with this aiar")])
    expected: dict[str, str] = index["files"]
    problems = check_files(root, expected)
    if problems:
        raise OutputError(problems)

    parent_name = _parent_file(index)
    parent = KubeObject(parent_name, None, _load_yaml(root, parent_name)) if parent_name and kube_objects else None
    models: list[Model] = []
    for slug, entry in sorted(index["models"].items()):
        images = tuple(
            Image(slug, role, root / spec["context"], spec["dockerfile"], spec["ref"])
            for role, spec in sorted(entry["images"].items())
        )
        waits = entry.get("wait_for") or {}
        objects = tuple(
            KubeObject(name, slug, _load_yaml(root, name), waits.get(name))
            for name in (object_files(root, slug, entry, expected) if kube_objects else ())
        )
        for obj in objects:
            _phase(root, obj.path, obj.body)
        datasets = tuple((str(d["key"]), str(d["pointer"])) for d in entry.get("datasets") or [])
        models.append(Model(slug, images, objects, datasets))
    cluster = index.get("cluster")
    gateway_file = cluster.get("gateway") if cluster else None
    out = OutDir(
        root=root,
        environment_digest=str(index["inputs"]["environment"]),
        models=tuple(models),
        parent=parent,
        gateway=(root / gateway_file).read_bytes() if gateway_file else None,
    )
    _check_membership(out, cluster["applyset"].get("id") if cluster else None)
    return out


def _check_membership(out: OutDir, declared_id: str | None) -> None:
    """Every object must carry the parent's ApplySet id: pruning relies on it, in both directions."""
    if not out.objects:
        return
    if out.parent is None:
        raise OutputError([_problem(out.root, INDEX_FILE, "Kubernetes objects but no ApplySet parent object")])
    set_id = out.applyset_id
    problems = []
    if declared_id not in (None, set_id):
        problems.append(_problem(out.root, out.parent.path, f"ApplySet id differs from index.json's {declared_id}"))
    seen: dict[ObjectKey, str] = {}
    for obj in out.objects:
        labels = obj.body["metadata"].get("labels") or {}
        if labels.get(APPLYSET_PART_OF_LABEL) != set_id:
            problems.append(_problem(out.root, obj.path, f"lacks label {APPLYSET_PART_OF_LABEL}={set_id}"))
        if obj.key.namespace != out.namespace:
            problems.append(_problem(out.root, obj.path, f"not in the ApplySet's namespace {out.namespace}"))
        if obj.key in seen:
            problems.append(_problem(out.root, obj.path, f"same object as {seen[obj.key]}"))
        seen[obj.key] = obj.path
    if problems:
        raise OutputError(problems)
