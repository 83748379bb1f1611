"""``aiar export ARCHIVE``: the connected side. Every image of ``out/`` (from the registry a build
pushed them to) into one OCI image layout with skopeo, a CycloneDX SBOM of each with syft, ``out/``
itself, and the digest manifest; optionally signed. Same ``out/`` and images, same archive bytes.

SBOMs: syft stamps the time of the scan (``metadata.timestamp``) and a random ``serialNumber``; both
are replaced: the timestamp by the image's own creation time (its config's ``created``, an input;
removed when the image has none), the serial number by a UUID derived from the image's manifest
digest. syft names the scanned source by its path: it is given the image's repository and tag.

An SBOM is a function of the image's bytes, syft and its config, so it is made once per image manifest
digest and kept in ``~/.cache/aiar/sbom`` (``$XDG_CACHE_HOME``): a second export of an image (after a
code-only change, only the changed images are new) copies it from there instead of scanning again.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..apply.credentials import Credentials
from ..apply.outdir import Image, OutDir, read_out, relocated
from ..contract import INDEX_FILE
from ..errors import Problem
from . import ArchiveError
from .archive import FORMAT, IMAGES_DIR, OUT_DIR, SBOM_DIR, Member, manifest_bytes, sha256_file, write_archive
from .copies import EarlyCopy, Source, copy_images, start_copy
from .source import SourceRegistry, source_registry
from .tools import SYFT_CONFIG, SYFT_OFFLINE, Tools, syft, workspace

SBOM_WORKERS = 2
SBOM_NAMESPACE = uuid.UUID("6c1c3a4e-5a0b-4d0e-9a57-0a1a2a3a4a5a")
"""Fixed namespace of the SBOMs' serial numbers (uuid5 of the image's manifest digest)."""


@dataclass(frozen=True)
class ExportResult:
    archive: Path
    images: int
    blobs: int
    bytes: int
    signed: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "archive": str(self.archive),
            "images": self.images,
            "blobs": self.blobs,
            "bytes": self.bytes,
            "signed": self.signed,
        }


def image_name(image: Image) -> str:
    return f"{image.model}-{image.role}"


def _blob(layout: Path, digest: str) -> Path:
    algorithm, _, hexdigest = digest.partition(":")
    return layout / "blobs" / algorithm / hexdigest


def _descriptors(layout: Path, images: list[Image]) -> dict[str, dict[str, Any]]:
    """Each image's entry in the layout's index, by its ref (read once, after every copy)."""
    index = json.loads((layout / "index.json").read_text())
    found = {
        (d.get("annotations") or {}).get("org.opencontainers.image.ref.name"): dict(d)
        for d in index.get("manifests") or []
    }
    missing = [i.ref for i in images if i.ref not in found]
    if missing:
        raise ArchiveError([Problem(ref, "", "skopeo wrote no manifest for it in the OCI layout") for ref in missing])
    return {i.ref: found[i.ref] for i in images}


def _single_image_layout(layout: Path, descriptor: dict[str, Any], into: Path) -> dict[str, Any]:
    """A layout of one image for syft (which scans one image per layout), its blobs hard-linked."""
    manifest = json.loads(_blob(layout, descriptor["digest"]).read_bytes())
    digests = [descriptor["digest"], manifest["config"]["digest"], *(layer["digest"] for layer in manifest["layers"])]
    for digest in digests:
        target = _blob(into, digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            os.link(_blob(layout, digest), target)
    (into / "oci-layout").write_bytes((layout / "oci-layout").read_bytes())
    (into / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [descriptor]}))
    config: dict[str, Any] = json.loads(_blob(layout, manifest["config"]["digest"]).read_bytes())
    return config


def sbom_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aiar" / "sbom"


def _sbom_key(tool: str, manifest_digest: str, image: Image) -> str:
    """What an SBOM depends on: the image (its manifest digest), the name it is given, syft (its
    binary, by path, size and mtime) and syft's config."""
    info = Path(tool).resolve().stat()
    identity = [manifest_digest, image.repository, image.tag, str(Path(tool).resolve()), info.st_size, info.st_mtime_ns]
    return hashlib.sha256(json.dumps([*identity, SYFT_CONFIG]).encode()).hexdigest()


