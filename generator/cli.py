"""The ``aiar`` command line. Exit codes are decided here and nowhere else:

0 success, 1 error (problems printed on stderr, one per line), 2 changes pending (``plan``,
``generate --check``).

Heavy modules are imported inside commands so that ``aiar --help`` stays fast.
"""

from __future__ import annotations

import atexit
import functools
import gc
import importlib
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

import click

from . import __version__

if TYPE_CHECKING:
    from .errors import Problem

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_INTERRUPTED = 130
"""128 + SIGINT, as a shell reports a command stopped by Ctrl-C."""

DEFAULT_BUNDLES = Path("bundles")
DEFAULT_ENV = Path("bundles/environment.yaml")
DEFAULT_LOCK = Path("aiar.lock")
DEFAULT_OUT = Path("out")

T = TypeVar("T")

# At exit (after the exit handlers registered later), so that the interpreter's final garbage
# collection skips every object alive then (its modules, pydantic's models): 12 ms of each command
# here (`aiar export` of ten images: 19 against 7 ms from the last exit handler to the process's
# end). Objects are still freed and files closed as their modules are torn down; only garbage in
# reference cycles is left to the operating system, and aiar writes every file through a context
# manager.
atexit.register(gc.freeze)


def _say(text: str, err: bool = False) -> None:
    """One human-readable line; what came from inputs or the cluster cannot drive the terminal."""
    from .errors import printable

    click.echo(printable(text), err=err)


def _report(problems: Sequence[Problem], output: str, error: str = "problems") -> None:
    """``error`` says what kind of failure it was for ``--output json``: problems, os, internal, interrupted."""
    if output == "json":
        click.echo(json.dumps({"ok": False, "error": error, "problems": [p.as_dict() for p in problems]}, indent=2))
    for problem in problems:
        click.echo(problem.render(), err=True)


NOTHING_WRITTEN = "nothing was written"
STEPS_KEPT = "re-run once fixed, completed steps are kept"
NOTHING_CHANGED = "nothing in the cluster was changed"


