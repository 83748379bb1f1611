"""A hostile environment file, or hostile files named by it, give located problems: never a hang, an
exhausted memory, an internal error, or a credential carried into the generated files.

No timing is asserted: a test that would hang or exhaust memory without the bounds it checks simply
never finishes; with them each of these is read in well under a second.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli import main
from generator.environment import load_environment
from generator.envread import MAX_CA_BUNDLE_BYTES, MAX_ENVIRONMENT_BYTES, MAX_LAYER_FILE_BYTES
from generator.errors import EnvironmentFileError
from tests.conftest import EXAMPLE_ENV, REPO, MakeBundle
from tests.helpers import minimal_manifest

BASE = "namespace: ns\nregistry:\n  url: r.example\nbase_images:\n  python: python:3.11\n"  # 5 lines
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def env_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "env.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    """The problems of loading ``path``, each rendered without the file's name."""
    with pytest.raises(EnvironmentFileError) as info:
        load_environment(path)
    return [p.render().split(path.name, 1)[1] for p in info.value.problems]


def problems(tmp_path: Path, text: str) -> list[str]:
    return problems_of(env_file(tmp_path, text))


def sparse_file(path: Path, size: int, head: bytes = b"") -> Path:
    """A file of ``size`` bytes that takes no room on disk."""
    with path.open("wb") as f:
        f.write(head)
        f.truncate(size)
    return path


# --- (A) no credentials anywhere in a URL: not in the user part, the query or the fragment ----------


@pytest.mark.parametrize(
    ("extra", "expected", "secret"),
    [
        ("pip:\n  index_url: https://pypi.example/simple?token=abc123\n", ":7:14: /pip/index_url:", "abc123"),
        ("pip:\n  index_url: https://pypi.example/simple#user:pa55\n", ":7:14: /pip/index_url:", "pa55"),
        ("pip:\n  index_url: 'https://pypi.example/simple?'\n", ":7:14: /pip/index_url:", "?"),
        (
            "pip:\n  extra_index_urls:\n    - https://a.example/simple\n    - https://b.example/s?password=hunter2\n",
            ":9:7: /pip/extra_index_urls/1:",
            "hunter2",
        ),
        (
            "storage:\n  endpoint: http://s3.example:9000/?access_key=AKIA1&secret_key=s3cr3t\n  bucket: aiar\n",
            ":7:13: /storage/endpoint:",
            "s3cr3t",
        ),
        ("gateway:\n  admin_url: http://kong-admin:8001/#t0ken\n", ":7:14: /gateway/admin_url:", "t0ken"),
        ("data_processor:\n  url: http://dp.example/transform?api_key=k3y\n", ":7:8: /data_processor/url:", "k3y"),
    ],
)
def test_a_query_or_fragment_is_refused_where_it_is(tmp_path: Path, extra: str, expected: str, secret: str) -> None:
    [problem] = problems(tmp_path, BASE + extra)
    assert problem.startswith(f"{expected} must not have a query string or fragment"), problem
    assert "Secret or environment variable" in problem
    assert secret not in problem.split(":", 3)[3]  # the message never repeats what it refuses


@pytest.mark.parametrize("url", ["https://:@pypi.example/simple", "https://tok@pypi.example/simple"])
def test_any_user_part_is_refused(tmp_path: Path, url: str) -> None:
    [problem] = problems(tmp_path, BASE + f"pip:\n  index_url: '{url}'\n")
    assert problem.startswith(":7:14: /pip/index_url: must not contain credentials"), problem


def test_a_url_is_one_token(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, BASE + 'pip:\n  index_url: "https://pypi.example/simple\\nRUN curl x"\n')
    assert problem.startswith(":7:14: /pip/index_url: must not contain whitespace or control characters"), problem


@pytest.mark.parametrize("path", [EXAMPLE_ENV, REPO / "tests" / "fixtures" / "env-private.yaml"])
def test_the_repository_environments_still_load(path: Path) -> None:
    loaded = load_environment(path)
    assert loaded.env.namespace
    assert loaded.digest.startswith("sha256:")


# --- (B) YAML that would expand, recurse, build arbitrary types or convert slowly -----------------


