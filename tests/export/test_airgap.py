"""Develop connected, deploy disconnected, with real components end to end.

Connected side (the shared platform's registry and podman): generate for the site's environment,
``aiar build`` into the platform's registry, ``aiar export`` twice (byte-identical, signed). Site: a
network namespace whose only interface is loopback, with its own registry and cluster (etcd,
kube-apiserver, controllers, kwok; tests/export/site.py); there ``aiar apply --from`` refuses a
flipped byte (naming the file) and another environment, then deploys (the models' Deployments
Available, as with a connected apply), and a second run changes nothing. Canary values in every
credential variable appear nowhere: not in the archive's files, its decompressed layers, or any log.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
import zstandard

from tests.apply.harness import small_bundle
from tests.conftest import REPO
from tests.platform.proc import free_port
from tests.platform.testenv import Platform

pytestmark = [pytest.mark.platform, pytest.mark.slow]

NAMESPACE = "export-airgap"
CANARIES = {
    "EXPORT_REGISTRY_USER": "canary-user-7f3a9c",
    "EXPORT_REGISTRY_PASSWORD": "canary-password-1b8e4d",
    "AWS_ACCESS_KEY_ID": "canary-s3-key-5c2f0a",
    "AWS_SECRET_ACCESS_KEY": "canary-s3-secret-9d7e61",
    "AIAR_AMQP_URL": "amqp://canary-bus-user:canary-bus-password-4a6b@127.0.0.1:1/%2F",
}
SECRETS = (
    *("canary-user-7f3a9c", "canary-password-1b8e4d", "canary-s3-key-5c2f0a", "canary-s3-secret-9d7e61"),
    *("canary-bus-user", "canary-bus-password-4a6b"),
)


def _site_env(path: Path, registry_port: int, platform: Platform) -> Path:
    ca = "/etc/ssl/certs/ca-certificates.crt"
    path.write_text(
        f"namespace: {NAMESPACE}\n"
        f"registry:\n  url: 127.0.0.1:{registry_port}\n  insecure: true\n"
        "  username_env: EXPORT_REGISTRY_USER\n  password_env: EXPORT_REGISTRY_PASSWORD\n"
        f"base_images:\n  python: {platform.python_base_image}\n"
        f"build:\n  ca_bundle: {ca}\n"
    )
    return path


def _aiar(platform: Platform, *args: str | Path, cache: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **platform.env(), **CANARIES, "PYTHONPATH": str(REPO)}
    if cache is not None:  # aiar's cache (SBOMs by image digest) in a directory of the test's
        env["XDG_CACHE_HOME"] = str(cache)
    return subprocess.run(
        [sys.executable, "-m", "generator.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
        check=False,
    )


def _keys(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private, public = tmp_path / "sign.pem", tmp_path / "sign.pub"
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private, public


def _members(archive: Path) -> dict[str, bytes]:
    with archive.open("rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as stream:
        data = stream.read()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isreg()}  # type: ignore[union-attr]


def _layer_texts(members: dict[str, bytes]) -> list[bytes]:
    """Every blob of the OCI layout, layers decompressed (gzip or zstd)."""
    texts = []
    for name, data in members.items():
        if not name.startswith("images/blobs/"):
            continue
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        elif data[:4] == b"\x28\xb5\x2f\xfd":
            data = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
        texts.append(data)
    return texts


def _flip(archive: Path, member: str, into: Path) -> Path:
    """``archive`` decompressed to plain tar with one byte of ``member``'s content flipped."""
    with archive.open("rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as stream:
        data = bytearray(stream.read())
    with tarfile.open(fileobj=io.BytesIO(bytes(data)), mode="r:") as tar:
        info = tar.getmember(member)
    data[info.offset_data] ^= 0x01
    into.write_bytes(bytes(data))
    return into


def test_air_gapped_deploy(platform: Platform, tmp_path: Path) -> None:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.fail("this test needs unshare(1) and root for a network namespace (the CI machine has both)")
    site_ports = {name: free_port() for name in ("registry", "etcd", "etcd_peer", "apiserver")}
    env_file = _site_env(tmp_path / "site.yaml", site_ports["registry"], platform)
    bundles = [small_bundle(tmp_path / "bundles", f"export-airgap-{n}") for n in ("one", "two")]
    out = tmp_path / "out"

    # --- connected side -------------------------------------------------------------------------
    generated = _aiar(platform, "generate", *bundles, "--env", env_file, "--lock", tmp_path / "aiar.lock", "--out", out)
    assert generated.returncode == 0, generated.stderr
    built = _aiar(
        platform, "build", "--out", out, "--env", env_file, "--registry", platform.registry, "--insecure-registry"
    )
    assert built.returncode == 0, built.stderr
    private, public = _keys(tmp_path)
    archives = [tmp_path / "a.tar.zst", tmp_path / "b.tar.zst"]
    logs = [generated, built]
    for archive in archives:  # each export scans its images afresh (its own empty cache)
        exported = _aiar(
            platform, "export", archive, "--out", out, "--env", env_file,
            "--registry", platform.registry, "--insecure-registry", "--sign-key", private,
            cache=tmp_path / f"cache-{archive.name}",
        )  # fmt: skip
        assert exported.returncode == 0, exported.stderr
        logs.append(exported)
    assert archives[0].read_bytes() == archives[1].read_bytes(), "two exports of the same out/ differ"
    assert len(list((tmp_path / "cache-a.tar.zst" / "aiar" / "sbom").glob("*.cdx.json"))) == 2
    cached = _aiar(
        platform, "export", tmp_path / "c.tar.zst", "--out", out, "--env", env_file,
        "--registry", platform.registry, "--insecure-registry", "--sign-key", private,
        cache=tmp_path / "cache-a.tar.zst",
    )  # fmt: skip
    assert cached.returncode == 0, cached.stderr
    logs.append(cached)
    assert (tmp_path / "c.tar.zst").read_bytes() == archives[0].read_bytes(), "SBOMs from the cache differ"

    members = _members(archives[0])
    manifest = json.loads(members["aiar-export.json"])
    assert sorted(i["model"] for i in manifest["images"]) == ["export-airgap-one", "export-airgap-two"]
    assert "out/index.json" in members
    assert "out/gateway/kong.yaml" in members
    for image in manifest["images"]:
        sbom = json.loads(members[image["sbom"]])
        assert sbom["bomFormat"] == "CycloneDX"
        purls = [str(c.get("purl", "")) for c in sbom.get("components", [])]
        assert any(p.startswith("pkg:pypi/pydantic@") for p in purls), "no Python packages in the SBOM"
        assert any(p.startswith("pkg:deb/") for p in purls), "no OS packages in the SBOM"
    # shared layers stored once: the two images' base and venv layers are the same blobs
    layers = [
        json.loads(members[f"images/blobs/sha256/{i['manifest'].split(':')[1]}"])["layers"] for i in manifest["images"]
    ]
    shared = {layer["digest"] for layer in layers[0]} & {layer["digest"] for layer in layers[1]}
    assert shared, "the two images share no layer"
    assert len([n for n in members if n.startswith("images/blobs/")]) < sum(len(x) + 2 for x in layers)

    flipped = _flip(archives[0], f"out/{manifest['images'][0]['model']}/k8s/deployment.yaml", tmp_path / "flip.tar")
    other_env = tmp_path / "other.yaml"
    other_env.write_text(env_file.read_text().replace(NAMESPACE, "export-elsewhere"))

    # --- the site, with loopback only ------------------------------------------------------------
    apply_from = ["apply", "--from", archives[0], "--env", env_file, "--verify-key", public]
    apply_from += ["--create-namespace", "--timeout", "300", "-o", "json"]
    config = {
        "rundir": str(tmp_path / "site"),
        "ports": site_ports,
        "namespace": NAMESPACE,
        "environ": CANARIES,
        "result": str(tmp_path / "site-result.json"),
        "commands": [
            [str(a) for a in ["apply", "--from", flipped, "--env", env_file, "--create-namespace"]],
            [str(a) for a in ["apply", "--from", archives[0], "--env", other_env, "--create-namespace"]],
            [str(a) for a in ["plan", "--from", archives[0], "--env", env_file]],
            [str(a) for a in apply_from],
            [str(a) for a in apply_from],
            [str(a) for a in ["plan", "--from", archives[0], "--env", env_file, "--verify-key", public]],
        ],
    }
    (tmp_path / "site.json").write_text(json.dumps(config))
    site = subprocess.run(
        ["unshare", "-n", sys.executable, "-m", "tests.export.site", str(tmp_path / "site.json")],  # noqa: S607
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=1800,
        check=False,
    )
    assert site.returncode == 0, site.stdout + site.stderr
    result = json.loads((tmp_path / "site-result.json").read_text())

    # nothing outside is reachable: one interface, loopback, and no route at all
    links = result["reach"]["links"].strip().splitlines()
    assert len(links) == 1
    assert ": lo:" in links[0]
    assert result["reach"]["routes"].strip() == ""

    refused, wrong_env, before, first, second, planned = result["steps"]
    assert refused["code"] == 1
    assert f"{flipped}!out/" in refused["stderr"]
    assert "deployment.yaml" in refused["stderr"]
    assert refused["registry"] == []  # nothing pushed
    assert refused["deployments"] == {}  # nothing applied
    assert wrong_env["code"] == 1
    assert "is not the environment the archive was generated for" in wrong_env["stderr"]
    assert wrong_env["registry"] == []
    assert before["code"] == 2, before["stdout"] + before["stderr"]  # plan --from: pushes and creations pending
    assert "2 to push from the archive" in before["stdout"]
    assert before["registry"] == []  # plan pushes nothing

    assert first["code"] == 0, first["stderr"]
    assert sorted(first["registry"]) == ["aiar/export-airgap-one-predict", "aiar/export-airgap-two-predict"]
    assert first["deployments"], first
    assert all(d["available"] for d in first["deployments"].values()), first["deployments"]
    assert {d["image"] for d in first["deployments"].values()} == {i["ref"] for i in manifest["images"]}
    report: dict[str, Any] = json.loads(first["stdout"])
    assert report["built"] == 0

    assert second["code"] == 0, second["stderr"]
    again: dict[str, Any] = json.loads(second["stdout"])
    assert again["changed"] == []
    assert again["pruned"] == []
    assert {i["action"] for i in again["images"]} == {"present"}
    assert planned["code"] == 0, planned["stdout"] + planned["stderr"]  # plan --from: nothing to do

    # --- no secret anywhere -----------------------------------------------------------------------
    texts = [*members.values(), *_layer_texts(members), archives[0].read_bytes(), flipped.read_bytes()]
    texts += [(p.stdout + p.stderr).encode() for p in logs]
    texts += [(s["stdout"] + s["stderr"]).encode() for s in result["steps"]]
    texts += [p.read_bytes() for p in (tmp_path / "site" / "logs").glob("*") if p.is_file()]
    for secret in SECRETS:
        assert not any(secret.encode() in text for text in texts), f"{secret} leaked"
