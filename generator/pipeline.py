"""The compiler, end to end: read -> validate -> plan -> render -> index -> write.

``compile_bundle`` is the pipeline for one model; ``compile_all`` runs it for every bundle, collects
every problem before anything is written, and adds the index. Only ``generate`` writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import defaults
from .bundle import BundleSource, read_bundle
from .contract import APPLYSET_FILE, GATEWAY_FILE, INDEX_FILE
from .environment import BaseImages, Environment, LoadedEnvironment, Registry, load_environment
from .errors import AiarError, Problem
from .load import load_bundle
from .lock import Lock, LockedModel, read_lock, render_lock, resolve_version
from .manifest import HistoricDataTraining
from .plan import LocalPlan, ModelPlan, plan_local, plan_model
from .render import Files
from .render.cluster import render_cluster
from .render.cluster.applyset import render_applyset
from .render.cluster.meta import Obj, parent_applyset_id
from .render.gateway import render_merged_gateway, render_model_gateway
from .render.image import render_images
from .render.index import ClusterEntry, ModelEntry, render_index
from .render.openapi import render_openapi
from .render.server_config import render_server_config
from .reqlock import NO_LOCK, LoadedRequirementsLock, read_requirements_lock, requirements_lock_path
from .runtime.config import ServerConfig
from .writer import read_tree, write_file_atomic, write_tree

LOCAL_ENVIRONMENT = LoadedEnvironment(
    Environment(
        namespace="local",
        registry=Registry(url="localhost"),
        base_images=BaseImages(python="localhost/python"),
    ),
    digest="sha256:" + "0" * 64,
    ca_bundle=None,
)
"""For ``aiar serve`` without an environment file: no bus, no storage, nothing to build."""


@dataclass(frozen=True)
class CompiledModel:
    plan: ModelPlan
    files: Files
    entry: ModelEntry
    lock_entry: LockedModel
    objects: tuple[Obj, ...]
    """Its Kubernetes objects (also in ``files``), for the ApplySet parent's list of kinds."""
    kong_service: Obj | None


@dataclass(frozen=True)
class Compiled:
    files: Files
    """The whole artifact set, index included."""
    lock: Lock
    models: tuple[CompiledModel, ...]


def compile_bundle(
    path: Path, env: LoadedEnvironment, lock: Lock, requirements_lock: LoadedRequirementsLock = NO_LOCK
) -> CompiledModel:
    return compile_source(read_bundle(path), env, lock, requirements_lock)


def compile_source(
    source: BundleSource, env: LoadedEnvironment, lock: Lock, requirements_lock: LoadedRequirementsLock = NO_LOCK
) -> CompiledModel:
    """One model, from its bundle's files (already read and vetted) to every artifact of its own."""
    loaded = load_bundle(source)
    slug_version = resolve_version(loaded.slug(), loaded.manifest.version, source.digest(), lock, loaded.manifest_path)
    if isinstance(slug_version, Problem):
        raise AiarError([loaded.problem(slug_version.pointer, slug_version.message)])
    plan = plan_model(loaded, slug_version.version, env, requirements_lock)
    files, images = render_images(plan)
    files |= render_openapi(plan)
    server_files = render_server_config(plan)
    files |= server_files
    cluster = render_cluster(plan, images, next(iter(server_files.values())))
    files |= cluster.files
    gateway_files, kong_service = render_model_gateway(plan)
    files |= gateway_files
    entry = ModelEntry(
        slug=plan.slug,
        name=plan.manifest.name,
        version=plan.version,
        type=plan.manifest.modelData.type,
        bundle_digest=plan.source_digest,
        images=images,
        kubernetes=cluster.order,
        waits=cluster.waits,
        gateway=next(iter(gateway_files), None),
        datasets=_datasets(plan),
    )
    lock_entry = LockedModel(version=plan.version, digest=plan.source_digest)
    return CompiledModel(plan, files, entry, lock_entry, cluster.objects, kong_service)


def _datasets(plan: ModelPlan) -> tuple[tuple[str, str], ...]:
    """The stored datasets the model's training Job reads, with where the manifest names each."""
    return tuple(
        (defaults.dataset_key(t.payload.fileName), f"/input/training/{i}/payload/fileName")
        for i, t in enumerate(plan.manifest.input.training)
        if isinstance(t, HistoricDataTraining) and t.payload.dataSource == "STORAGE"
    )