def billion_laughs() -> str:
    """Ten anchors of nine aliases each: 10^9 strings once expanded, 1.6 KB written."""
    lines = ['lol0: &lol0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        aliases = ", ".join([f"*lol{level - 1}"] * 9)
        lines.append(f"lol{level}: &lol{level} [{aliases}]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_before_anything_is_built(tmp_path: Path) -> None:
    found = problems(tmp_path, BASE + billion_laughs())
    assert found[0] == ":6:7: /lol0: YAML anchor '&lol0' is not allowed; write the value out where it is needed"
    assert found[2] == ":7:14: /lol1/0: YAML alias '*lol0' is not allowed; write the value out"
    assert 1 < len(found) <= 10
    assert all("YAML anchor" in p or "YAML alias" in p for p in found)


def test_an_anchor_alone_is_refused(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, BASE.replace("namespace: ns", "namespace: &n ns"))
    assert problem.startswith(":1:12: /namespace: YAML anchor '&n' is not allowed"), problem


def test_a_merge_key_is_refused(tmp_path: Path) -> None:
    found = problems(tmp_path, BASE + "gateway: &g\n  host: a.example\ndata_processor:\n  <<: *g\n")
    assert found == [
        ":6:10: /gateway: YAML anchor '&g' is not allowed; write the value out where it is needed",
        ":9:7: /data_processor/<<: YAML alias '*g' is not allowed; write the value out",
    ]


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ('!!python/object/apply:os.system ["echo pwned"]', "tag:yaml.org,2002:python/object/apply:os.system"),
        ("!!python/name:os.system x", "tag:yaml.org,2002:python/name:os.system"),
        ("!!python/object/new:int [1]", "tag:yaml.org,2002:python/object/new:int"),
        ("!!binary aGk=", "tag:yaml.org,2002:binary"),
        ("!!str 5", "tag:yaml.org,2002:str"),
        ("!!map {a: 1}", "tag:yaml.org,2002:map"),
        ("!custom value", "!custom"),
        ("! value", "!"),
        ("!<tag:example.com,2000:x> value", "tag:example.com,2000:x"),
    ],
)
def test_any_explicit_tag_is_refused(tmp_path: Path, value: str, tag: str) -> None:
    [problem] = problems(tmp_path, BASE + f"gateway:\n  host: {value}\n")
    assert problem == f":7:9: /gateway/host: YAML tag '{tag}' is not allowed; an environment file holds plain values"


def test_tags_are_all_reported_and_a_tagged_document_too(tmp_path: Path) -> None:
    found = problems(tmp_path, "--- !!python/object:x.Y\n" + BASE + "gateway:\n  host: !h h\n  auth: !!str jwt\n")
    assert [p.split(": YAML tag")[0] for p in found] == [":1:5", ":8:9: /gateway/host", ":9:9: /gateway/auth"]


@pytest.mark.parametrize(("char", "name"), [("\0", "U+0000"), ("\x1b", "U+001B"), ("\x7f", "U+007F")])
def test_control_characters_are_refused_where_they_are(tmp_path: Path, char: str, name: str) -> None:
    found = problems(tmp_path, BASE + f"gateway:\n  host: a{char}b\n# and {char} in a comment\n")
    assert found == [
        f":7:10: character {name} is not allowed in YAML",
        f":8:7: character {name} is not allowed in YAML",
    ]


@pytest.mark.parametrize(
    ("nested", "where"),
    [
        ("[" * 50_000 + "]" * 50_000, ":6:67: /x" + "/0" * 63),
        ("{a: " * 50_000 + "}" * 50_000, ":6:256: /x" + "/a" * 63),
        (
            "\n" + "".join(" " * i + f"k{i}:\n" for i in range(1, 200)),
            ":70:65: /x" + "".join(f"/k{i}" for i in range(1, 64)),
        ),
        ("\n" + "- " * 200 + "a", ":7:127: /x" + "/0" * 63),
    ],
    ids=["flow sequences", "flow mappings", "block mappings", "block sequences"],
)
def test_nesting_is_bounded_before_anything_recurses(tmp_path: Path, nested: str, where: str) -> None:
    [problem] = problems(tmp_path, BASE + "x: " + nested + "\n")
    assert problem == f"{where}: nested deeper than 64 levels", problem[:200]


def test_nesting_up_to_the_bound_is_read(tmp_path: Path) -> None:
    # the document itself is one level: 63 more are allowed, and x is then just an unknown field
    assert problems(tmp_path, BASE + "x: " + "[" * 63 + "]" * 63 + "\n") == [":6:1: /x: unknown field"]


