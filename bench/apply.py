"""Benchmark: `aiar apply` against baselines measured in the same run, on the local platform.

- no-op apply of 20 models: `aiar apply` (whole process: out/ hash check, registry look-ups, server-side
  apply of every object, waits, prune check) against `kubectl apply --server-side` of the same files
  with the same field manager. Goal (issue 5): at most 1.5x.
- code-only rebuild: building a model's prediction image after a change to its code only (the layer
  cache keeps the dependencies) against a cold build (`nocache`) of the same image. Goal: at most 0.2x.

Usage: python bench/apply.py [--models N] [--repeat N]   (starts the platform if needed; markdown table)
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

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from generator.apply.images import docker_client  # noqa: E402
from generator.defaults import dataset_key  # noqa: E402
from generator.pipeline import generate  # noqa: E402
from tests.apply.harness import DATASET, PREDICT, small_bundle  # noqa: E402
from tests.platform.testenv import ensure_up  # noqa: E402


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if done.returncode:
        sys.stderr.write(done.stderr.decode(errors="replace")[-3000:])
        raise subprocess.CalledProcessError(done.returncode, command)
    return time.perf_counter() - start


def heal_pods(namespace: str, env: dict[str, str]) -> None:
    """Replace every pod: a platform workaround, not part of what is measured.

    The fake nodes miss heartbeats while builds saturate two cores; the node lifecycle controller
    then marks every pod NotReady for good and Deployments never become available again.
    """
    subprocess.run(
        ["kubectl", "delete", "pods", "--all", "-n", namespace, "--wait=false"],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    time.sleep(5)


def build_seconds(context: Path, dockerfile: str, tag: str, nocache: bool) -> float:
    client = docker_client()
    start = time.perf_counter()
    for item in client.api.build(
        path=str(context),
        dockerfile=dockerfile,
        tag=tag,
        nocache=nocache,
        rm=True,
        forcerm=True,
        pull=False,
        decode=True,
    ):
        if "error" in item:
            raise RuntimeError(item["error"])
    return time.perf_counter() - start


def example_rebuild(work: Path, env_file: Path) -> tuple[float, float]:
    """The same measure on the real example (numpy, scikit-learn): a code-only rebuild vs a cold build."""
    bundle = work / "example"
    shutil.copytree(REPO / "bundles" / "quality-classifier", bundle)
    out, lock = work / "example-out", work / "example.lock"

    def predict_image() -> tuple[Path, str, str]:
        generate([bundle], env_file, lock, out)
        image = json.loads((out / "index.json").read_text())["models"]["quality-classifier"]["images"]["predict"]
        return out / image["context"], image["dockerfile"], image["ref"]

    context, dockerfile, ref = predict_image()
    cold = build_seconds(context, dockerfile, ref + "-cold", nocache=True)
    build_seconds(context, dockerfile, ref, nocache=False)  # the cache, as a first apply leaves it
    predict = bundle / "src" / "predict.py"
    predict.write_text(predict.read_text() + f"# bench {time.time_ns()}\n")
    context, dockerfile, ref = predict_image()
    return build_seconds(context, dockerfile, ref, nocache=False), cold


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    platform = ensure_up()
    env = {**os.environ, **platform.env()}
    os.environ.update(platform.env())
    work = Path(tempfile.mkdtemp(prefix="aiar-bench-apply-"))
    env_file = Path(shutil.copy(platform.env_file, work / "environment.yaml"))  # the platform's, as is
    bundles = [small_bundle(work / "bundles", f"Bench {i:02d}", training=i % 4 == 0) for i in range(args.models)]
    out = work / "out"
    generate(bundles, env_file, work / "aiar.lock", out)
    # the training Jobs' dataset, where they read it (apply refuses to start training without it)
    bucket = yaml.safe_load(env_file.read_text())["storage"]["bucket"]
    platform.s3_client(bucket).put_object(Bucket=bucket, Key=dataset_key(DATASET), Body=b"x,y\n1,2\n")
    aiar = [sys.executable, "-m", "generator.cli", "apply", "--out", str(out), "--env", str(env_file)]
    print(f"setting up: first apply of {args.models} models (builds what the registry lacks)...", file=sys.stderr)
    try:
        timed([*aiar, "--timeout", "60"], env)
    except subprocess.CalledProcessError:
        heal_pods(platform.namespace, env)
        timed(aiar, env)

    files = [str(out / "k8s/applyset.yaml")] + [
        str(out / name)
        for m in json.loads((out / "index.json").read_text())["models"].values()
        for name in m["kubernetes"]
    ]
    kubectl = ["kubectl", "apply", "--server-side", "--field-manager=aiar", *[a for f in files for a in ("-f", f)]]
    timed(kubectl, env)  # warm kubectl's discovery cache, as a CI runner's would be after one run
    aiar_times, kubectl_times = [], []
    for _ in range(args.repeat):  # interleaved, so that both see the same machine state
        aiar_times.append(timed(aiar, env))
        kubectl_times.append(timed(kubectl, env))
    noop, base = statistics.median(aiar_times), statistics.median(kubectl_times)

    # Code-only change of one model: regenerate, then build its prediction image with the cache...
    index = json.loads((out / "index.json").read_text())
    slug = sorted(index["models"])[1]
    (bundles[1] / "src/predict.py").write_text(PREDICT + f"# bench {time.time_ns()}\n")
    generate(bundles, env_file, work / "aiar.lock", out)
    image = json.loads((out / "index.json").read_text())["models"][slug]["images"]["predict"]
    context = out / image["context"]
    warm = build_seconds(context, image["dockerfile"], image["ref"], nocache=False)
    # ...and the same image from nothing.
    cold = build_seconds(context, image["dockerfile"], image["ref"] + "-cold", nocache=True)
    print(f"| measure ({args.models} models, median of {args.repeat}) | aiar | baseline | ratio | goal |")
    print("|---|---|---|---|---|")
    print(
        f"| no-op apply vs `kubectl apply --server-side` | {noop:.2f} s | {base:.2f} s | {noop / base:.2f}x | <= 1.5x |"
    )
    print(
        f"| code-only rebuild vs cold build (one image) | {warm:.2f} s | {cold:.2f} s | {warm / cold:.2f}x | <= 0.2x |",
        flush=True,
    )
    warm_example, cold_example = example_rebuild(work, env_file)
    print(
        f"| code-only rebuild vs cold build, the quality-classifier example (numpy, scikit-learn) "
        f"| {warm_example:.2f} s | {cold_example:.2f} s | {warm_example / cold_example:.2f}x | <= 0.2x |",
        flush=True,
    )
    heal_pods(platform.namespace, env)  # the cold builds starved the fake nodes (see heal_pods)
    start = time.perf_counter()
    (bundles[1] / "src/predict.py").write_text(PREDICT + f"# bench {time.time_ns()}\n")
    generate(bundles, env_file, work / "aiar.lock", out)
    timed(aiar, env)
    rollout = time.perf_counter() - start
    print(f"| code-only change, whole `aiar apply` (build, push, roll out) | {rollout:.2f} s | | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