def sbom(tools: Tools, layout: Path, image: Image, descriptor: dict[str, Any], scratch: Path) -> bytes:
    """The image's CycloneDX SBOM (OS and Python packages), with no time or randomness of the scan;
    from the cache when this image was scanned before by the same syft. ``descriptor``: the image's
    entry in the layout's index."""
    tool = syft()
    cached = sbom_cache_dir() / f"{_sbom_key(tool, descriptor['digest'], image)}.cdx.json"
    try:
        data = cached.read_bytes()
    except OSError:
        data = b""
    # Written whole or not at all (below), so a cached SBOM is only ever cut short by hands other
    # than aiar's: checked by its ends rather than parsed (4 ms an image here). canonical_sbom's
    # indented JSON has its outermost braces alone at the start of a line, and no other brace there.
    if not (data.startswith(b"{\n") and data.endswith(b"\n}\n")):
        data = _scan(tools, tool, layout, image, descriptor, scratch)
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_name(f".{cached.name}.{os.getpid()}")
        partial.write_bytes(data)
        partial.replace(cached)  # whole or absent, for a concurrent export too
    return data


def _scan(tools: Tools, tool: str, layout: Path, image: Image, descriptor: dict[str, Any], scratch: Path) -> bytes:
    scratch.mkdir(parents=True)
    single = scratch / "layout"
    config = _single_image_layout(layout, descriptor, single)
    output = scratch / "sbom.cdx.json"
    config_file = scratch / "syft.yaml"
    config_file.write_text(SYFT_CONFIG)
    tools.run(
        image.ref,
        [
            tool,
            "scan",
            "--config",
            str(config_file),
            f"oci-dir:{single}",
            "--quiet",
            "--output",
            f"cyclonedx-json={output}",
            "--source-name",
            image.repository,
            "--source-version",
            image.tag,
        ],
        {**SYFT_OFFLINE, "TMPDIR": str(scratch)},
    )
    document = json.loads(output.read_text(encoding="utf-8"))
    return canonical_sbom(document, descriptor["digest"], config.get("created"))


def canonical_sbom(document: dict[str, Any], manifest_digest: str, created: Any) -> bytes:
    document["serialNumber"] = f"urn:uuid:{uuid.uuid5(SBOM_NAMESPACE, manifest_digest)}"
    metadata = document.setdefault("metadata", {})
    if isinstance(created, str) and created:
        metadata["timestamp"] = created
    else:
        metadata.pop("timestamp", None)
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def _out_members(out: OutDir) -> list[Member]:
    index = json.loads((out.root / INDEX_FILE).read_bytes())
    names = [INDEX_FILE, *index["files"]]
    return [Member(f"{OUT_DIR}/{name}", out.root / name) for name in names]


