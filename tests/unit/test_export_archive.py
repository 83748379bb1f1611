"""The export archive's bytes: reproducible; and reading refuses anything the manifest does not vouch
for (altered bytes, extra or missing members, traversal, links, devices, oversize) before use."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from generator.airgap import ArchiveError
from generator.airgap.archive import (
    FORMAT,
    MANIFEST,
    Member,
    manifest_bytes,
    safe_name,
    sha256_file,
    unpack,
    write_archive,
)
from generator.airgap.export import canonical_sbom


def _tree(root: Path) -> list[Member]:
    files = {"out/index.json": b"{}\n", "out/a/b.yaml": b"kind: x\n", "images/blobs/sha256/ab": b"\x00" * 5000}
    members = []
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        members.append(Member(name, path))
    return members


def _manifest(members: list[Member]) -> bytes:
    files = {m.name: {"sha256": sha256_file(m.source), "size": m.source.stat().st_size} for m in members}
    return manifest_bytes({"format": FORMAT, "environment": "sha256:" + "0" * 64, "images": [], "files": files})


@pytest.mark.parametrize("suffix", [".tar", ".tar.gz", ".tar.zst"])
def test_same_files_same_bytes_and_round_trip(tmp_path: Path, suffix: str) -> None:
    members = _tree(tmp_path / "src")
    a, b = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
    write_archive(a, _manifest(members), None, members)
    for m in members:  # another mtime and mode: nothing of it reaches the archive
        m.source.chmod(0o600)
    write_archive(b, _manifest(members), None, list(reversed(members)))
    assert a.read_bytes() == b.read_bytes()
    magic = {".tar": b"aiar", ".tar.gz": b"\x1f\x8b", ".tar.zst": b"\x28\xb5\x2f\xfd"}[suffix]
    assert a.read_bytes()[: len(magic)] == magic
    unpacked = unpack(a, tmp_path / "x")
    assert (tmp_path / "x" / "out" / "a" / "b.yaml").read_bytes() == b"kind: x\n"
    assert unpacked.signature is None


def test_a_plain_tar_is_the_compressed_ones_tar(tmp_path: Path) -> None:
    """A plain .tar is written straight to its file, a compressed one through tarfile's stream mode:
    the tar inside is the same bytes."""
    import gzip

    import zstandard

    members = _tree(tmp_path / "src")
    for suffix in (".tar", ".tar.gz", ".tar.zst"):
        write_archive(tmp_path / f"a{suffix}", _manifest(members), b"sig\n", members)
    plain = (tmp_path / "a.tar").read_bytes()
    assert gzip.decompress((tmp_path / "a.tar.gz").read_bytes()) == plain
    with zstandard.ZstdDecompressor().stream_reader((tmp_path / "a.tar.zst").open("rb")) as reader:
        assert reader.read() == plain
    assert len(plain) % tarfile.RECORDSIZE == 0


def test_members_have_no_time_or_owner(tmp_path: Path) -> None:
    members = _tree(tmp_path / "src")
    archive = tmp_path / "a.tar"
    write_archive(archive, _manifest(members), b"sig\n", members)
    with tarfile.open(archive) as tar:
        infos = tar.getmembers()
    assert [i.name for i in infos][:2] == [MANIFEST, "aiar-export.json.sig"]
    assert [i.name for i in infos][2:] == sorted(i.name for i in infos[2:])
    assert {(i.mtime, i.uid, i.gid, i.uname, i.gname, i.mode, i.pax_headers == {}) for i in infos} == {
        (0, 0, 0, "", "", 0o644, True)
    }


def test_flipped_byte_is_refused_naming_the_member(tmp_path: Path) -> None:
    members = _tree(tmp_path / "src")
    archive = tmp_path / "a.tar"
    write_archive(archive, _manifest(members), None, members)
    data = bytearray(archive.read_bytes())
    offset = data.index(b"kind: x")
    data[offset] ^= 0x01
    archive.write_bytes(bytes(data))
    with pytest.raises(ArchiveError) as failure:
        unpack(archive, tmp_path / "x")
    assert [p.source for p in failure.value.problems] == [f"{archive}!out/a/b.yaml"]
    assert "sha256 differs" in failure.value.problems[0].message


def _hostile(tmp_path: Path, info: tarfile.TarInfo, data: bytes = b"") -> Path:
    """An archive whose manifest lists ``info.name`` with ``data``'s digest, then holds ``info``."""
    import hashlib

    files = {info.name: {"sha256": "sha256:" + hashlib.sha256(data).hexdigest(), "size": len(data)}}
    manifest = json.dumps({"format": FORMAT, "environment": "", "images": [], "files": files}).encode()
    archive = tmp_path / "hostile.tar"
    with tarfile.open(archive, "w", format=tarfile.GNU_FORMAT) as tar:
        head = tarfile.TarInfo(MANIFEST)
        head.size = len(manifest)
        tar.addfile(head, io.BytesIO(manifest))
        tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return archive


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("out/../../etc/passwd", tarfile.REGTYPE),
        ("/etc/passwd", tarfile.REGTYPE),
        ("elsewhere/file", tarfile.REGTYPE),
        ("out/link", tarfile.SYMTYPE),
        ("out/hard", tarfile.LNKTYPE),
        ("out/dev", tarfile.CHRTYPE),
        ("out/fifo", tarfile.FIFOTYPE),
    ],
)
def test_hostile_members_are_refused_before_extraction(tmp_path: Path, name: str, kind: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
        info.linkname = "/etc/passwd"
    data = b"x" if kind == tarfile.REGTYPE else b""
    info.size = len(data)
    archive = _hostile(tmp_path, info, data)
    target = tmp_path / "x"
    target.mkdir()
    with pytest.raises(ArchiveError):
        unpack(archive, target)
    assert not any(target.rglob("*"))
    assert not (tmp_path / "etc").exists()


def test_declared_size_is_bounded(tmp_path: Path) -> None:
    members = _tree(tmp_path / "src")
    archive = tmp_path / "a.tar"
    write_archive(archive, _manifest(members), None, members)
    with pytest.raises(ArchiveError, match="more than the bound"):
        unpack(archive, tmp_path / "x", max_bytes=1000)


def test_missing_member_is_named(tmp_path: Path) -> None:
    members = _tree(tmp_path / "src")
    archive = tmp_path / "a.tar"
    write_archive(archive, _manifest(members), None, members[:-1])
    with pytest.raises(ArchiveError) as failure:
        unpack(archive, tmp_path / "x")
    assert [p.source for p in failure.value.problems] == [f"{archive}!images/blobs/sha256/ab"]


def test_safe_names() -> None:
    assert safe_name("out/a/b.yaml") is None
    for bad in ("out/./a", "out//a", "out/a/", "..", "out\\a", "sbom/\x00"):
        assert safe_name(bad) is not None, bad


def test_sbom_time_and_serial_come_from_the_image() -> None:
    scan: dict[str, Any] = {
        "serialNumber": "urn:uuid:random",
        "metadata": {"timestamp": "2026-12-02T03:00:00Z", "tools": {}},
    }
    one = canonical_sbom(json.loads(json.dumps(scan)), "sha256:" + "1" * 64, "2026-01-01T00:00:00Z")
    scan["metadata"]["timestamp"] = "2026-12-02T04:00:00Z"
    scan["serialNumber"] = "urn:uuid:other"
    two = canonical_sbom(scan, "sha256:" + "1" * 64, "2026-01-01T00:00:00Z")
    assert one == two
    assert json.loads(one)["metadata"]["timestamp"] == "2026-01-01T00:00:00Z"
    assert "timestamp" not in json.loads(canonical_sbom(scan, "sha256:" + "1" * 64, None))["metadata"]


def test_a_huge_record_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """A pax record claiming gigabytes: tarfile would read it whole into memory; the bound stops it."""
    members = _tree(tmp_path / "src")
    archive = tmp_path / "a.tar"
    write_archive(archive, _manifest(members), None, members)
    data = bytearray(archive.read_bytes())
    pax = tarfile.TarInfo("././@PaxHeader")
    pax.type = tarfile.XHDTYPE
    pax.size = 1 << 40
    header = pax.tobuf(format=tarfile.GNU_FORMAT)  # base-256 size field
    first_end = 512 + ((len(_manifest(members)) + 511) // 512) * 512
    archive.write_bytes(bytes(data[:first_end]) + header + bytes(data[first_end:]))
    with pytest.raises(ArchiveError, match="header record of 1099511627776 bytes"):
        unpack(archive, tmp_path / "x", max_bytes=1 << 20)


def test_a_cached_sbom_is_used_whole_and_scanned_again_when_cut_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from generator.airgap import export
    from generator.apply.outdir import Image

    scans: list[str] = []
    scanned = {"bomFormat": "CycloneDX", "components": [{"name": "numpy", "version": "2.0"}]}
    document = canonical_sbom(scanned, "sha256:" + "2" * 64, None)

    def scan(*_: Any) -> bytes:
        scans.append("scan")
        return document

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(export, "syft", lambda: str(Path(__file__)))  # any file: the key stats it
    monkeypatch.setattr(export, "_scan", scan)
    image = Image("m", "predict", tmp_path, "Dockerfile.predict", "r.example/aiar/m-predict:abc")
    descriptor = {"digest": "sha256:" + "2" * 64}

    def sbom() -> bytes:
        return export.sbom(None, tmp_path, image, descriptor, tmp_path / "work")  # type: ignore[arg-type]

    assert sbom() == document
    assert scans == ["scan"]  # scanned, then cached
    assert sbom() == document
    assert scans == ["scan"]  # from the cache
    (cached,) = (tmp_path / "cache" / "aiar" / "sbom").glob("*.cdx.json")
    inner = document.index(b"}\n") + 2  # cut right after an inner object: still "{...}\n"
    for cut in (len(document) // 2, inner, len(document) - 1):
        cached.write_bytes(document[:cut])
        before = len(scans)
        assert sbom() == document
        assert len(scans) == before + 1  # cut short: scanned again, and cached whole
        assert cached.read_bytes() == document