def _run(output: str, action: Callable[[], T], after_failure: str = NOTHING_WRITTEN) -> T:
    """Run a command body; expected failures become exit 1 with every problem printed.

    ``after_failure`` tells the user what state a failure leaves: the compiler writes nothing, while
    a command acting on a cluster keeps its completed steps (a re-run converges).
    """
    from .errors import AiarError, Problem

    try:
        return action()
    except AiarError as exc:
        _report(exc.problems, output)
        click.echo(f"aiar: {len(exc.problems)} problem(s); {after_failure}", err=True)
        sys.exit(EXIT_ERROR)
    except OSError as exc:
        _report([Problem(str(exc.filename or ""), "", exc.strerror or str(exc))], output, "os")
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        if output == "json":
            click.echo(json.dumps({"ok": False, "error": "interrupted", "problems": []}, indent=2))
        click.echo(f"aiar: interrupted; {after_failure}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:  # a bug: say so in one line, with the traceback only on request
        if os.environ.get("AIAR_DEBUG"):
            raise
        message = f"internal error: {type(exc).__name__}: {exc}"
        if output == "json":
            _report([Problem("", "", message)], output, "internal")
        _say(f"aiar: {message} (set AIAR_DEBUG=1 for a traceback)", err=True)
        sys.exit(EXIT_ERROR)


def _freeze_imports() -> None:
    """What the imports built (modules, pydantic's schemas and validators) lives as long as the process:
    frozen out of the collector's generations, it is not traversed again by every collection that the
    many small objects of compiling bundles trigger (about a quarter of compile time otherwise)."""
    import gc

    gc.freeze()


def _bundles(paths: tuple[Path, ...]) -> list[Path]:
    from .pipeline import discover_bundles

    _freeze_imports()
    return list(paths) if paths else discover_bundles(DEFAULT_BUNDLES)


output_option = click.option(
    "--output",
    "-o",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format of the result.",
)
env_option = click.option(
    "--env",
    "-e",
    "env_file",
    type=click.Path(path_type=Path),
    default=DEFAULT_ENV,
    show_default=True,
    help="Environment file (YAML).",
)
lock_option = click.option(
    "--lock",
    "lock_file",
    type=click.Path(path_type=Path),
    default=DEFAULT_LOCK,
    show_default=True,
    help="Lock file with the last recorded version of each model.",
)
bundles_argument = click.argument("bundles", nargs=-1, type=click.Path(path_type=Path))


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        # Ctrl-C outside a command's body (while importing, prompting): 130, not click's "Aborted!" and 1.
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("aiar: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except click.Abort:
            click.echo("aiar: aborted", err=True)
            sys.exit(EXIT_INTERRUPTED)


class _Root(_Group):
    """aiar's command group. The command groups of their own modules (storage, ui) are imported only
    when used: they build on this module's helpers, and `aiar --help` stays fast."""

    LAZY: ClassVar[dict[str, tuple[str, str]]] = {
        "storage": ("generator.cli_storage", "storage"),
        "ui": ("generator.cli_ui", "ui"),
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.LAZY:
            module, attribute = self.LAZY[cmd_name]
            command: click.Command = getattr(importlib.import_module(module), attribute)
            return command
        return super().get_command(ctx, cmd_name)


@click.group(cls=_Root, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aiar")
def main() -> None:
    """aiar: compile AI model bundles into a reviewable artifact set, then apply it.

    BUNDLES are directories or ZIP files holding a manifest.json; by default, every bundle
    under ./bundles.
    """


@main.command()
@bundles_argument
@env_option
@lock_option
@output_option
def validate(bundles: tuple[Path, ...], env_file: Path, lock_file: Path, output: str) -> None:
    """Check bundles and the environment file; write nothing."""
    from .pipeline import compile_paths

    compiled = _run(output, lambda: compile_paths(_bundles(bundles), env_file, lock_file))
    summary = [{"model": m.plan.slug, "version": m.plan.version} for m in compiled.models]
    if output == "json":
        click.echo(json.dumps({"ok": True, "models": summary}, indent=2))
    else:
        for item in summary:
            _say(f"ok  {item['model']} (version {item['version']})")


@main.command()
@bundles_argument
@env_option
@lock_option
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path),
    default=DEFAULT_OUT,
    show_default=True,
    help="Output directory, replaced atomically.",
)
@click.option("--check", is_flag=True, help="Write nothing; exit 2 if the output is not up to date.")
@output_option
def generate(bundles: tuple[Path, ...], env_file: Path, lock_file: Path, out: Path, check: bool, output: str) -> None:
    """Compile bundles into the artifact set in OUT (default ./out)."""
    from .pipeline import compile_paths, stale_files
    from .pipeline import generate as run_generate

    if check:
        compiled = _run(output, lambda: compile_paths(_bundles(bundles), env_file, lock_file))
        stale = stale_files(compiled, out)
        if output == "json":
            click.echo(json.dumps({"ok": not stale, "stale": stale}, indent=2))
        for name in stale:
            _say(f"stale  {out / name}", err=True)
        sys.exit(EXIT_CHANGES if stale else EXIT_OK)
    compiled = _run(output, lambda: run_generate(_bundles(bundles), env_file, lock_file, out))
    models = [
        {"model": m.plan.slug, "version": m.plan.version, "images": {i.role: i.ref for i in m.entry.images}}
        for m in compiled.models
    ]
    if output == "json":
        click.echo(json.dumps({"ok": True, "out": str(out), "files": len(compiled.files), "models": models}, indent=2))
    else:
        for item in models:
            _say(f"{item['model']} v{item['version']}")
            images: dict[str, Any] = item["images"]  # type: ignore[assignment]
            for role, ref in images.items():
                _say(f"  {role:8} {ref}")
        _say(f"wrote {len(compiled.files)} files to {out}")


@main.command()
@bundles_argument
@env_option
@lock_option
@click.option(
    "--python-version",
    default=None,
    metavar="X.Y",
    help="The base image's Python, instead of asking the image (with --machine and --glibc).",
)
@click.option("--machine", default="x86_64", show_default=True, help="With --python-version: its machine.")
@click.option("--glibc", default=None, metavar="X.Y", help="With --python-version: its glibc (none: musl/unknown).")
@output_option
def lock(
    bundles: tuple[Path, ...],
    env_file: Path,
    lock_file: Path,
    python_version: str | None,
    machine: str,
    glibc: str | None,
    output: str,
) -> None:
    """Resolve each model's Python requirements for its base image into aiar.requirements.lock.

    The one compiler step that uses the network (the package index, and the container engine to ask
    the base image for its Python): every package and its wheel's sha256, which generate then builds
    from with pip's --require-hashes. A pin without a wheel for that Python is named; nothing is
    written. BUNDLES narrow it to those models (the others' entries are kept).
    """
    from .apply.images import docker_client
    from .apply.preflight import Target as PythonTarget
    from .resolve import lock_requirements

    given = None
    if python_version is not None:
        if not re.fullmatch(r"3\.\d{1,2}", python_version) or (glibc and not re.fullmatch(r"2\.\d{1,3}", glibc)):
            raise click.BadParameter("--python-version is X.Y (3.11), --glibc is 2.Y (2.36)")
        libc = (2, int(glibc.split(".")[1])) if glibc else None
        given = PythonTarget(python_version, machine, libc)
    result = _run(output, lambda: lock_requirements(_bundles(bundles), env_file, lock_file, docker_client, given))
    if output == "json":
        click.echo(json.dumps({"ok": True, **result.as_dict()}, indent=2))
        return
    for slug, count in result.models.items():
        _say(f"locked  {slug}: {count} package(s)")
    state = "wrote" if result.written else "unchanged:"
    _say(f"{state} {result.path} ({result.target.describe()}, {result.target.base_image})")


@main.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option(
    "--env",
    "-e",
    "env_file",
    type=click.Path(path_type=Path),
    default=None,
    help="Environment file: its message bus and S3 are used when set (default: none, local storage).",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--dataset",
    type=click.Path(path_type=Path),
    default=None,
    help="Train from this file first (the file the manifest's HISTORIC_DATA input names).",
)
@click.option(
    "--processes",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Server processes sharing the port: predict() holds the GIL, so one process uses about one core.",
)
def serve(bundle: Path, env_file: Path | None, host: str, port: int, dataset: Path | None, processes: int) -> None:
    """Run BUNDLE's model server locally, without a cluster, in a venv of its own dependencies."""
    from .serve import ServeError, serve_bundle

    def run() -> int:
        try:
            return serve_bundle(bundle, env_file=env_file, host=host, port=port, dataset=dataset, processes=processes)
        except ServeError as exc:
            from .errors import AiarError, Problem

            raise AiarError([Problem(str(bundle), "", str(exc))]) from None

    sys.exit(_run("text", run))


@main.command()
def schema() -> None:
    """Print the JSON Schema of manifest.json."""
    from .schema import schema_text

    click.echo(schema_text(), nl=False)


# --- apply stage: plan, apply, destroy, status -------------------------------------------------

out_option = click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path),
    default=DEFAULT_OUT,
    show_default=True,
    help="Output directory written by `aiar generate`.",
)
kubeconfig_option = click.option(
    "--kubeconfig",
    type=click.Path(path_type=Path),
    default=None,
    help="Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster credentials).",
)
context_option = click.option("--context", default=None, help="Kubeconfig context (default: the current one).")

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Target:
    """What every command acting on a cluster takes: the artifact set, the environment, the cluster."""

    out: Path
    env_file: Path
    kubeconfig: Path | None
    context: str | None

    def session(self, output: str, models: Sequence[str] = ()) -> Any:
        """The apply session; failing to open one changes nothing."""
        from .apply.progress import Progress
        from .apply.session import open_session

        return _run(
            output,
            lambda: open_session(self.out, self.env_file, Progress(), self.kubeconfig, self.context, models),
            NOTHING_CHANGED,
        )


