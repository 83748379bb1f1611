"""The web app's workspace: a bundles directory, an environment file, a lock file and ``out/``.

Every function here only calls what the CLI calls (the compiler's ``compile_paths``/``generate``,
apply's ``open_session``, ``make_plan``, ``apply``, ``model_statuses``, ``start``/``stop``/``delete``,
the storage operations) and shapes the result for a page. Nothing is decided here that the CLI does
not decide the same way.
"""

from __future__ import annotations

import difflib
import json
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

from ..apply.lifecycle import Lifecycle, delete, start, stop
from ..apply.model_status import AmqpQueues, ModelStatus, model_statuses, next_fires, s3_records
from ..apply.outdir import OutDir, read_out
from ..apply.plan import Plan, make_plan
from ..apply.progress import Progress
from ..apply.session import Session, open_session
from ..bundle import BundleSource, read_bundle
from ..errors import AiarError, Problem
from ..load import load_bundle
from ..ops import storage as ops
from ..pipeline import Compiled, compile_paths, discover_bundles, generate
from ..writer import read_tree, write_file_atomic

BUNDLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
"""A bundle directory's name as the web app accepts it in a URL or from an uploaded file's name."""

MANIFEST = "manifest.json"
MAX_DIFF_LINES = 400
"""Lines of unified diff shown per file; the rest is counted, not shown (out/ is in git for the rest)."""


