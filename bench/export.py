"""Benchmark: `aiar export` against baselines measured in the same run, on the local platform.

- size: the archive against the sum of the images' sizes (each image's config and layers, as a
  registry reports them, counted once per image) and against the unique blob bytes (each layer or
  config counted once however many images share it). Goal (issue 14): at most 1.1x the unique bytes
  for 10 models on one base.
- time: `aiar export` (whole process: out/ check, skopeo copies into one OCI layout, the digest
  manifest, the tar) against `skopeo copy` of the same images into an OCI layout, one after the
  other, as a user would; without SBOMs (`--no-sbom`), with SBOMs scanned afresh (syft, one scan per
  image: an empty aiar cache) and with SBOMs of images exported before (aiar's SBOM cache, by image
  digest: the usual case after a code-only change, where only changed images are scanned). Goal: at
  most 1.2x.

The images are small PYTHON models on the platform's base image (one shared venv layer, a code
layer each), built once into the platform's registry (cached by content).

Usage: python bench/export.py [--models N] [--repeat N] [--no-scans]   (starts the platform if needed; markdown)
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
sys.path.insert(0, str(REPO))

from generator.airgap.tools import POLICY, skopeo  # noqa: E402
from generator.pipeline import generate  # noqa: E402
from tests.apply.harness import small_bundle  # noqa: E402
from tests.platform.testenv import ensure_up  # noqa: E402


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    if done.returncode:
        sys.stderr.write(done.stderr.decode(errors="replace")[-3000:])
        raise subprocess.CalledProcessError(done.returncode, command)
    return time.perf_counter() - start


def image_blobs(ref: str, policy: Path, env: dict[str, str]) -> dict[str, int]:
    """digest -> size of the image's config and layers, from its manifest in the registry."""
    raw = subprocess.run(
        [skopeo(), "--policy", str(policy), "inspect", "--raw", "--tls-verify=false", f"docker://{ref}"],
        capture_output=True,
        check=True,
        env=env,
    ).stdout
    manifest = json.loads(raw)
    blobs = {manifest["config"]["digest"]: int(manifest["config"]["size"])}
    blobs |= {layer["digest"]: int(layer["size"]) for layer in manifest["layers"]}
    return blobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--no-scans", action="store_true", help="skip the exports that scan every SBOM afresh (40 s each here)"
    )
    args = parser.parse_args()

    platform = ensure_up()
    env = {**os.environ, **platform.env(), "PYTHONPATH": str(REPO)}
    # An installed aiar imports from its .pyc files (pip compiles them): the build before the first
    # export writes them here too, unless this environment says not to; without them every export
    # would compile aiar's sources again (0.2 s of CPU), which is not what a user's export does.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    aiar = [sys.executable, "-m", "generator.cli"]
    with tempfile.TemporaryDirectory(prefix="aiar-bench-export-") as scratch:
        work = Path(scratch)
        policy = work / "policy.json"
        policy.write_text(json.dumps(POLICY))
        bundles = [small_bundle(work / "bundles", f"bench-export-{i:02d}") for i in range(args.models)]
        out = work / "out"
        generate(bundles, platform.env_file, work / "aiar.lock", out)
        common = ["--out", str(out), "--env", str(platform.env_file)]
        timed([*aiar, "build", *common], env)
        refs = sorted(spec["ref"] for m in json.loads((out / "index.json").read_text())["models"].values()
                      for spec in m["images"].values())  # fmt: skip
        per_image = [image_blobs(ref, policy, env) for ref in refs]
        summed = sum(sum(blobs.values()) for blobs in per_image)
        unique = sum({d: s for blobs in per_image for d, s in blobs.items()}.values())

        runs: dict[str, list[float]] = {"skopeo": [], "export-no-sbom": [], "export": [], "export-cached": []}
        sizes: dict[str, int] = {}
        for i in range(args.repeat):
            layout = work / f"layout-{i}"
            start = time.perf_counter()
            for ref in refs:
                timed(
                    [skopeo(), "--policy", str(policy), "copy", "--quiet", "--src-tls-verify=false",
                     f"docker://{ref}", f"oci:{layout}:{ref}"],
                    env,
                )  # fmt: skip
            runs["skopeo"].append(time.perf_counter() - start)
            shutil.rmtree(layout)
            archive = work / f"export-{i}.tar"
            runs["export-no-sbom"].append(timed([*aiar, "export", str(archive), *common, "--no-sbom"], env))
            sizes[".tar, no SBOMs"] = archive.stat().st_size
            archive.unlink()
            cold = {**env, "XDG_CACHE_HOME": str(work / ("cache" if args.no_scans else f"cache-{i}"))}
            if not args.no_scans or i == 0:  # every SBOM scanned (with --no-scans: once, to fill the cache)
                runs["export"].append(timed([*aiar, "export", str(archive), *common], cold))
                sizes[".tar"] = archive.stat().st_size
                archive.unlink()
            runs["export-cached"].append(timed([*aiar, "export", str(archive), *common], cold))
            archive.unlink()
        zst = work / "export.tar.zst"
        timed([*aiar, "export", str(zst), *common], env)
        sizes[".tar.zst"] = zst.stat().st_size

    median = {k: statistics.median(v) for k, v in runs.items()}
    print(f"{args.models} models, {len(refs)} images on one base; median of {args.repeat} run(s)")
    print("(a time ratio: the median of each repeat's export against that repeat's skopeo copies)\n")
    print("| measure | value | baseline | ratio |")
    print("|---|---:|---:|---:|")
    for kind, size in sizes.items():
        mb, unique_mb = f"{size / 1e6:.1f} MB", f"{unique / 1e6:.1f} MB"
        print(f"| archive ({kind}) vs unique blob bytes | {mb} | {unique_mb} | {size / unique:.3f}x |")
    size = sizes[".tar"]
    print(
        f"| archive (.tar) vs sum of image sizes | {size / 1e6:.1f} MB | {summed / 1e6:.1f} MB | {size / summed:.3f}x |"
    )
    labels = {
        "export-no-sbom": "`aiar export --no-sbom`",
        "export": "`aiar export`, SBOMs scanned",
        "export-cached": "`aiar export`, SBOMs from the cache",
    }
    for name, label in labels.items():
        value, base = median[name], median["skopeo"]
        # paired: each export against the skopeo copies of its own repeat (this host drifts)
        ratio = statistics.median(v / b for v, b in zip(runs[name], runs["skopeo"], strict=False))
        print(f"| {label} vs `skopeo copy` | {value:.2f} s | {base:.2f} s | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
