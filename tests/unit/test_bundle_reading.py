"""Hostile bundles are refused before anything is written (property 7)."""

from __future__ import annotations

import json
import os
import stat
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator import bundle as bundle_module
from generator.bundle import read_bundle
from generator.cli import main
from generator.errors import BundleError
from tests.helpers import minimal_manifest

MANIFEST = json.dumps(minimal_manifest()).encode()
PREDICT = b"def predict(model, x):\n    return x\n"


def make_zip(path: Path, entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for info, data in entries:
            archive.writestr(info, data)
    return path


def good_entries() -> list[tuple[zipfile.ZipInfo | str, bytes]]:
    return [("manifest.json", MANIFEST), ("src/predict.py", PREDICT)]


def generate(bundle: Path, env_file: Path, tmp_path: Path) -> tuple[int, str]:
    out, lock = tmp_path / "out", tmp_path / "aiar.lock"
    result = CliRunner().invoke(
        main, ["generate", str(bundle), "--env", str(env_file), "--lock", str(lock), "--out", str(out)]
    )
    if result.exit_code != 0:
        assert not out.exists()
        assert not lock.exists()
    return result.exit_code, result.stderr


def symlink_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def device_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFCHR | 0o600) << 16
    return info


HOSTILE = [
    ("dot-dot", [("../evil.py", b"x")], "'..' is not allowed"),
    ("nested dot-dot", [("src/../../evil.py", b"x")], "'..' is not allowed"),
    ("absolute", [("/etc/passwd", b"x")], "absolute paths are not allowed"),
    ("windows drive", [("C:/evil.py", b"x")], "absolute paths are not allowed"),
    ("backslash", [("src\\..\\evil.py", b"x")], "backslashes"),
    ("symlink", [(symlink_info("src/link"), b"/etc/passwd")], "symlinks are not allowed"),
    ("device", [(device_info("src/dev"), b"")], "only regular files are allowed"),
]


@pytest.mark.parametrize(("case", "extra", "message"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_zip_is_refused(
    case: str, extra: list[tuple[zipfile.ZipInfo | str, bytes]], message: str, env_file: Path, tmp_path: Path
) -> None:
    archive = make_zip(tmp_path / "bundle.zip", good_entries() + extra)
    code, stderr = generate(archive, env_file, tmp_path)
    assert code == 1
    assert message in stderr


def test_zip_bomb_is_refused_by_ratio(env_file: Path, tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "bomb.zip", [*good_entries(), ("src/zeros.bin", bytes(50 * 1024 * 1024))])
    code, stderr = generate(archive, env_file, tmp_path)
    assert code == 1
    assert "compression ratio over" in stderr


def test_uncompressed_total_is_bounded(env_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundle_module, "MAX_TOTAL_BYTES", 1000)
    archive = make_zip(tmp_path / "big.zip", [*good_entries(), ("src/data.bin", os.urandom(2000))])
    code, stderr = generate(archive, env_file, tmp_path)
    assert code == 1
    assert "uncompressed size" in stderr


def test_too_many_entries(env_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundle_module, "MAX_ENTRIES", 5)
    entries = good_entries() + [(f"src/f{i}.py", b"") for i in range(10)]
    code, stderr = generate(make_zip(tmp_path / "many.zip", entries), env_file, tmp_path)
    assert code == 1
    assert "too many entries: 12 > 5" in stderr


def test_lying_size_header_is_caught(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "liar.zip", good_entries())
    data = bytearray(archive.read_bytes())
    # Shrink the uncompressed size recorded in the central directory of src/predict.py.
    central = data.rfind(b"PK\x01\x02")
    while central != -1:
        name_len = int.from_bytes(data[central + 28 : central + 30], "little")
        name = bytes(data[central + 46 : central + 46 + name_len])
        if name == b"src/predict.py":
            data[central + 24 : central + 28] = (3).to_bytes(4, "little")
        central = data.rfind(b"PK\x01\x02", 0, central)
    archive.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"size differs from its header|cannot be read"):
        read_bundle(archive)


def test_not_a_zip(env_file: Path, tmp_path: Path) -> None:
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"this is not a zip")
    code, stderr = generate(fake, env_file, tmp_path)
    assert code == 1
    assert "not a readable ZIP file" in stderr


def test_missing_manifest(env_file: Path, tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "nomanifest.zip", [("src/predict.py", PREDICT)])
    code, stderr = generate(archive, env_file, tmp_path)
    assert code == 1
    assert "manifest.json is missing at the bundle root" in stderr


def test_directory_symlink_and_fifo_are_refused(env_file: Path, tmp_path: Path) -> None:
    root = tmp_path / "dirbundle"
    (root / "src").mkdir(parents=True)
    (root / "manifest.json").write_bytes(MANIFEST)
    (root / "src" / "predict.py").write_bytes(PREDICT)
    (root / "src" / "link.py").symlink_to("/etc/passwd")
    os.mkfifo(root / "src" / "pipe")
    code, stderr = generate(root, env_file, tmp_path)
    assert code == 1
    assert "'src/link.py': symlinks are not allowed" in stderr
    assert "'src/pipe': only regular files are allowed" in stderr


def test_zip_with_single_top_folder_and_junk(env_file: Path, tmp_path: Path) -> None:
    entries: list[tuple[zipfile.ZipInfo | str, bytes]] = [
        ("model/manifest.json", MANIFEST),
        ("model/src/predict.py", PREDICT),
        ("model/src/__pycache__/predict.cpython-311.pyc", b"junk"),
        ("model/.DS_Store", b"junk"),
    ]
    source = read_bundle(make_zip(tmp_path / "folder.zip", entries))
    assert source.names() == ("manifest.json", "src/predict.py")


def test_zip_and_directory_bundles_have_the_same_digest(tmp_path: Path) -> None:
    root = tmp_path / "dir"
    (root / "src").mkdir(parents=True)
    (root / "manifest.json").write_bytes(MANIFEST)
    (root / "src" / "predict.py").write_bytes(PREDICT)
    archive = make_zip(tmp_path / "same.zip", good_entries())
    assert read_bundle(root).digest() == read_bundle(archive).digest()