@dataclass(frozen=True)
class Workspace:
    bundles: Path
    env_file: Path
    lock_file: Path
    out: Path
    kubeconfig: Path | None = None
    context: str | None = None

    # --- bundles --------------------------------------------------------------------------------

    def bundle_dir(self, name: str) -> Path:
        if not BUNDLE_NAME.fullmatch(name) or name in (".", ".."):
            raise AiarError([Problem(name, "", "not a bundle name")])
        path = self.bundles / name
        if not (path / MANIFEST).is_file():
            raise AiarError([Problem(str(path), "", "no such bundle directory (with a manifest.json)")])
        return path

    def bundle_names(self) -> list[str]:
        return [p.name for p in discover_bundles(self.bundles) if p.is_dir()] if self.bundles.is_dir() else []

    def manifest_text(self, name: str) -> str:
        return (self.bundle_dir(name) / MANIFEST).read_text(encoding="utf-8")

    def check_manifest(self, name: str, text: str) -> list[Problem]:
        """The problems aiar's own validator (``load_bundle``: the schema's models and the bundle's file
        rules) finds in ``text`` as the bundle's manifest; nothing is written."""
        source = read_bundle(self.bundle_dir(name))
        files = tuple(sorted([(n, d) for n, d in source.files if n != MANIFEST] + [(MANIFEST, text.encode())]))
        try:
            load_bundle(BundleSource(source.origin, files))
        except AiarError as exc:
            return list(exc.problems)
        return []

    def bundle_problems(self, name: str) -> list[Problem]:
        try:
            load_bundle(read_bundle(self.bundle_dir(name)))
        except AiarError as exc:
            return list(exc.problems)
        return []

    def save_manifest(self, name: str, text: str) -> list[Problem]:
        """Write the manifest as given (the repository holds the user's work, valid or not); its problems."""
        path = self.bundle_dir(name) / MANIFEST
        write_file_atomic(path, text.encode("utf-8"))
        return self.bundle_problems(name)

    def add_bundle(self, name: str, upload: Path, replace: bool = False) -> Path:
        """Extract an uploaded ZIP into ``bundles/<name>/`` after ``read_bundle``'s hostile-ZIP checks
        (the same as ``aiar generate bundle.zip``); nothing is written when they fail."""
        if not BUNDLE_NAME.fullmatch(name):
            raise AiarError([Problem(name, "", "not a usable bundle name (letters, digits, '.', '_', '-')")])
        source = read_bundle(upload)
        target = self.bundles / name
        if target.exists() and not replace:
            raise AiarError([Problem(str(target), "", "a bundle of that name exists; tick 'replace' to overwrite it")])
        root = target.resolve()
        for rel, data in source.files:
            path = (target / rel).resolve()
            if not path.is_relative_to(root):  # read_bundle refused such names already; checked again
                raise AiarError([Problem(rel, "", "outside the bundle")])
            write_file_atomic(path, data)
        return target

    # --- the compiler -----------------------------------------------------------------------------

    def bundle_paths(self) -> list[Path]:
        return discover_bundles(self.bundles)

    def compile(self) -> Compiled:
        return compile_paths(self.bundle_paths(), self.env_file, self.lock_file)

    def generate(self) -> Compiled:
        return generate(self.bundle_paths(), self.env_file, self.lock_file, self.out)

    def diff(self, compiled: Compiled) -> list[FileDiff]:
        """What ``aiar generate`` would change in out/, file by file (``generate --check``'s list, with
        the unified diff of each text file)."""
        current = read_tree(self.out) if self.out.is_dir() else {}
        diffs = []
        for name in sorted(set(current) | set(compiled.files)):
            old, new = current.get(name), compiled.files.get(name)
            if old == new:
                continue
            status = "added" if old is None else "removed" if new is None else "changed"
            diffs.append(FileDiff(name, status, *_unified(name, old, new)))
        return diffs

    # --- the cluster ------------------------------------------------------------------------------

    def out_dir(self) -> OutDir | None:
        return read_out(self.out) if (self.out / "index.json").is_file() else None

    def session(self, models: Sequence[str] = (), progress: Progress | None = None) -> Session:
        return open_session(
            self.out, self.env_file, progress or Progress(quiet=True), self.kubeconfig, self.context, models
        )

    def statuses(self) -> list[ModelStatus]:
        session = self.session()
        with AmqpQueues(session) as queues:
            return model_statuses(session, queues, s3_records(session))

    def plan(self, models: Sequence[str]) -> Plan:
        return make_plan(self.session(models))

    def start(self, model: str) -> Lifecycle:
        return start(self.session(), model)

    def stop(self, model: str, by: str | None = None) -> Lifecycle:
        return stop(self.session(), model, by)

    def delete(self, model: str) -> list[str]:
        return delete(self.session(), model).deleted

    # --- schedules ---------------------------------------------------------------------------------

    def schedules(self) -> list[BundleSchedule]:
        out = self.out_dir() if (self.out / "index.json").is_file() else None
        now = datetime.now(UTC)
        found = []
        for name in self.bundle_names():
            path = self.bundles / name
            try:
                loaded = load_bundle(read_bundle(path))
            except AiarError as exc:
                found.append(BundleSchedule(name, None, None, list(exc.problems)))
                continue
            slug = loaded.slug()
            raw = json.loads((path / MANIFEST).read_text(encoding="utf-8")).get("schedule")
            fires: dict[str, str] = {}
            model = next((m for m in out.models if m.slug == slug), None) if out else None
            if model is not None:
                fires = next_fires(model, now, set())
            found.append(BundleSchedule(name, slug, raw if isinstance(raw, dict) else None, [], fires))
        return found

    def set_schedule(self, name: str, schedule: dict[str, Any] | None) -> list[Problem]:
        """Rewrite the bundle's manifest ``schedule`` extension (JSON, indent 2), then re-generate out/.
        When the manifest or the generate fails, the manifest is put back as it was."""
        path = self.bundle_dir(name) / MANIFEST
        before = path.read_bytes()
        document = json.loads(before)
        if schedule is None:
            document.pop("schedule", None)
        else:
            document["schedule"] = schedule
        write_file_atomic(path, (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
        try:
            self.generate()
        except AiarError as exc:
            write_file_atomic(path, before)
            return list(exc.problems)
        return []

    # --- storage -----------------------------------------------------------------------------------

    def bucket(self) -> ops.Bucket:
        return ops.bucket_for(self.env_file)

    def stored(self) -> ops.Listing:
        return ops.list_stored(self.bucket())

    def put_dataset(self, source: Path, name: str, force: bool) -> ops.Upload:
        return ops.put_dataset(self.bucket(), source, name, force)

    def get_object(self, ref: str, directory: Path) -> ops.Download:
        return ops.get_object(self.bucket(), ref, directory)

    def remove(self, ref: str) -> list[str]:
        bucket = self.bucket()
        return ops.delete_keys(bucket, ops.keys_to_delete(bucket, ref))


@dataclass(frozen=True)
class FileDiff:
    name: str
    status: str
    lines: list[str] = field(default_factory=list)
    hidden: int = 0
    binary: bool = False


def _unified(name: str, old: bytes | None, new: bytes | None) -> tuple[list[str], int, bool]:
    try:
        a = (old or b"").decode("utf-8").splitlines()
        b = (new or b"").decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return [], 0, True
    lines = list(difflib.unified_diff(a, b, f"out/{name}", f"out/{name} (generated)", lineterm="", n=2))
    return lines[:MAX_DIFF_LINES], max(len(lines) - MAX_DIFF_LINES, 0), False


@dataclass(frozen=True)
class BundleSchedule:
    bundle: str
    model: str | None
    schedule: dict[str, Any] | None
    problems: list[Problem]
    next: dict[str, str] = field(default_factory=dict)


def model_of_bundle(workspace: Workspace, name: str) -> str | None:
    try:
        return load_bundle(read_bundle(workspace.bundle_dir(name))).slug()
    except AiarError:
        return None


def safe_filename(name: str) -> str:
    """The last part of a browser-supplied file name, or '' when it is not a plain name."""
    base = PurePosixPath(name.replace("\\", "/")).name
    return base if BUNDLE_NAME.fullmatch(base) else ""


def spool(chunks: IO[bytes], directory: Path, name: str) -> Path:
    path = directory / name
    with path.open("wb") as file:
        while block := chunks.read(1 << 20):
            file.write(block)
    return path


def temporary_directory() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="aiar-ui-")