def cluster_options(command: F) -> F:
    """The options of :class:`Target`, given to the command as one ``target`` argument."""

    @functools.wraps(command)
    def with_target(
        *args: Any, out: Path, env_file: Path, kubeconfig: Path | None, context: str | None, **kw: Any
    ) -> Any:
        return command(*args, target=Target(out, env_file, kubeconfig, context), **kw)

    for option in (context_option, kubeconfig_option, env_option, out_option):
        with_target = option(with_target)
    return cast(F, with_target)


def _operate(
    target: Target,
    output: str,
    action: Callable[[Any], T],
    say: Callable[[T], None] | None = None,
    models: Sequence[str] = (),
) -> None:
    """What every command that changes the cluster does: open the session, run ``action`` on it (a
    failure keeps the completed steps), then print the result as JSON or, with ``say``, as text."""
    session = target.session(output, models)
    result: Any = _run(output, lambda: action(session), STEPS_KEPT)
    if output == "json":
        click.echo(json.dumps({"ok": True, **result.as_dict()}, indent=2))
    elif say is not None:
        say(result)


def _asks(yes: bool) -> bool:
    """Whether to confirm a deletion: only on a terminal, and not with ``--yes``."""
    return not yes and sys.stdin.isatty() and sys.stderr.isatty()


models_argument = click.argument("models", nargs=-1, metavar="[MODEL]...")


