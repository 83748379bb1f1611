"""The fast paths of ``generate`` and of the model server's OIP codec agree with the careful paths
they stand in front of.

Each fast path (C JSON parser, cached YAML writer, hard-linked output files, whole-list tensor
checks) only handles what it is sure of and hands everything else to the code that was there before;
these tests pin that the results, errors and positions are the same either way.
"""

from __future__ import annotations

import json
import os
import stat
import types
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator import environment
from generator.errors import EnvironmentFileError
from generator.jsonpos import _Reader, parse_json
from generator.runtime import codec
from generator.writer import read_tree, write_tree
from generator.yamlout import dump

# --- JSON: the C parser first, the position-keeping reader when there is something to report ---------


def careful(text: str) -> tuple[Any, dict[str, tuple[int, int]], dict[str, tuple[int, int]]]:
    reader = _Reader(text)
    value, _ = reader.value(0, "", 0)
    return value, reader.positions.values, reader.positions.keys


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=15,
)


@settings(max_examples=300, deadline=None)
@given(json_values, st.sampled_from([None, 2]))
def test_json_fast_path_keeps_values_and_positions(value: Any, indent: int | None) -> None:
    text = json.dumps(value, indent=indent)
    parsed = parse_json(text)
    expected_value, expected_values, expected_keys = careful(text)
    assert parsed.value == expected_value
    assert parsed.duplicates == ()
    assert parsed.positions.values == expected_values
    assert parsed.positions.keys == expected_keys


@pytest.mark.parametrize(
    ("text", "pointers"),
    [
        ('{"a": 1, "b": {"c": 2, "c": 3}}', [("/b/c", 1, 24)]),
        ('[{"x": 1,\n  "x": 2}, {"x": 3}]', [("/0/x", 2, 3)]),
    ],
)
def test_json_duplicates_still_found_and_located(text: str, pointers: list[tuple[str, int, int]]) -> None:
    assert [(d.pointer, d.line, d.col) for d in parse_json(text).duplicates] == pointers


def test_json_what_the_standard_library_accepts_is_still_refused() -> None:
    from generator.jsonpos import JsonSyntaxError

    for text in ("[NaN]", '{"a": -Infinity}', "[" * 70 + "]" * 70):
        with pytest.raises(JsonSyntaxError):
            parse_json(text)
    assert parse_json("[" * 64 + "]" * 64).value is not None


