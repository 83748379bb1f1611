"""``aiar apply --from ARCHIVE`` and ``aiar plan --from ARCHIVE``: the disconnected side.

In order, and nothing pushed or applied before the last check passed: extract with every member
bounded and its sha256 checked against the manifest (a flipped byte names the member); the signature,
when a key is given; the archive's environment digest against the environment file given; then
``out/`` is read as apply always reads it (against its own index). Only then are the images copied
from the archive's OCI layout into the site's registry (skopeo; those it already holds are skipped),
and apply runs exactly as for a connected ``out/``. The registry and the cluster are the only hosts
reached.
"""

from __future__ import annotations

import base64
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..apply.images import Credentials, RegistryClient
from ..apply.outdir import read_out
from ..environment import Environment, load_environment
from ..errors import Problem
from . import ArchiveError
from .archive import DEFAULT_MAX_BYTES, IMAGES_DIR, MANIFEST, OUT_DIR, SIGNATURE, Unpacked, unpack
from .tools import Tools


@dataclass
class OpenedArchive:
    """A verified archive, extracted into a private temporary directory until :meth:`close`."""

    archive: Path
    unpacked: Unpacked
    _scratch: Any = field(repr=False)

    @property
    def out(self) -> Path:
        return self.unpacked.root / OUT_DIR

    @property
    def layout(self) -> Path:
        return self.unpacked.root / IMAGES_DIR

    def close(self) -> None:
        self._scratch.cleanup()


def _verify_signature(archive: Path, unpacked: Unpacked, key_file: Path) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    if unpacked.signature is None:
        raise ArchiveError([Problem(f"{archive}!{SIGNATURE}", "", "missing: the archive is not signed")])
    try:
        key = load_pem_public_key(key_file.read_bytes())
    except ValueError as exc:
        raise ArchiveError([Problem(str(key_file), "", f"not a PEM public key: {exc}")]) from None
    if not isinstance(key, Ed25519PublicKey):
        raise ArchiveError([Problem(str(key_file), "", "must be an ed25519 public key")])
    try:
        key.verify(base64.b64decode(unpacked.signature.strip(), validate=True), unpacked.manifest_raw)
    except (InvalidSignature, ValueError):
        raise ArchiveError(
            [Problem(f"{archive}!{SIGNATURE}", "", f"does not verify {MANIFEST} with {key_file}")]
        ) from None


def open_archive(
    archive: Path, env_file: Path, verify_key: Path | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> OpenedArchive:
    """Extract and verify ``archive`` for the site described by ``env_file``; refuse on any mismatch."""
    if not archive.is_file():
        raise ArchiveError([Problem(str(archive), "", "no such archive file")])
    environment = load_environment(env_file)
    scratch = tempfile.TemporaryDirectory(prefix="aiar-archive-")
    try:
        unpacked = unpack(archive, Path(scratch.name), max_bytes)
        if verify_key is not None:
            _verify_signature(archive, unpacked, verify_key)
        recorded = unpacked.manifest.get("environment")
        if recorded != environment.digest:
            raise ArchiveError(
                [
                    Problem(
                        str(env_file),
                        "",
                        f"is not the environment the archive was generated for (its digest {recorded}); "
                        "generate on the connected side with this site's environment file",
                    )
                ]
            )
        out = read_out(Path(scratch.name) / OUT_DIR)
        listed = sorted(str(i.get("ref")) for i in unpacked.manifest.get("images") or [])
        if listed != sorted(i.ref for i in out.images):
            raise ArchiveError([Problem(f"{archive}!{MANIFEST}", "/images", "does not list the images of its out/")])
        return OpenedArchive(archive, unpacked, scratch)
    except BaseException:
        scratch.cleanup()
        raise


@dataclass(frozen=True)
class PushResult:
    pushed: tuple[str, ...]
    present: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"pushed": list(self.pushed), "present": list(self.present)}


def push_images(opened: OpenedArchive, env: Environment) -> PushResult:
    """Copy every image of the archive the site's registry lacks into it, from the OCI layout."""
    credentials = Credentials.from_env(env.registry)
    registry = RegistryClient(env.registry, credentials)
    pushed, present = [], []
    with tempfile.TemporaryDirectory(prefix="aiar-push-") as scratch:
        tools = Tools(Path(scratch), [credentials.password or ""])
        auth = tools.auth_file(env.registry.url.split("/", 1)[0], credentials)
        for ref in sorted(str(i["ref"]) for i in opened.unpacked.manifest["images"]):
            if not ref.startswith(env.registry.url.rstrip("/") + "/"):
                raise ArchiveError([Problem(ref, "", f"is not in the site's registry {env.registry.url}")])
            if registry.has(ref):
                present.append(ref)
                continue
            tools.start_copy(
                f"oci:{opened.layout}:{ref}", f"docker://{ref}", dest_auth=auth, dest_insecure=env.registry.insecure
            ).wait()
            if not registry.has(ref):
                raise ArchiveError([Problem(ref, "", "copied, but the registry does not have the manifest")])
            pushed.append(ref)
    return PushResult(tuple(pushed), tuple(present))
