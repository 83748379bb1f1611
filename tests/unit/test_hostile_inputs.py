"""Values and archives that are well-formed but cannot be carried into out/ are refused up front.

Each is a located problem (``file:line:col: pointer: message`` for manifest values, the entry's name
for bundle files), exit code 1 and nothing written: never an internal error, never a generated file
that is invalid JSON or cannot be checked out.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import unicodedata
import zipfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from generator import bundle as bundle_module
from generator.bundle import read_bundle
from generator.cli import main
from generator.errors import BundleError
from generator.jsonpos import parse_json
from tests.conftest import REPO, MakeBundle
from tests.helpers import minimal_manifest

PREDICT = b"def predict(model, x):\n    return x\n"
MANIFEST = json.dumps(minimal_manifest()).encode()
PLACEHOLDER = '"@value@"'


def generate(bundle: Path, env_file: Path, tmp_path: Path) -> tuple[int, str]:
    out, lock = tmp_path / "out", tmp_path / "aiar.lock"
    result = CliRunner().invoke(
        main, ["generate", str(bundle), "--env", str(env_file), "--lock", str(lock), "--out", str(out)]
    )
    assert "internal error" not in result.stderr
    if result.exit_code != 0:
        assert not out.exists(), "a refused bundle must write nothing"
        assert not lock.exists(), "a refused bundle must write nothing"
    return result.exit_code, result.stderr


def manifest_with(raw: str, **overrides: Any) -> tuple[str, int, int]:
    """A manifest whose one placeholder is replaced by raw JSON text, and the line:col of that text."""
    text = json.dumps(minimal_manifest(**overrides), indent=2)
    offset = text.index(PLACEHOLDER)
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return text.replace(PLACEHOLDER, raw), line, col


def python_payload(hyperparameters: dict[str, Any]) -> dict[str, Any]:
    return {"type": "PYTHON", "payload": {"dependencies": [], "hyperparameters": hyperparameters}}


# --- manifest values ---------------------------------------------------------------------------------

UNREPRESENTABLE = [
    ("5000-digit integer", "1" * 5000, "does not fit in 64 bits"),
    ("25-digit integer", "1" * 25, "does not fit in 64 bits"),
    ("2**63", str(2**63), "does not fit in 64 bits"),
    ("below -2**63", str(-(2**63) - 1), "does not fit in 64 bits"),
    ("overflowing float", "1e400", "beyond the range of a double"),
    ("overflowing negative float", "-1.5e999", "beyond the range of a double"),
    ("lone high surrogate", '"\\ud800"', "lone UTF-16 surrogate"),
    ("lone low surrogate", '"ok \\uDC00"', "lone UTF-16 surrogate"),
    ("reversed pair", '"\\ude00\\ud83d"', "lone UTF-16 surrogate"),
]


@pytest.mark.parametrize(("case", "raw", "message"), UNREPRESENTABLE, ids=[u[0] for u in UNREPRESENTABLE])
def test_unrepresentable_hyperparameter_is_located(
    case: str, raw: str, message: str, make_bundle: MakeBundle, env_file: Path, tmp_path: Path
) -> None:
    text, line, col = manifest_with(raw, modelData=python_payload({"h": "@value@"}))
    code, stderr = generate(make_bundle(text), env_file, tmp_path)
    assert code == 1
    assert f"manifest.json:{line}:{col}: /modelData/payload/hyperparameters/h: " in stderr
    assert message in stderr


def test_lone_surrogate_in_description_is_located(make_bundle: MakeBundle, env_file: Path, tmp_path: Path) -> None:
    text, line, col = manifest_with('"caf\\u00e9 \\ud800"', description="@value@")
    code, stderr = generate(make_bundle(text), env_file, tmp_path)
    assert code == 1
    assert f"manifest.json:{line}:{col}: /description: the string holds a lone UTF-16 surrogate" in stderr


def test_lone_surrogate_in_a_key_is_located_with_a_printable_pointer(
    make_bundle: MakeBundle, env_file: Path, tmp_path: Path
) -> None:
    text, line, col = manifest_with('{"\\udfff": 1}', modelData=python_payload({"h": "@value@"}))
    code, stderr = generate(make_bundle(text), env_file, tmp_path)
    assert code == 1
    assert f"manifest.json:{line}:{col + 1}: /modelData/payload/hyperparameters/h/\\udfff: the key holds" in stderr


def test_every_refused_value_is_reported_at_once(make_bundle: MakeBundle, env_file: Path, tmp_path: Path) -> None:
    text, _, _ = manifest_with(
        '[1e400, "\\ud800", 99999999999999999999999]', modelData=python_payload({"h": "@value@"})
    )
    code, stderr = generate(make_bundle(text), env_file, tmp_path)
    assert code == 1
    for i in range(3):
        assert f"/modelData/payload/hyperparameters/h/{i}: " in stderr


def test_the_limits_themselves_are_accepted(make_bundle: MakeBundle, env_file: Path, tmp_path: Path) -> None:
    raw = f'[{2**63 - 1}, {-(2**63)}, 1.7976931348623157e308, 1e-400, "\\ud83d\\ude00"]'
    text, _, _ = manifest_with(raw, modelData=python_payload({"h": "@value@"}))
    code, stderr = generate(make_bundle(text), env_file, tmp_path)
    assert code == 0, stderr


@pytest.mark.parametrize(
    "text", ['{"a": [1e400]}', '{"a": [1e400], "pair": "\\ud83d\\ude00"}'], ids=["fast path", "careful reader"]
)
def test_the_fast_path_refuses_what_the_reader_refuses(text: str) -> None:
    # the second document's escaped pair sends it straight to the careful reader
    parsed = parse_json(text)
    assert [(r.pointer, r.line, r.col) for r in parsed.refused] == [("/a/0", 1, 8)]


def docker_layers_bundle(tmp_path: Path, openapi: str | None, inline: str | None = None) -> Path:
    """The greeting-service example, with its named openapi.json or an inline document replaced."""
    root = tmp_path / "greeting"
    shutil.copytree(REPO / "bundles" / "greeting-service", root)
    if openapi is not None:
        (root / "openapi.json").write_text(openapi, encoding="utf-8")
    if inline is not None:
        manifest = json.loads((root / "manifest.json").read_text())
        manifest["modelData"]["payload"]["openapi"] = "@value@"
        (root / "manifest.json").write_text(json.dumps(manifest, indent=2).replace(PLACEHOLDER, inline))
    return root


def test_the_greeting_service_itself_generates(env_file: Path, tmp_path: Path) -> None:
    code, stderr = generate(docker_layers_bundle(tmp_path, None), env_file, tmp_path)
    assert code == 0, stderr


def test_inline_openapi_document_is_checked(env_file: Path, tmp_path: Path) -> None:
    inline = '{"paths": {"/x": {"get": {"responses": {"200": {"description": "up"}}, "x-max": 1e400}}}}'
    code, stderr = generate(docker_layers_bundle(tmp_path, None, inline=inline), env_file, tmp_path)
    assert code == 1
    assert "manifest.json:" in stderr
    assert "/modelData/payload/openapi/paths/~1x/get/x-max: number 1e400 is beyond the range" in stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1e400", "2:36: /paths/~1x/get/x-max: number 1e400 is beyond the range of a double"),
        ("NaN", "2:36: invalid JSON: unexpected character 'N'"),
        ('"\\ud800"', "2:36: /paths/~1x/get/x-max: the string holds a lone UTF-16 surrogate"),
    ],
)
def test_named_openapi_file_is_checked(value: str, message: str, env_file: Path, tmp_path: Path) -> None:
    document = '{"paths": {"/x": {"get": {\n"responses": {"200": {}}, "x-max": ' + value + "}}}}"
    code, stderr = generate(docker_layers_bundle(tmp_path, document), env_file, tmp_path)
    assert code == 1
    assert f"greeting/openapi.json:{message}" in stderr


# --- ZIP central directories, counted before zipfile parses them -------------------------------------

_EOCD = "<4s4H2LH"


def make_zip(path: Path, entries: list[tuple[str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return path


def good_entries() -> list[tuple[str, bytes]]:
    return [("manifest.json", MANIFEST), ("src/predict.py", PREDICT)]


def end_record(archive: bytes) -> tuple[int, int, int]:
    """Where the End Of Central Directory record is, and the central directory's size and offset."""
    at = len(archive) - struct.calcsize(_EOCD)
    signature, _, _, _, _, size, offset, comment = struct.unpack(_EOCD, archive[at:])
    assert signature == b"PK\x05\x06"
    assert comment == 0
    return at, size, offset


