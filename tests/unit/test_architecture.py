"""The rooms of ``generator/`` import only in the directions ARCHITECTURE.md allows."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "generator"

COMPILER = {
    "bundle", "jsonpos", "validate", "manifest", "manifest_parts", "load", "environment", "envread", "lock", "kinds",
    "plan", "dockerfile", "textrender", "yamlout", "render", "writer", "pipeline", "schema", "reqlock",
}  # fmt: skip
LEAVES = {"errors", "contract", "defaults", ""}
"""Imported by every room; they import nothing of aiar's (``""`` is the package itself: ``__version__``)."""
ASSETS = {"assets"}
"""What aiar ships besides code (runtime archive, jar, templates): read by the compiler and ``serve``."""

ALLOWED: dict[str, set[str]] = {
    # The model server ships alone inside images: nothing of the compiler or apply comes along.
    "runtime": {"runtime"},
    # apply reads out/ and the environment file, never the compiler: it cannot re-render anything.
    "apply": {"apply", "environment", "envread", "runtime.config"} | LEAVES,
    "ops": {"ops", "apply", "environment", "envread", "runtime.config"} | LEAVES,
    # The compiler never reaches the cluster, the CLI or the local server.
    **{room: COMPILER | ASSETS | {"runtime.config"} | LEAVES for room in COMPILER},
    "assets": {"defaults"},
    "serve": COMPILER | ASSETS | {"runtime", "runtime.config"} | LEAVES,
    # Air-gapped export and apply --from: out/ and images, as apply reads them; never the compiler.
    "airgap": {"airgap", "apply", "environment", "envread", "runtime.config"} | LEAVES,
    # aiar lock: compiles the bundles, then asks the base image (as apply's pin check does) and pip.
    "resolve": COMPILER | ASSETS | {"apply", "environment", "envread", "runtime.config"} | LEAVES,
    # The web app: every action is a compiler, apply or storage function the CLI calls too.
    "ui": COMPILER | {"ui", "apply", "ops", "runtime.config"} | LEAVES,
    "cli": {"*"},
    "cli_storage": {"*"},
    "cli_ui": {"*"},
    "errors": set(),
    "contract": set(),
    "defaults": {"defaults"},
    "": {""},
}
CLICK_ROOMS = {"cli", "cli_storage", "cli_ui"}
"""Only the command line speaks click: exit codes and output formats are decided there."""


def module_of(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def room_of(module: str) -> str:
    return module.split(".", 1)[0]


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module inside the package) of every import of aiar's own modules; ``""`` the package.
    ``from .runtime import config`` counts as an import of ``runtime.config``."""
    module = module_of(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".") if package else []
            base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
            target = ".".join([*base, *([node.module] if node.module else [])])
            found += [(node.lineno, _submodule(target, a.name)) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("generator"):
            found.append((node.lineno, (node.module or "").removeprefix("generator").lstrip(".")))
        elif isinstance(node, ast.Import):
            found += [
                (node.lineno, a.name.removeprefix("generator").lstrip("."))
                for a in node.names
                if a.name.startswith("generator")
            ]
    return found


def _submodule(target: str, name: str) -> str:
    """``target.name`` when that is a module of the package, else ``target``."""
    candidate = f"{target}.{name}" if target else name
    path = PACKAGE.joinpath(*candidate.split("."))
    return candidate if path.with_suffix(".py").is_file() or (path / "__init__.py").is_file() else target


def allowed(source_room: str, target: str) -> bool:
    rules = ALLOWED.get(source_room, set())
    if "*" in rules:
        return True
    # A room is allowed whole ("runtime") or one module of it ("runtime.config").
    return room_of(target) in rules or target in rules


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_is_in_a_known_room() -> None:
    rooms = {room_of(module_of(p)) for p in MODULES}
    assert rooms <= set(ALLOWED), f"rooms without rules (add them to ARCHITECTURE.md and here): {rooms - set(ALLOWED)}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(REPO)))
def test_imports_follow_the_allowed_directions(path: Path) -> None:
    source_room = room_of(module_of(path))
    wrong = [
        f"line {line}: {target or 'generator'}" for line, target in imports(path) if not allowed(source_room, target)
    ]
    assert wrong == [], f"{path.relative_to(REPO)} ({source_room}) imports against the allowed direction: {wrong}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(REPO)))
def test_only_the_cli_speaks_click(path: Path) -> None:
    if room_of(module_of(path)) in CLICK_ROOMS:
        return
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [n for n in names if n == "click" or n.startswith("click.")]


def test_the_rule_catches_a_wrong_import(tmp_path: Path) -> None:
    """The check itself: apply importing the compiler is refused, the environment file model is not."""
    assert not allowed("apply", "render.image")
    assert not allowed("apply", "plan")
    assert allowed("apply", "environment")
    assert allowed("apply", "runtime.config")
    assert not allowed("apply", "runtime.server")
    assert not allowed("runtime", "errors")
    assert not allowed("render", "apply.kube")
    assert not allowed("kinds", "apply.outdir")
    assert allowed("kinds", "assets")
    assert not allowed("assets", "plan")
    assert not allowed("apply", "assets")


CALLERS = ("load", "plan", "manifest")
"""What calls the model types (``manifest`` gathers their variants): known to them by type alone."""


def test_kinds_import_load_and_plan_for_types_only() -> None:
    """``load`` and ``plan`` call the model types, so a type module may know them only by their types:
    a runtime import of either would be a cycle (``kinds`` -> ``plan`` -> ``load`` -> ``kinds``)."""
    wrong: list[str] = []
    for path in sorted((PACKAGE / "kinds").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        guarded = {
            id(node)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
            for node in ast.walk(block)
        }
        wrong.extend(
            f"{path.name}:{node.lineno} imports {node.module}"
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            and id(node) not in guarded
            and node.module in ("load", "plan", "manifest")
        )
    assert wrong == []


def test_model_types_are_told_apart_only_in_their_own_rooms() -> None:
    """A new model type is one module in ``kinds/``: no other compiler, apply or CLI module names a
    type (``"H2O"``...) or a type's manifest variant. The model server (``runtime/``), which ships alone,
    names them only in its config's ``model.type``."""
    from generator.kinds import KINDS

    names = set(KINDS) | {kind.variant.__name__ for kind in KINDS.values()}
    names |= {getattr(kind.variant.model_fields["payload"].annotation, "__name__", "") for kind in KINDS.values()}
    wrong: list[str] = []
    for path in MODULES:
        room = room_of(module_of(path))
        if room == "kinds" or module_of(path) == "runtime.config":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in names:
                wrong.append(f"{path.relative_to(REPO)}:{node.lineno} {node.value!r}")
            elif isinstance(node, ast.Name | ast.alias) and getattr(node, "id", getattr(node, "name", None)) in names:
                wrong.append(f"{path.relative_to(REPO)}:{node.lineno} {getattr(node, 'id', getattr(node, 'name', ''))}")
    assert wrong == [], f"model types named outside kinds/: {wrong}"