@pytest.mark.parametrize(
    "digits",
    ["5" * 5001, "-" + "5" * 5001, "0x" + "f" * 5001, "0o" + "7" * 50, "1_000_000_000_000_000_000", "1" + ":59" * 3000],
    ids=["decimal", "negative", "hex", "octal", "underscores", "base 60"],
)
def test_long_integers_are_refused_before_conversion(tmp_path: Path, digits: str) -> None:
    text = BASE + f"message_bus:\n  host: mq\n  port: {digits}\n"
    if ":" in digits:
        text = "%YAML 1.1\n---\n" + text  # base 60 integers are YAML 1.1's
    [problem] = problems(tmp_path, text)
    line = 10 if ":" in digits else 8
    assert (
        problem
        == f":{line}:9: /message_bus/port: integer of more than 18 digits; the numbers here are ports and limits"
    )


def test_integers_of_eighteen_digits_and_long_strings_are_read(tmp_path: Path) -> None:
    path = env_file(tmp_path, BASE + "gateway:\n  rate_limit_per_minute: 999999999999999999\n")
    assert load_environment(path).env.gateway.rate_limit_per_minute == 999_999_999_999_999_999
    # quoted digits are a string, not an integer: only the length limit of the field applies
    [problem] = problems(tmp_path, BASE.replace("ns", '"' + "5" * 5001 + '"', 1))
    assert problem.startswith(":1:12: /namespace: String should have at most 63 characters"), problem


def test_the_number_of_values_is_bounded(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, BASE + "x: [" + ", ".join(["1"] * 20_000) + "]\n")
    assert problem.endswith(": more than 10000 keys and values"), problem
    assert problem.startswith(":6:"), problem


# --- (B) the environment file itself: a regular file of bounded size --------------------------------


def test_a_file_past_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    for size in (MAX_ENVIRONMENT_BYTES + 1, 50 * 1024 * 1024):
        path = sparse_file(tmp_path / "env.yaml", size, BASE.encode())
        assert problems_of(path) == [f": cannot read: larger than {MAX_ENVIRONMENT_BYTES} bytes"]


def test_a_file_of_exactly_the_size_limit_is_read(tmp_path: Path) -> None:
    padding = MAX_ENVIRONMENT_BYTES - len(BASE) - 1
    path = env_file(tmp_path, BASE + "#" * padding + "\n")
    assert path.stat().st_size == MAX_ENVIRONMENT_BYTES
    assert load_environment(path).env.namespace == "ns"