def with_zip64_end(archive: bytes, entries: int) -> bytes:
    """The archive with its end record replaced by ZIP64 end records that declare ``entries``."""
    at, size, offset = end_record(archive)
    record = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries, size, offset)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, at, 1)
    end = struct.pack(_EOCD, b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return archive[:at] + record + locator + end


def no_zip_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, opening an archive with zipfile fails the test: refusals must come before it."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("zipfile parsed the central directory of an archive that should have been refused")

    monkeypatch.setattr(zipfile, "ZipFile", refuse)


def test_too_many_entries_are_counted_before_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entries = good_entries() + [(f"src/f{i}", b"") for i in range(bundle_module.MAX_ENTRIES)]
    archive = make_zip(tmp_path / "many.zip", entries)
    no_zip_parsing(monkeypatch)
    with pytest.raises(BundleError, match=f"too many entries: {len(entries)} > {bundle_module.MAX_ENTRIES}"):
        read_bundle(archive)


def test_zip64_entry_count_is_read(tmp_path: Path) -> None:
    # The same ZIP64 end records with the true count are read by zipfile: the crafting is faithful.
    small = make_zip(tmp_path / "small.zip", good_entries()).read_bytes()
    honest = tmp_path / "honest.zip"
    honest.write_bytes(with_zip64_end(small, 2))
    assert read_bundle(honest).names() == ("manifest.json", "src/predict.py")


def test_a_million_entries_in_zip64_are_refused_unparsed(
    env_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = make_zip(tmp_path / "small.zip", good_entries()).read_bytes()
    archive = tmp_path / "million.zip"
    archive.write_bytes(with_zip64_end(small, 1_000_000))
    code, stderr = generate(archive, env_file, tmp_path)
    assert code == 1
    assert f"million.zip: too many entries: 1000000 > {bundle_module.MAX_ENTRIES}" in stderr
    no_zip_parsing(monkeypatch)
    with pytest.raises(BundleError, match="too many entries"):
        read_bundle(archive)


def test_a_central_directory_larger_than_its_count_claims_is_refused_unparsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bundle_module, "MAX_ENTRIES", 5)
    entries = good_entries() + [(f"src/{i:0100}", b"") for i in range(100)]
    data = make_zip(tmp_path / "liar.zip", entries).read_bytes()
    at, size, offset = end_record(data)
    assert size > 5 * bundle_module.MAX_CENTRAL_ENTRY_BYTES
    archive = tmp_path / "liar.zip"
    archive.write_bytes(data[:at] + struct.pack(_EOCD, b"PK\x05\x06", 0, 0, 2, 2, size, offset, 0))
    no_zip_parsing(monkeypatch)
    with pytest.raises(BundleError, match=f"central directory of {size} bytes is too large"):
        read_bundle(archive)


# --- entry names ---------------------------------------------------------------------------------------

NFC_E, NFD_E = unicodedata.normalize("NFC", "é"), unicodedata.normalize("NFD", "é")

BAD_NAMES = [
    ("case", ["src/a.py", "src/A.py"], "'src/a.py': 'src/a.py' and 'src/A.py' differ only in case"),
    ("case of a directory", ["SRC/b.py"], "'src/predict.py': 'src' and 'SRC' differ only in case"),
    ("normalisation", [f"src/caf{NFC_E}.py", f"src/caf{NFD_E}.py"], "differ only in case or Unicode normalisation"),
    ("control character", ["src/a\x01.py"], "'src/a\\x01.py': control characters are not allowed"),
    ("DEL", ["src/a\x7f.py"], "'src/a\\x7f.py': control characters are not allowed"),
    ("escape in a directory", ["src/\x1b[31m/x.py"], "'src/\\x1b[31m/x.py': control characters are not allowed"),
    ("newline", ["src/a\nb.py"], "'src/a\\nb.py': control characters are not allowed"),
    ("300-character name", ["src/" + "n" * 296 + ".py"], "a name in the path is longer than 255 bytes"),
    ("multi-byte name", ["src/" + NFC_E * 128], "a name in the path is longer than 255 bytes"),
    ("long path", ["src/" + "/".join(["d" * 200] * 6) + "/x.py"], "the path is longer than 1024 bytes"),
]


@pytest.mark.parametrize(("case", "names", "message"), BAD_NAMES, ids=[b[0] for b in BAD_NAMES])
def test_zip_entry_names_that_cannot_be_checked_out_are_refused(
    case: str, names: list[str], message: str, env_file: Path, tmp_path: Path
) -> None:
    archive = make_zip(tmp_path / "names.zip", good_entries() + [(name, b"x = 1\n") for name in names])
    code, stderr = generate(archive, env_file, tmp_path)
    assert code == 1
    assert message in stderr


def test_zip_directory_entry_with_control_characters_is_refused(env_file: Path, tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "dir.zip", [*good_entries(), ("src/\x07bell/", b"")])
    code, stderr = generate(archive, env_file, tmp_path)
    assert code == 1
    assert "'src/\\x07bell/': control characters are not allowed" in stderr


def test_zip_entry_name_with_nul_is_refused(env_file: Path, tmp_path: Path) -> None:
    # zipfile cuts names at NUL when writing and when reading: the name is patched into the archive.
    data = make_zip(tmp_path / "nul.zip", [*good_entries(), ("src/manifest.json", b"{}")]).read_bytes()
    archive = tmp_path / "nul.zip"
    archive.write_bytes(data.replace(b"src/manifest.json", b"manifest.json\x00.py"))
    code, stderr = generate(archive, env_file, tmp_path)
    assert code == 1
    assert "'manifest.json\\x00.py': control characters are not allowed" in stderr


DIR_BAD_NAMES = [
    *(b for b in BAD_NAMES if b[0] in ("case", "case of a directory", "normalisation", "newline")),
    ("escape in a directory", ["src/\x1b[31m/x.py"], "'src/\\x1b[31m': control characters are not allowed"),
]


@pytest.mark.parametrize(("case", "names", "message"), DIR_BAD_NAMES, ids=[b[0] for b in DIR_BAD_NAMES])
def test_directory_entry_names_that_cannot_be_checked_out_are_refused(
    case: str, names: list[str], message: str, make_bundle: MakeBundle, env_file: Path, tmp_path: Path
) -> None:
    root = make_bundle(minimal_manifest(), files={"src/predict.py": PREDICT, **dict.fromkeys(names, "x = 1\n")})
    code, stderr = generate(root, env_file, tmp_path)
    assert code == 1
    assert message in stderr


def test_directory_bundle_with_a_long_path_is_refused(make_bundle: MakeBundle, env_file: Path, tmp_path: Path) -> None:
    deep = "src/" + "/".join(["d" * 200] * 6) + "/x.py"
    code, stderr = generate(
        make_bundle(minimal_manifest(), files={"src/predict.py": PREDICT, deep: ""}), env_file, tmp_path
    )
    assert code == 1
    assert "the path is longer than 1024 bytes" in stderr


def test_directory_bundle_with_a_name_that_is_not_utf8_is_refused(
    make_bundle: MakeBundle, env_file: Path, tmp_path: Path
) -> None:
    root = make_bundle(minimal_manifest())
    (root / "src" / os.fsdecode(b"caf\xe9.py")).write_bytes(b"")
    code, stderr = generate(root, env_file, tmp_path)
    assert code == 1
    assert "'src/caf\\udce9.py': names must be UTF-8" in stderr


def test_repeated_zip_entries_are_named(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="Duplicate name"):
        archive = make_zip(tmp_path / "twice.zip", [*good_entries(), ("src/predict.py", PREDICT)])
    with pytest.raises(BundleError, match=re.escape("'src/predict.py': the bundle has duplicate entries")):
        read_bundle(archive)