from_option = click.option(
    "--from",
    "from_archive",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="An archive of `aiar export` instead of --out: verified (every digest, the environment's) first.",
)
verify_key_option = click.option(
    "--verify-key",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="With --from: an ed25519 public key (PEM); the archive's signature must verify with it.",
)


max_bytes_option = click.option(
    "--max-bytes",
    type=click.IntRange(1),
    default=256 << 30,
    show_default=True,
    help="With --from: refuse an archive whose members add up to more.",
)


def _opened(target: Target, from_archive: Path | None, verify_key: Path | None, max_bytes: int, output: str) -> Any:
    """The verified archive (or None without --from); a refused archive is exit 1, nothing changed."""
    if from_archive is None:
        return None
    from .airgap.site import open_archive

    return _run(output, lambda: open_archive(from_archive, target.env_file, verify_key, max_bytes), NOTHING_CHANGED)


@main.command()
@models_argument
@cluster_options
@from_option
@verify_key_option
@max_bytes_option
@click.option("--all", "show_all", is_flag=True, help="Also list unchanged objects.")
@output_option
def plan(
    models: tuple[str, ...],
    target: Target,
    from_archive: Path | None,
    verify_key: Path | None,
    max_bytes: int,
    show_all: bool,
    output: str,
) -> None:
    """Show what apply would change (server-side dry run); write nothing. Exit 2 if anything would.

    MODELs (their names in out/) narrow the plan to them; by default, every model.
    """
    opened = _opened(target, from_archive, verify_key, max_bytes, output)
    try:
        _plan(models, replace(target, out=opened.out) if opened else target, show_all, output, opened is not None)
    finally:
        if opened is not None:
            opened.close()


def _plan(models: tuple[str, ...], target: Target, show_all: bool, output: str, archive: bool = False) -> None:
    """``archive``: out/ came from --from, so a missing image is pushed from the archive, not built."""
    from .apply.plan import make_plan

    session = target.session(output, models)
    result = _run(output, lambda: make_plan(session), NOTHING_CHANGED)
    if output == "json":
        click.echo(json.dumps({"ok": True, **result.as_dict()}, indent=2))
    else:
        marks = {"create": "+", "update": "~", "delete": "-", "build": "+", "unchanged": "="}
        for change in result.changes + (result.unchanged if show_all else ()):
            model = f"  ({change.model})" if change.model else ""
            action = "push" if archive and change.action == "build" else change.action
            _say(f"{marks[change.action]} {action:9} {change.subject}{model}")
            if change.conflict:
                _say(f"      conflict: {change.conflict}")
            for name in change.fields:
                _say(f"      {name}")
        counts = result.as_dict()["counts"]
        if result.pending:
            parts = [f"{counts.get(a, 0)} to {a}" for a in ("build", "create", "update", "delete")]
            if archive:
                parts[0] = f"{counts.get('build', 0)} to push from the archive"
            click.echo(f"Plan: {', '.join(parts)}; {counts.get('unchanged', 0)} unchanged.")
        else:
            click.echo(f"No changes: {counts.get('unchanged', 0)} objects and every image up to date.")
    sys.exit(EXIT_CHANGES if result.pending else EXIT_OK)


@main.command()
@models_argument
@cluster_options
@click.option(
    "--force-conflicts/--no-force-conflicts",
    default=True,
    show_default=True,
    help="Take back fields of aiar's objects that another field manager changed (reported); "
    "--no-force-conflicts fails on such a conflict instead.",
)
@click.option(
    "--timeout", type=float, default=600.0, show_default=True, help="Seconds to wait for each Job and rollout."
)
@click.option("--create-namespace", is_flag=True, help="Create the namespace if it does not exist (never pruned).")
@from_option
@verify_key_option
@max_bytes_option
@output_option
def apply(
    models: tuple[str, ...],
    target: Target,
    force_conflicts: bool,
    timeout: float,
    create_namespace: bool,
    from_archive: Path | None,
    verify_key: Path | None,
    max_bytes: int,
    output: str,
) -> None:
    """Build and push missing images, then make the cluster match OUT (server-side apply, prune).

    MODELs (their names in out/) narrow the apply to them: only their images are built and their
    objects applied or pruned; the other models are left as they are.

    With --from ARCHIVE (air-gapped): the archive is verified, its images are pushed from it into
    the environment's registry (none is built), then its out/ is applied as above.
    """
    from .apply.run import apply as run_apply

    opened = _opened(target, from_archive, verify_key, max_bytes, output)
    try:
        if opened is not None:
            from .airgap.site import push_images
            from .environment import load_environment

            env = _run(output, lambda: load_environment(target.env_file), NOTHING_CHANGED).env
            pushed = _run(output, lambda: push_images(opened, env), NOTHING_CHANGED)
            if output != "json":
                counts = f"{len(pushed.pushed)} pushed from {from_archive}, {len(pushed.present)} already there"
                _say(f"images: {counts}", err=True)
            target = replace(target, out=opened.out)
        _operate(
            target,
            output,
            lambda session: run_apply(session, force_conflicts, timeout, create_namespace),
            models=models,
        )
    finally:
        if opened is not None:
            opened.close()


