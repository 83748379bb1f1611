"""Kill ``write_tree`` anywhere: ``out/`` is always the whole old or the whole new tree, and the next run
cleans up whatever the killed one left beside it.

The child process counts the file-system calls the writer makes and SIGKILLs itself at call number N,
for every N from the first to past the last: every point of the write, the swap and the cleanup.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from generator.writer import read_tree, write_tree
from tests.conftest import REPO

OLD = {f"models/m{i}/file{j}.txt": f"old {i} {j}\n".encode() for i in range(3) for j in range(3)} | {
    "index.json": b'{"old": true}\n'
}
NEW = {f"models/m{i}/file{j}.txt": f"new {i} {j}\n".encode() for i in range(1, 4) for j in range(3)} | {
    "models/m1/file0.txt": b"old 1 0\n",  # unchanged: hard-linked from the old tree
    "index.json": b'{"new": true}\n',
}

CHILD = r"""
import json, os, shutil, signal, sys
from pathlib import Path

sys.path.insert(0, sys.argv[1])
from generator import writer

limit = int(sys.argv[3])
if sys.argv[5] == "fallback":
    writer._exchange = lambda a, b: False  # as on a file system without renameat2
count = 0

def counted(fn):
    def call(*args, **kwargs):
        global count
        count += 1
        if count == limit:
            os.kill(os.getpid(), signal.SIGKILL)
        return fn(*args, **kwargs)
    return call

for name in ("open", "write", "mkdir", "rename", "link", "unlink", "rmdir", "chmod", "fchmod", "close"):
    setattr(os, name, counted(getattr(os, name)))
writer._exchange = counted(writer._exchange)
shutil.rmtree = counted(shutil.rmtree)
files = {k: v.encode("latin-1") for k, v in json.loads(sys.argv[4]).items()}
writer.write_tree(Path(sys.argv[2]), files)
print(count)
"""


def run_child(out: Path, limit: int, files: dict[str, bytes], swap: str) -> subprocess.CompletedProcess[str]:
    payload = json.dumps({k: v.decode("latin-1") for k, v in files.items()})
    return subprocess.run(
        [sys.executable, "-c", CHILD, str(REPO), str(out), str(limit), payload, swap],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def siblings(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name != out.name)


@pytest.mark.parametrize("swap", ["renameat2", "fallback"])
def test_kill_anywhere_leaves_old_or_new(tmp_path: Path, swap: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if swap == "fallback":
        monkeypatch.setattr("generator.writer._exchange", lambda a, b: False)
    # How many counted calls a whole, unkilled write makes (limit 0 never fires).
    probe = tmp_path / "probe" / "out"
    probe.parent.mkdir()
    write_tree(probe, OLD)
    total = int(run_child(probe, 0, NEW, swap).stdout)
    assert total > 20
    outcomes = set()
    for limit in range(1, total + 2):
        out = tmp_path / f"k{limit}" / "out"
        out.parent.mkdir()
        write_tree(out, OLD)
        result = run_child(out, limit, NEW, swap)
        assert result.returncode in (0, -9), result.stderr
        state = read_tree(out) if out.is_dir() else None
        if swap == "fallback" and state is None:
            outcomes.add("lost, restored by the next run")  # killed between the two renames
        else:
            assert state in (OLD, NEW), f"kill at call {limit}: out/ is neither the old nor the new tree"
            outcomes.add("old" if state == OLD else "new")
        # The next run converges and leaves nothing beside out/.
        write_tree(out, NEW)
        assert read_tree(out) == NEW
        assert siblings(out) == [], f"kill at call {limit} left {siblings(out)}"
    assert {"old", "new"} <= outcomes
    if swap == "renameat2":
        assert "lost, restored by the next run" not in outcomes


def test_lost_output_is_restored_before_anything_else(tmp_path: Path) -> None:
    """The fallback swap killed between its renames: ``out`` is gone, the old tree sits beside it."""
    out = tmp_path / "out"
    write_tree(out, OLD)
    stale_old = tmp_path / ".out.old-999999999-x"
    os.rename(out, stale_old)
    (tmp_path / ".out.new-999999999-y").mkdir()
    write_tree(out, NEW)
    assert read_tree(out) == NEW
    assert siblings(out) == []


def test_live_runs_temp_trees_are_left_alone(tmp_path: Path) -> None:
    out = tmp_path / "out"
    live = tmp_path / f".out.new-{os.getppid()}-z"  # a pid that is alive: a concurrent run's staging
    live.mkdir()
    write_tree(out, NEW)
    assert live.is_dir()