def test_a_file_that_is_longer_than_it_says_is_read_no_further(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Files in /proc say they are empty, and a file may grow while it is read: the read is bounded anyway.
    path = env_file(tmp_path, BASE + "#" * MAX_ENVIRONMENT_BYTES + "\n")
    real_fstat = os.fstat

    def fstat_saying_empty(fd: int) -> os.stat_result:
        info = list(real_fstat(fd))
        info[6] = 0  # st_size
        return os.stat_result(info)

    monkeypatch.setattr("generator.envread.os.fstat", fstat_saying_empty)
    assert problems_of(path) == [f": cannot read: larger than {MAX_ENVIRONMENT_BYTES} bytes"]


def test_a_fifo_or_a_device_is_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "env.yaml"
    os.mkfifo(fifo)  # no writer: reading it would wait forever
    assert problems_of(fifo) == [": cannot read: not a regular file"]
    assert problems_of(Path("/dev/zero")) == [": cannot read: not a regular file"]


# --- (B) the files the environment names: regular files of bounded size, all problems at once ------


def ca_bundle_problems(tmp_path: Path, name: str) -> list[str]:
    return problems(tmp_path, BASE + f"build:\n  ca_bundle: {name}\n")


def test_a_ca_bundle_that_is_a_device_fifo_or_link_to_one_is_not_read(tmp_path: Path) -> None:
    assert ca_bundle_problems(tmp_path, "/dev/zero") == [
        ":7:14: /build/ca_bundle: cannot read /dev/zero: not a regular file"
    ]
    os.mkfifo(tmp_path / "ca.pem")
    assert ca_bundle_problems(tmp_path, "ca.pem") == [
        f":7:14: /build/ca_bundle: cannot read {tmp_path / 'ca.pem'}: not a regular file"
    ]
    (tmp_path / "link.pem").symlink_to("/dev/zero")
    assert ca_bundle_problems(tmp_path, "link.pem") == [
        f":7:14: /build/ca_bundle: cannot read {tmp_path / 'link.pem'}: not a regular file"
    ]


def test_a_ca_bundle_past_its_size_limit_is_refused(tmp_path: Path) -> None:
    sparse_file(tmp_path / "big.pem", MAX_CA_BUNDLE_BYTES + 1, PEM.encode())
    assert ca_bundle_problems(tmp_path, "big.pem") == [
        f":7:14: /build/ca_bundle: cannot read {tmp_path / 'big.pem'}: larger than {MAX_CA_BUNDLE_BYTES} bytes"
    ]
    sparse_file(tmp_path / "ok.pem", MAX_CA_BUNDLE_BYTES, PEM.encode())
    assert load_environment(env_file(tmp_path, BASE + "build:\n  ca_bundle: ok.pem\n")).ca_bundle is not None


@pytest.mark.parametrize("kind", ["fifo", "device", "too large"])
def test_a_layer_file_must_be_a_small_regular_file(tmp_path: Path, kind: str) -> None:
    layer = tmp_path / "base.dockerfile"
    if kind == "fifo":
        os.mkfifo(layer)
    elif kind == "too large":
        sparse_file(layer, MAX_LAYER_FILE_BYTES + 1, b"RUN true\n")
    name = "/dev/zero" if kind == "device" else str(layer)
    why = f"larger than {MAX_LAYER_FILE_BYTES} bytes" if kind == "too large" else "not a regular file"
    found = problems(tmp_path, BASE + f"layers:\n  base:\n    file: {name}\n")
    assert found == [f":8:11: /layers/base/file: cannot read {name}: {why}"]


def test_every_problem_of_the_named_files_is_reported_at_once(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "a.dockerfile")
    (tmp_path / "b.dockerfile").write_bytes(b"RUN \xff\n")
    (tmp_path / "c.dockerfile").write_text("RUN true\n")
    text = BASE + (
        "build:\n  ca_bundle: missing.pem\n"
        "layers:\n  a:\n    file: a.dockerfile\n  b:\n    file: b.dockerfile\n  c:\n    file: c.dockerfile\n"
    )
    assert problems(tmp_path, text) == [
        f":7:14: /build/ca_bundle: cannot read {tmp_path / 'missing.pem'}: No such file or directory",
        f":10:11: /layers/a/file: cannot read {tmp_path / 'a.dockerfile'}: not a regular file",
        f":12:11: /layers/b/file: cannot read {tmp_path / 'b.dockerfile'}: not UTF-8 text",
    ]


# --- (B) end to end: exit code 1 and located problems, never "internal error" ----------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (BASE + "x: !!python/object/apply:os.system [echo]\n", "env.yaml:6:4: /x: YAML tag"),
        (BASE + "x: a\0b\n", "env.yaml:6:5: character U+0000"),
        (BASE + "x: " + "[" * 50_000 + "\n", "env.yaml:6:67: /x/0"),
        (BASE + "message_bus:\n  host: mq\n  port: " + "5" * 5001 + "\n", "env.yaml:8:9: /message_bus/port: integer"),
        (BASE + billion_laughs(), "env.yaml:6:7: /lol0: YAML anchor"),
    ],
    ids=["tag", "NUL", "nesting", "long integer", "billion laughs"],
)
def test_validate_reports_them_as_problems(tmp_path: Path, make_bundle: MakeBundle, text: str, expected: str) -> None:
    bundle = make_bundle(minimal_manifest())
    env = env_file(tmp_path, text)
    result = CliRunner().invoke(
        main, ["validate", str(bundle), "--env", str(env), "--lock", str(tmp_path / "aiar.lock")]
    )
    assert result.exit_code == 1, result.output
    assert "internal error" not in result.output
    assert f"{env.parent}/{expected}" in result.output, result.output


def test_the_unprintable_pattern_is_exactly_the_complement_of_yaml_printable() -> None:
    """YAML 1.2 (5.1) printable: tab, LF, CR, x20-x7E, NEL, xA0-xD7FF, xE000-xFFFD, x10000-x10FFFF;
    the reader's pattern, written as the complement for speed, flags every other code point and no other."""
    from generator.envread import _UNPRINTABLE

    def printable(c: int) -> bool:
        return (
            c in (0x09, 0x0A, 0x0D, 0x85)
            or 0x20 <= c <= 0x7E
            or 0xA0 <= c <= 0xD7FF
            or 0xE000 <= c <= 0xFFFD
            or 0x10000 <= c <= 0x10FFFF
        )

    wrong = [c for c in range(0x110000) if (_UNPRINTABLE.match(chr(c)) is None) != printable(c)]
    assert wrong == []