@main.command()
@models_argument
@cluster_options
@click.option("--registry", default=None, help="Push to this registry (host[:port]) instead of the environment's.")
@click.option(
    "--insecure-registry/--secure-registry",
    "insecure",
    default=None,
    help="With --registry: plain HTTP (default: as the environment's registry).",
)
@output_option
def build(models: tuple[str, ...], target: Target, registry: str | None, insecure: bool | None, output: str) -> None:
    """Build and push the images of OUT that the registry lacks; touch no cluster.

    The connected side of an air-gapped deployment: build into a registry it can reach (--registry,
    same repositories and tags), then `aiar export --registry` the same one.
    """
    from .apply.build import build as run_build

    def say(report: Any) -> None:
        for result in report.images:
            _say(f"{result.action:8} {result.image.ref}")

    _operate(target, output, lambda session: run_build(session, registry, insecure), say, models=models)


@main.command()
@click.argument("archive", type=click.Path(path_type=Path, dir_okay=False))
@out_option
@env_option
@click.option("--registry", default=None, help="Read the images from this registry (as `aiar build --registry`).")
@click.option(
    "--insecure-registry/--secure-registry",
    "insecure",
    default=None,
    help="With --registry: plain HTTP (default: as the environment's registry).",
)
@click.option(
    "--sign-key",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Sign the digest manifest with this ed25519 private key (PEM); apply --from --verify-key checks it.",
)
@click.option("--sbom/--no-sbom", default=True, show_default=True, help="A CycloneDX SBOM of each image (syft).")
@output_option
def export(
    archive: Path,
    out: Path,
    env_file: Path,
    registry: str | None,
    insecure: bool | None,
    sign_key: Path | None,
    sbom: bool,
    output: str,
) -> None:
    """Write ARCHIVE (.tar, .tar.gz or .tar.zst): every image of OUT as one OCI layout, an SBOM of each,
    OUT itself and a sha256 manifest of every file, for `aiar apply --from` on a site with no network.

    The images must be in the registry (after `aiar apply` or `aiar build`); the same OUT and
    images give the same archive bytes.
    """
    from .airgap.copies import early_copy

    # The first image's copy starts as soon as out/ and the environment file are read (airgap/copies).
    with early_copy(out, env_file, registry, insecure) as early:
        from .airgap.export import export_archive, open_out

        out_dir, source = _run(output, lambda: open_out(out, env_file, early))
        note = (lambda text: _say(text, err=True)) if output != "json" else (lambda _: None)
        result = _run(
            output, lambda: export_archive(out_dir, source, archive, registry, insecure, sign_key, note, sbom, early)
        )
    if output == "json":
        click.echo(json.dumps({"ok": True, **result.as_dict()}, indent=2))
    else:
        _say(f"wrote {result.archive}: {result.images} image(s), {result.blobs} blob(s), {result.bytes} bytes")


def _confirm_deletion(subjects: list[str]) -> bool:
    _say(f"aiar will delete {len(subjects)} object(s):", err=True)
    for subject in subjects:
        _say(f"  - {subject}", err=True)
    return click.confirm("Delete them?", default=False, err=True)


@main.command()
@cluster_options
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (it is asked only on a terminal).")
@output_option
def destroy(target: Target, yes: bool, output: str) -> None:
    """Delete every object of aiar's ApplySet (never the namespace, never anything else)."""
    from .apply.run import destroy as run_destroy

    confirm = _confirm_deletion if _asks(yes) else None
    _operate(
        target,
        output,
        lambda session: run_destroy(session, confirm),
        lambda report: click.echo(f"deleted {len(report.deleted)} object(s)"),
    )


