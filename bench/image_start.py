"""Benchmark: what a model server's start costs in its image, with and without the venv's bytecode.

A pod cannot write bytecode (read-only root, ``PYTHONDONTWRITEBYTECODE``): whatever the image does
not hold compiled is compiled from source on every start, a rollout's or a scale-up's. The images
compile their venv at build time (``compileall``, hash-based .pyc files). This bench builds the
``quality-classifier`` example's prediction image on the local platform and times, in a container of
it, the imports a server start makes before it can load the model: the model server, the bundle's
``predict.py`` and the scikit-learn modules its pickled model needs. The baseline is the same image
with the venv's .pyc files deleted (the standard library's, which the Debian base ships, kept): what
every image held before, pip having installed with ``--no-compile``. The two alternate, one
container each, in the same run.

Usage: python bench/image_start.py [--rounds N]   (starts the platform if needed; markdown)
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
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from generator.apply.images import docker_client  # noqa: E402
from generator.defaults import VENV_DIR  # noqa: E402
from generator.pipeline import generate  # noqa: E402
from tests.platform.testenv import ensure_up  # noqa: E402

BUNDLE = REPO / "bundles" / "quality-classifier"
IMPORTS = """
import json, resource, sys, time
started = time.perf_counter()
import aiar_runtime.server, aiar_runtime.rest, aiar_runtime.bus
sys.path.insert(0, "src")
import predict
import sklearn.ensemble, sklearn.pipeline, sklearn.preprocessing
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"wall": time.perf_counter() - started, "cpu": usage.ru_utime + usage.ru_stime}))
"""


def measure(client: Any, image: str, hidden: bool) -> dict[str, float]:
    """One container of ``image`` timing the imports; ``hidden``: the venv's .pyc files deleted first
    (the standard library keeps the base image's), as images held them before."""
    if hidden:  # deleting needs a writable root; the deletion is not timed (the script times itself)
        delete = f"find {VENV_DIR} -name '*.pyc' -delete && exec python -c \"$0\""
        entrypoint, user, read_only = ["sh", "-c", delete, IMPORTS], "0:0", False
    else:
        entrypoint, user, read_only = ["python", "-c", IMPORTS], "10001:10001", True  # as the pods run it
    output = client.containers.run(image, entrypoint=entrypoint, remove=True, user=user, read_only=read_only)
    result: dict[str, float] = json.loads(output.decode().strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    platform = ensure_up()
    os.environ.update(platform.env())  # the engine podman serves (DOCKER_HOST), for build and measure
    with tempfile.TemporaryDirectory(prefix="aiar-bench-start-") as scratch:
        work = Path(scratch)
        shutil.copytree(BUNDLE, work / BUNDLE.name)
        out = work / "out"
        generate([work / BUNDLE.name], platform.env_file, work / "aiar.lock", out)
        subprocess.run(
            [sys.executable, "-m", "generator.cli", "build", "--out", str(out), "--env", str(platform.env_file)],
            env={**os.environ, "PYTHONPATH": str(REPO)},
            check=True,
            stdout=subprocess.DEVNULL,
        )
        index = json.loads((out / "index.json").read_text())
        image = index["models"][BUNDLE.name]["images"]["predict"]["ref"]
        runs: dict[str, list[dict[str, float]]] = {"bytecode": [], "source": []}
        client = docker_client()
        measure(client, image, False)  # the image's layers into the page cache
        for _ in range(args.rounds):
            runs["bytecode"].append(measure(client, image, False))
            runs["source"].append(measure(client, image, True))

    def median(kind: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[kind])

    print(f"`{BUNDLE.name}` prediction image, median of {args.rounds} interleaved container(s) each\n")
    print("| imports before the model loads | wall | CPU | wall vs source |")
    print("|---|---:|---:|---:|")
    for kind, label in (("source", "compiled from source (before)"), ("bytecode", "from the image's .pyc files")):
        wall, cpu = median(kind, "wall"), median(kind, "cpu")
        print(f"| {label} | {wall:.2f} s | {cpu:.2f} s | {wall / median('source', 'wall'):.2f}x |")


if __name__ == "__main__":
    main()
