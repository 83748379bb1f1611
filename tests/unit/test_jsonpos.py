"""The position-keeping JSON reader agrees with the standard library and knows where things are."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from generator.jsonpos import JsonSyntaxError, parse_json

INT64 = st.integers(-(2**63), 2**63 - 1)  # what the reader reads; larger integers are refused
values = st.recursive(
    st.none() | st.booleans() | INT64 | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)


@given(values, st.sampled_from([None, 2]))
def test_agrees_with_the_standard_library(value: Any, indent: int | None) -> None:
    text = json.dumps(value, indent=indent)
    assert parse_json(text).value == json.loads(text)


def test_positions_of_keys_and_values() -> None:
    text = '{\n  "a": {"b/c": [10, {"d~": true}]},\n  "e": "x"\n}'
    parsed = parse_json(text)
    assert parsed.positions.keys["/a"] == (2, 3)
    assert parsed.positions.keys["/a/b~1c"] == (2, 9)
    assert parsed.positions.values["/a/b~1c/1"] == (2, 21)
    assert parsed.positions.keys["/a/b~1c/1/d~0"] == (2, 22)
    assert parsed.positions.of("/e") == (3, 3)
    assert parsed.positions.of("/e", value_first=True) == (3, 8)
    assert parsed.positions.of("/a/zzz") == (2, 3), "a missing member is placed at its parent"


def test_duplicates_are_reported_with_the_second_position() -> None:
    parsed = parse_json('{"a": 1,\n "a": 2}')
    assert parsed.value == {"a": 2}
    assert [(d.pointer, d.line, d.col) for d in parsed.duplicates] == [("/a", 2, 2)]


@pytest.mark.parametrize(
    ("text", "line", "col"),
    [
        ("", 1, 1),
        ('{"a": 1,}', 1, 9),
        ("[1 2]", 1, 4),
        ('{"a": NaN}', 1, 7),
        ('"unterminated', 1, 1),
        ("{'a': 1}", 1, 2),
        ("[" * 100 + "]" * 100, 1, 66),
    ],
)
def test_syntax_errors_have_positions(text: str, line: int, col: int) -> None:
    with pytest.raises(JsonSyntaxError) as info:
        parse_json(text)
    assert (info.value.line, info.value.col) == (line, col)


@given(st.integers(2**63, 10**30) | st.integers(-(10**30), -(2**63) - 1), st.sampled_from([None, 2]))
def test_integers_beyond_64_bits_are_refused_not_read(number: int, indent: int | None) -> None:
    parsed = parse_json(json.dumps({"a": [number]}, indent=indent))
    assert parsed.value == {"a": [None]}
    assert [r.pointer for r in parsed.refused] == ["/a/0"]