# --- The environment file (one reader, ruamel): errors keep their positions --------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("namespace: ns\nnamespace: other\n", ":2:1: invalid YAML"),
        ("namespace: NS\nregistry:\n  url: r\nbase_images:\n  python: p\n", ":1:12: /namespace"),
        ("namespace: ns\nregistry:\n  url: r\n  port: 1\nbase_images:\n  python: p\n", ":4:3: /registry/port"),
    ],
)
def test_environment_errors_keep_their_positions(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "env.yaml"
    path.write_text(text)
    with pytest.raises(EnvironmentFileError) as info:
        environment.load_environment(path)
    rendered = [p.render().split("env.yaml", 1)[1] for p in info.value.problems]
    assert any(r.startswith(expected) for r in rendered), rendered


# --- YAML writer: caches and fast paths keep the output and the refusals ------------------------------


class Text(str):
    pass


def test_yaml_other_types_are_written_as_before() -> None:
    document: dict[str, Any] = {
        "t": ("a", 1),
        "m": types.MappingProxyType({"k": [True, None]}),
        "s": Text("a\nb\n"),
        "l": [Text("on"), ("x",), False, {}, []],
    }
    assert dump(document) == (
        'l:\n  - "on"\n  - - x\n  - false\n  - {}\n  - []\nm:\n  k:\n    - true\n    - null\n'
        's: "a\\nb\\n"\nt:\n  - a\n  - 1\n'
    )


def test_yaml_key_checks_survive_the_shape_cache() -> None:
    assert dump({"a": 1}) == "a: 1\n"
    with pytest.raises(TypeError):
        dump({Text("a"): 1})
    with pytest.raises(TypeError):
        dump({1: 1})  # type: ignore[dict-item, unused-ignore]


# --- Writing: unchanged files hard-linked from the previous output ------------------------------------


def inode(path: Path) -> int:
    return path.stat().st_ino


def test_rewrite_links_unchanged_files_and_writes_the_rest(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = {"index.json": b"{}", "a/same.txt": b"same", "a/changed.txt": b"old", "gone.txt": b"x", "e": b""}
    write_tree(out, first)
    same, changed, empty = inode(out / "a/same.txt"), inode(out / "a/changed.txt"), inode(out / "e")
    second = {"index.json": b"{}", "a/same.txt": b"same", "a/changed.txt": b"new", "b/c/new.txt": b"n", "e": b""}
    write_tree(out, second)
    assert read_tree(out) == second
    assert inode(out / "a/same.txt") == same
    assert inode(out / "e") == empty
    assert inode(out / "a/changed.txt") != changed
    for path in out.rglob("*"):
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode == (0o755 if path.is_dir() else 0o644)
        assert path.is_dir() or path.stat().st_nlink == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_rewrite_does_not_reuse_odd_files(tmp_path: Path) -> None:
    out, outside = tmp_path / "out", tmp_path / "outside"
    files = {"index.json": b"{}", "mode.txt": b"m", "linked.txt": b"l", "via/link.txt": b"v", "sym.txt": b"s"}
    write_tree(out, files)
    os.chmod(out / "mode.txt", 0o600)
    os.link(out / "linked.txt", tmp_path / "extra-link")
    outside.mkdir()
    (outside / "link.txt").write_bytes(b"v")
    os.chmod(outside / "link.txt", 0o644)
    for path in (out / "via" / "link.txt", out / "via"):
        path.unlink() if path.is_file() else path.rmdir()
    (out / "via").symlink_to(outside)
    (out / "sym.txt").unlink()
    (out / "sym.txt").symlink_to(outside / "link.txt")
    before = {name: inode(outside / "link.txt") for name in ("via/link.txt", "sym.txt")}
    before |= {"mode.txt": inode(out / "mode.txt"), "linked.txt": inode(out / "linked.txt")}
    write_tree(out, files)
    assert read_tree(out) == files
    for name, old in before.items():
        path = out / name
        assert not path.is_symlink(), name
        assert inode(path) != old, name
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        assert path.stat().st_nlink == 1
    assert (tmp_path / "extra-link").read_bytes() == b"l"


# --- the OIP codec: whole-list checks in C before the element-by-element ones -------------------------

elements = st.lists(
    st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([2**64, -(2**63) - 1, 10**400, 255, 256, -1, 65504, 3.5e38])
    | st.floats()
    | st.text(max_size=2)
    | st.none(),
    max_size=6,
)


@given(st.sampled_from(sorted(codec.NUMERIC_DATATYPES)), elements)
@settings(max_examples=600, deadline=None)
def test_a_tensor_the_whole_list_checks_pass_passes_every_element_check(datatype: str, flat: list[Any]) -> None:
    if codec._plainly_valid(datatype, flat):
        codec._check_each("x", datatype, flat)  # raises if the fast path let through what it may not


@given(st.sampled_from(sorted(codec.NUMERIC_DATATYPES)), elements)
@settings(max_examples=300, deadline=None)
def test_check_numbers_refuses_exactly_what_the_element_checks_refuse(datatype: str, flat: list[Any]) -> None:
    def outcome(check: Any) -> str | None:
        try:
            check("x", datatype, flat)
        except codec.RequestError as exc:
            return str(exc)
        return None

    assert outcome(codec.check_numbers) == outcome(codec._check_each)


@given(json_values)
def test_flatten_gives_the_leaves_in_order_with_or_without_nesting(value: Any) -> None:
    flat = codec.flatten(value)
    expected: list[Any] = []

    def leaves(item: Any) -> None:
        if isinstance(item, list):
            for inner in item:
                leaves(inner)
        else:
            expected.append(item)

    leaves(value)
    assert flat == expected


@given(st.integers(min_value=0, max_value=5), st.integers(min_value=0, max_value=5))
def test_reshape_of_a_batch_of_rows_matches_the_general_reshape(rows: int, columns: int) -> None:
    flat = list(range(rows * columns))
    general = [flat[i * columns : (i + 1) * columns] for i in range(rows)]
    assert codec.reshape(flat, [rows, columns]) == general
    assert len({id(row) for row in codec.reshape(flat, [rows, columns])}) == rows, "every row its own list"
    assert codec.reshape(flat, [1, rows, columns]) == [general]
