"""CLI conventions: Ctrl-C is 130, ``-o json`` always prints a JSON object, hostile text cannot drive the
terminal, and text output escapes what it did not write itself."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.apply.progress import Progress
from generator.cli import EXIT_INTERRUPTED, main
from tests.conftest import EXAMPLE_ENV, REPO, MakeBundle
from tests.helpers import minimal_manifest


def run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_ctrl_c_in_a_command_exits_130(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("generator.pipeline.compile_paths", interrupted)
    code, stdout, stderr = run("validate", "--env", EXAMPLE_ENV, "-o", "json")
    assert code == EXIT_INTERRUPTED == 130
    assert json.loads(stdout) == {"ok": False, "error": "interrupted", "problems": []}
    assert "interrupted" in stderr


def test_sigint_to_a_real_process_exits_130(tmp_path: Path) -> None:
    """A real SIGINT, delivered while the command works (the bundle reader is slowed to make room)."""
    script = (
        "import time, generator.pipeline as p\n"
        "real = p.compile_paths\n"
        "def slow(*a):\n    print('working', flush=True); time.sleep(30); return real(*a)\n"
        "p.compile_paths = slow\n"
        "from generator.cli import main\n"
        f"main(['validate', '--env', {str(EXAMPLE_ENV)!r}])\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "working"
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize(
    ("error", "kind"),
    [(RuntimeError("boom"), "internal"), (PermissionError(13, "Permission denied", "out/x"), "os")],
)
def test_json_output_reports_every_failure_as_json(
    monkeypatch: pytest.MonkeyPatch, error: Exception, kind: str
) -> None:
    def failing(*args: object) -> None:
        raise error

    monkeypatch.delenv("AIAR_DEBUG", raising=False)
    monkeypatch.setattr("generator.pipeline.compile_paths", failing)
    code, stdout, stderr = run("validate", "--env", EXAMPLE_ENV, "-o", "json")
    assert code == 1
    document = json.loads(stdout)
    assert document["ok"] is False
    assert document["error"] == kind
    assert len(document["problems"]) == 1
    assert stderr.strip()


def test_control_characters_from_a_manifest_are_escaped(make_bundle: MakeBundle) -> None:
    manifest = minimal_manifest()
    manifest["\u001b[2J\u001b[31mevil"] = 1  # an unknown key that would clear the screen
    manifest["description"] = "fine"
    bundle = make_bundle(manifest)
    code, stdout, stderr = run("validate", bundle, "--env", EXAMPLE_ENV)
    assert code == 1
    assert "\x1b" not in stderr
    assert "\x1b" not in stdout
    assert "\\x1b[2J" in stderr
    # JSON keeps the exact text (it is data, not terminal output).
    code, stdout, _ = run("validate", bundle, "--env", EXAMPLE_ENV, "-o", "json")
    assert any("\x1b[2J" in p["pointer"] for p in json.loads(stdout)["problems"])


def test_build_log_lines_are_not_markup() -> None:
    """A build line with ``[/...]`` (rich's closing tag) once crashed apply; now it is shown as written."""
    from rich.console import Console

    console = Console(record=True, width=200, force_terminal=False)
    progress = Progress(console)
    progress.detail("Step 3/9 : RUN echo [/] [bold]not bold[/bold] \x1b[2J")
    progress.note("[/red] pruned", label="pruned ", label_style="red")
    text = console.export_text()
    assert "[/] [bold]not bold[/bold] \\x1b[2J" in text
    assert "[/red] pruned" in text


def test_status_and_destroy_are_in_the_readme_table() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = [line for line in readme.splitlines() if line.startswith("| `aiar ")]
    commands = {line.split("`")[1].split()[1] for line in table}
    listed = set(main.commands)
    assert listed <= commands, f"commands missing from the README's table: {sorted(listed - commands)}"


def test_destroy_takes_yes() -> None:
    code, stdout, _ = run("destroy", "--help")
    assert code == 0
    assert "--yes" in stdout