def _signature(manifest: bytes, key_file: Path) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(key_file.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise ArchiveError([Problem(str(key_file), "", f"not an unencrypted PEM private key: {exc}")]) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ArchiveError([Problem(str(key_file), "", "must be an ed25519 private key")])
    return base64.b64encode(key.sign(manifest)) + b"\n"


def open_out(out_dir: Path, env_file: Path, early: EarlyCopy | None = None) -> tuple[OutDir, SourceRegistry]:
    """``out/`` checked against its index (``early``: read so already, with the environment's
    registry if the file was found to be ``out/``'s), and the registry of the environment it was
    generated with (see ``source``)."""
    out = early.out if early is not None else read_out(out_dir, kube_objects=False)
    return out, source_registry(out, env_file, early.registry if early is not None else None)


def export_archive(
    out: OutDir,
    env_registry: SourceRegistry,
    archive: Path,
    registry: str | None = None,
    insecure: bool | None = None,
    sign_key: Path | None = None,
    note: Callable[[str], None] = lambda _: None,
    sboms: bool = True,
    early: EarlyCopy | None = None,
) -> ExportResult:
    """Write ``archive`` from a (verified) ``out/`` and the images a build pushed; ``early``: the
    scratch directory and first copy :func:`copies.early_copy` started (used if it read the same)."""
    source = env_registry.staged(registry, insecure)
    credentials = Credentials.from_env(source)
    images = sorted(out.images, key=lambda i: i.ref)
    pairs = list(zip(images, relocated(images, env_registry.url, registry), strict=True))
    with nullcontext(early.scratch) if early else workspace("aiar-export-") as scratch:
        tools = early.tools if early else Tools(scratch)
        tools.mask_also(credentials.password)
        auth = tools.auth_file(source.url.split("/", 1)[0], credentials)

        def origin(pair: tuple[Image, Image]) -> Source:
            return Source(pair[1].ref, pair[0].ref, source.insecure, source.username_env, source.password_env)

        def copy(index: int) -> None:
            note(f"copying {pairs[index][1].ref}")
            start_copy(tools, origin(pairs[index]), auth, scratch, index).wait()

        first_done = bool(pairs) and early is not None and early.take(origin(pairs[0]), note)
        layout = copy_images(pairs, scratch, copy, first_done)
        descriptors = _descriptors(layout, images)
        work = scratch / "sbom-work"
        work.mkdir()
        members = [Member(f"{IMAGES_DIR}/{p.relative_to(layout).as_posix()}", p) for p in _files(layout)]
        listed = []
        (scratch / SBOM_DIR).mkdir()

        def scan(image: Image) -> Path:
            note(f"SBOM of {image.ref}")
            path = scratch / SBOM_DIR / f"{image_name(image)}.cdx.json"
            path.write_bytes(sbom(tools, layout, image, descriptors[image.ref], work / image_name(image)))
            return path

        # syft reads every layer of an image: two scans at a time (each with two threads of its own)
        with ThreadPoolExecutor(max_workers=SBOM_WORKERS) as pool:
            scanned = list(pool.map(scan, images)) if sboms else []
        members.extend(Member(f"{SBOM_DIR}/{path.name}", path) for path in scanned)
        for i, image in enumerate(images):
            entry = {"model": image.model, "role": image.role, "ref": image.ref}
            entry["manifest"] = descriptors[image.ref]["digest"]
            if sboms:
                entry["sbom"] = f"{SBOM_DIR}/{scanned[i].name}"
            listed.append(entry)
        members += _out_members(out)
        manifest = manifest_bytes(
            {
                "format": FORMAT,
                "generator": {"name": "aiar", "version": __version__},
                "environment": out.environment_digest,
                "images": listed,
                "files": {m.name: {"sha256": _digest(m), "size": m.source.stat().st_size} for m in members},
            }
        )
        signature = _signature(manifest, sign_key) if sign_key is not None else None
        note(f"writing {archive}")
        # Each blob of the scratch layout is removed once it is in the archive, on a thread of its
        # own: freeing its blocks overlaps the writing of the next member, rather than all of them
        # waiting for the scratch directory's removal at the end (30 ms of 90 MB here). A blob an
        # SBOM scan linked into its own layout keeps its blocks until the scratch directory goes.
        with ThreadPoolExecutor(max_workers=1) as remover:

            def written(member: Member) -> None:
                if member.name.startswith(f"{IMAGES_DIR}/blobs/"):
                    remover.submit(member.source.unlink, missing_ok=True)

            write_archive(archive, manifest, signature, members, written)
        blobs = sum(1 for m in members if m.name.startswith(f"{IMAGES_DIR}/blobs/"))
    return ExportResult(archive, len(images), blobs, archive.stat().st_size, signature is not None)


def _digest(member: Member) -> str:
    """A blob of the OCI layout is named by its sha256, which skopeo checked as it wrote it."""
    head, _, name = member.name.rpartition("/")
    if head == f"{IMAGES_DIR}/blobs/sha256" and len(name) == 64:
        return f"sha256:{name}"
    return sha256_file(member.source)


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())