def _status_table(statuses: Sequence[Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from .errors import printable

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("MODEL", "STATE", "VERSION", "READY", "STARTED", "MEMORY", "CPU", "URL", "NEXT"):
        table.add_column(column)
    notes = []
    for s in statuses:
        version = s.version_deployed or "-"
        if s.version_generated and s.version_deployed != s.version_generated:
            version = f"{version} (out/: {s.version_generated})"
        usage = s.usage
        memory = f"{usage.memory_bytes / 2**20:.0f}Mi" if usage and usage.memory_bytes is not None else "-"
        cpu = f"{usage.cpu_cores * 1000:.0f}m" if usage and usage.cpu_cores is not None else "-"
        nxt = " ".join(f"{k} {v}" for k, v in (("start", s.next_start), ("stop", s.next_stop)) if v) or "-"
        state = s.state + (f" by {s.stopped_by}" if s.stopped_by else "")
        ready = f"{s.replicas_ready}/{s.replicas_desired if s.replicas_desired is not None else '-'}"
        url = s.public_urls[0] if s.public_urls else (s.cluster_url or "-")
        row = (s.model, state, version, ready, s.started_at or "-", memory, cpu, url, nxt)
        table.add_row(*(printable(str(x)) for x in row))
        if usage is not None:
            notes.append(f"{s.model}: memory/CPU from {usage.source}")
        for queue in s.queues:
            depth = queue.error or f"{queue.messages} message(s), {queue.consumers} consumer(s)"
            notes.append(f"{s.model}: queue {queue.name} ({queue.role}): {depth}")
        if s.training is not None:
            notes.append(
                f"{s.model}: training Job {s.training.job}: {s.training.state} {s.training.completed_at or ''}"
            )
    console = Console(highlight=False, soft_wrap=True)
    console.print(table)
    for note in notes:
        _say(note)


@main.command()
@click.argument("models", nargs=-1, metavar="[MODEL]...")
@cluster_options
@click.option("--objects", is_flag=True, help="List every object of out/ and its state instead of the models.")
@output_option
def status(
    models: tuple[str, ...],
    target: Target,
    objects: bool,
    output: str,
) -> None:
    """Each model: state, version, replicas, start time, memory and CPU, URLs, queues, training, schedule."""
    from .apply.model_status import AmqpQueues, model_statuses, s3_records, to_json
    from .apply.run import status as run_status

    session = target.session(output, models)
    if objects:
        states = _run(output, lambda: run_status(session), NOTHING_CHANGED)
        if output == "json":
            click.echo(json.dumps({"ok": True, "objects": [s.as_dict() for s in states]}, indent=2))
        else:
            for state in states:
                _say(f"{state.state:40} {state.subject}")
        return
    with AmqpQueues(session) as queues:
        statuses = _run(output, lambda: model_statuses(session, queues, s3_records(session)), NOTHING_CHANGED)
    if output == "json":
        click.echo(to_json(statuses))
    else:
        _status_table(statuses)


# --- operations: start, stop, delete one model ---------------------------------------------------

model_argument = click.argument("model")


@main.command()
@model_argument
@cluster_options
@output_option
def stop(model: str, target: Target, output: str) -> None:
    """Stop MODEL: scale it to 0 and hold it there (its schedule suspended) until `aiar start`."""
    from .apply.lifecycle import stop as run_stop

    _operate(
        target,
        output,
        lambda session: run_stop(session, model),
        lambda result: _say(
            f"stopped {model} (by {result.stopped_by}); schedule suspended: {len(result.suspended)} CronJob(s)"
        ),
    )


@main.command()
@model_argument
@cluster_options
@output_option
def start(model: str, target: Target, output: str) -> None:
    """Start MODEL: clear a stop, resume its schedule, and scale it up now."""
    from .apply.lifecycle import start as run_start

    _operate(
        target,
        output,
        lambda session: run_start(session, model),
        lambda result: _say(f"started {model} with {result.replicas} replica(s)"),
    )


@main.command()
@model_argument
@cluster_options
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (it is asked only on a terminal).")
@output_option
def delete(model: str, target: Target, yes: bool, output: str) -> None:
    """Delete MODEL's objects from the cluster (only its own). Its bundle stays: remove it too, or the
    next full apply creates the model again."""
    from .apply.lifecycle import delete as run_delete

    confirm = _confirm_deletion if _asks(yes) else None

    def say(report: Any) -> None:
        for name in report.deleted:
            _say(f"deleted {name}")
        _say(f"deleted {len(report.deleted)} object(s) of {model}")

    _operate(target, output, lambda session: run_delete(session, model, confirm), say)


if __name__ == "__main__":  # pragma: no cover
    main()
