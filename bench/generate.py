"""Benchmark: whole-process time of `aiar generate`, as ratios against baselines measured in the same run.

Baselines:
- floor: `python -c "import pydantic, jinja2, ruamel.yaml, click"`, what any implementation on this
  stack pays before doing anything;
- kustomize: `kubectl kustomize` merely re-rendering the Kubernetes files that aiar generated for the
  same bundles (only when aiar generates Kubernetes files and kubectl is installed).

Goals (issue 2 and 4): 100 bundles in at most 5x the floor; `aiar --help` in at most 2x the floor;
100 bundles no slower than kustomize re-rendering their Kubernetes part.

Usage: python bench/generate.py [--repeat N]   (prints a markdown table)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "bundles" / "quality-classifier"
ENV = REPO / "bundles" / "environment.yaml"


# The warm-up run of each measurement writes aiar's .pyc files, as any install does: without them every
# run would compile aiar's sources again, while the floor's packages import from their .pyc files. So
# PYTHONDONTWRITEBYTECODE, if set in this environment, is not passed on.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=CHILD_ENV, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def median_time(command: list[str], cwd: Path, repeat: int) -> float:
    timed(command, cwd)  # warm the page cache and .pyc files
    return statistics.median(timed(command, cwd) for _ in range(repeat))


def median_time_fresh_out(command: list[str], out: Path, cwd: Path, repeat: int) -> float:
    """Like ``median_time`` but into an ``out/`` that does not exist yet, so nothing can be reused."""
    times = []
    for i in range(repeat + 1):
        target = out.with_name(f"{out.name}-{i}")
        times.append(timed([*command, "--out", str(target)], cwd))
        shutil.rmtree(target)
    return statistics.median(times[1:])


def make_bundles(root: Path, count: int) -> Path:
    bundles = root / f"bundles-{count}"
    for i in range(count):
        target = bundles / f"model-{i:03d}"
        shutil.copytree(TEMPLATE, target)
        manifest = json.loads((target / "manifest.json").read_text())
        manifest["name"] = f"Bench Model {i:03d}"
        (target / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return bundles


def aiar() -> list[str]:
    script = Path(sys.executable).parent / "aiar"
    return [str(script)] if script.exists() else [sys.executable, "-m", "generator.cli"]


def kustomization(out: Path) -> Path | None:
    files = sorted(p.relative_to(out).as_posix() for p in out.glob("*/k8s/*.yaml"))
    if not files or shutil.which("kubectl") is None:
        return None
    (out / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
        + "".join(f"- {f}\n" for f in files)
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rows: list[tuple[str, float, float | None, str]] = []
    # On the repository's file system, where `out/` normally goes (a tmpfs would flatter us).
    work = REPO / "bench" / ".work"
    work.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        root = Path(tmp)
        floor = median_time([sys.executable, "-c", "import pydantic, jinja2, ruamel.yaml, click"], root, args.repeat)
        rows.append(("floor: import pydantic, jinja2, ruamel.yaml, click", floor, None, ""))
        help_time = median_time([*aiar(), "--help"], root, args.repeat)
        rows.append(("aiar --help", help_time, help_time / floor, "<= 2x floor"))
        out_100 = None
        for count in (1, 10, 100):
            bundles = make_bundles(root, count)
            out = root / f"out-{count}"
            command = [
                *aiar(),
                "generate",
                *[str(p) for p in sorted(bundles.iterdir())],
                "--env",
                str(ENV),
                "--lock",
                str(root / f"lock-{count}"),
                "--out",
                str(out),
            ]
            elapsed = median_time(command, root, args.repeat)
            rows.append(
                (f"aiar generate, {count} bundle(s)", elapsed, elapsed / floor, "<= 5x floor" if count == 100 else "")
            )
            out_100 = out if count == 100 else out_100
        assert out_100 is not None
        generate_100 = rows[-1][1]
        shm = Path("/dev/shm")
        if shm.is_dir():
            # The same run with out/ on tmpfs: what the compiler costs apart from this disk's file creation.
            with tempfile.TemporaryDirectory(dir=shm) as fast:
                command = [
                    *aiar(),
                    "generate",
                    *[str(p) for p in sorted((root / "bundles-100").iterdir())],
                    "--env",
                    str(ENV),
                    "--lock",
                    str(Path(fast) / "lock"),
                    "--out",
                    str(Path(fast) / "out"),
                ]
                elapsed = median_time(command, root, args.repeat)
            rows.append(("aiar generate, 100 bundles, out/ on tmpfs", elapsed, elapsed / floor, "<= 5x floor"))
        target = kustomization(out_100)
        if target is not None:
            kustomize = median_time(["kubectl", "kustomize", str(target)], root, args.repeat)
            rows.append(("kubectl kustomize of the same 100 bundles' k8s files", kustomize, None, ""))
            rows.append(("aiar generate 100 / kustomize 100", generate_100, generate_100 / kustomize, "<= 1x"))
        # The rows above regenerate into the previous run's out/ (what a user does after editing a bundle),
        # where unchanged files are hard-linked; this one writes every file and directory anew. Last, since
        # deleting what it wrote keeps this disk busy for a while.
        command = [
            *aiar(),
            "generate",
            *[str(p) for p in sorted((root / "bundles-100").iterdir())],
            "--env",
            str(ENV),
            "--lock",
            str(root / "lock-100"),
        ]
        fresh = median_time_fresh_out(command, root / "fresh-out", root, args.repeat)
        rows.append(("aiar generate, 100 bundles, into a new out/", fresh, fresh / floor, ""))
    print(f"| measurement | median of {args.repeat} (s) | ratio | goal |")
    print("|---|---:|---:|---|")
    for name, seconds, ratio, goal in rows:
        print(f"| {name} | {seconds:.3f} | {'' if ratio is None else f'{ratio:.2f}x'} | {goal} |")


if __name__ == "__main__":
    main()