def compile_all(
    bundles: Sequence[Path],
    env: LoadedEnvironment,
    lock: Lock,
    requirements_lock: LoadedRequirementsLock = NO_LOCK,
) -> Compiled:
    problems: list[Problem] = []
    models: list[CompiledModel] = []
    for path in bundles:
        try:
            models.append(compile_bundle(path, env, lock, requirements_lock))
        except AiarError as exc:
            problems.extend(exc.problems)
    seen: dict[str, str] = {}
    for model in models:
        slug = model.plan.slug
        if slug in seen:
            problems.append(
                Problem(
                    model.plan.source.origin,
                    "/name",
                    f"model name {model.plan.manifest.name!r} gives the same identifier {slug!r} as {seen[slug]}",
                )
            )
        seen[slug] = model.plan.source.origin
    if problems:
        raise AiarError(problems)
    return assemble(models, env, lock)


def assemble(models: Sequence[CompiledModel], env: LoadedEnvironment, lock: Lock) -> Compiled:
    """The whole artifact set of compiled models: theirs, plus the shared ApplySet parent, the merged
    gateway file and the index."""
    models = sorted(models, key=lambda m: m.plan.slug)
    files: Files = {}
    for model in models:
        files |= model.files
    namespace = env.env.namespace
    files |= render_applyset(namespace, [obj for m in models for obj in m.objects])
    files |= render_merged_gateway([m.kong_service for m in models if m.kong_service is not None])
    cluster = ClusterEntry(namespace, parent_applyset_id(namespace), APPLYSET_FILE, GATEWAY_FILE)
    files[INDEX_FILE] = render_index(files, [m.entry for m in models], env.digest, cluster)
    new_lock = Lock(models={**lock.models, **{m.plan.slug: m.lock_entry for m in models}})
    return Compiled(files, new_lock, tuple(models))


def discover_bundles(root: Path) -> list[Path]:
    """Every bundle directory or ZIP directly under ``root``, in name order."""
    if not root.is_dir():
        raise AiarError([Problem(str(root), "", "no such bundles directory")])
    return sorted(
        p
        for p in root.iterdir()
        if (p.is_dir() and (p / "manifest.json").is_file()) or (p.is_file() and p.suffix == ".zip")
    )


def _bundle_problems(bundles: Sequence[Path]) -> list[Problem]:
    """Each bundle's own problems (reading it, its manifest, its files): what needs no environment."""
    problems: list[Problem] = []
    for path in bundles:
        try:
            load_bundle(read_bundle(path))
        except AiarError as exc:
            problems.extend(exc.problems)
    return problems


def compile_paths(bundles: Sequence[Path], env_file: Path, lock_file: Path) -> Compiled:
    """Read the environment and lock (the input edge), then compile.

    A broken environment or lock file does not hide the bundles' own problems: all are reported.
    """
    problems: list[Problem] = []
    env: LoadedEnvironment | None = None
    lock: Lock | None = None
    requirements_lock: LoadedRequirementsLock | None = None
    try:
        env = load_environment(env_file)
    except AiarError as exc:
        problems.extend(exc.problems)
    try:
        lock = read_lock(lock_file)
    except AiarError as exc:
        problems.extend(exc.problems)
    try:
        requirements_lock = read_requirements_lock(requirements_lock_path(lock_file))
    except AiarError as exc:
        problems.extend(exc.problems)
    if env is None or lock is None or requirements_lock is None:
        raise AiarError(problems + _bundle_problems(bundles))
    return compile_all(bundles, env, lock, requirements_lock)


def generate(bundles: Sequence[Path], env_file: Path, lock_file: Path, out: Path) -> Compiled:
    compiled = compile_paths(bundles, env_file, lock_file)
    write_tree(out, compiled.files)
    lock_bytes = render_lock(compiled.lock)
    if not lock_file.exists() or lock_file.read_bytes() != lock_bytes:
        write_file_atomic(lock_file, lock_bytes)
    return compiled


def stale_files(compiled: Compiled, out: Path) -> list[str]:
    """Paths whose content in ``out`` differs from what generate would write (for ``--check``)."""
    current = read_tree(out) if out.is_dir() else {}
    names = sorted(set(current) | set(compiled.files))
    return [n for n in names if current.get(n) != compiled.files.get(n)]


def local_plan_for(bundle: Path, env_file: Path | None) -> LocalPlan:
    """What ``aiar serve`` runs for one bundle; no lock, version as written or 1."""
    env = load_environment(env_file) if env_file is not None else LOCAL_ENVIRONMENT
    source = read_bundle(bundle)
    loaded = load_bundle(source)
    return plan_local(loaded, loaded.manifest.version or 1, env)


def server_config_for(bundle: Path, env_file: Path | None) -> ServerConfig:
    """The model-server config of one bundle (for ``aiar serve``)."""
    return local_plan_for(bundle, env_file).server
