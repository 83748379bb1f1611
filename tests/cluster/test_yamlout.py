"""The one YAML writer: what it writes, every YAML reader reads back exactly (1.2 and 1.1)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml as pyyaml  # YAML 1.1, like go-yaml under kubectl: the stricter test for quoting
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from generator.yamlout import dump

RUAMEL = YAML(typ="safe", pure=True)

# Any Unicode scalar except surrogates (not encodable as UTF-8, so never in a file).
text = st.text(st.characters(codec="utf-8"), max_size=30)
tricky = st.sampled_from(
    [
        "no",
        "on",
        "y",
        "N",
        "Yes",
        "true",
        "False",
        "null",
        "~",
        "1.0",
        "08:00",
        "1e3",
        "0x1F",
        "010",
        ".inf",
        "-",
        "- a",
        "a: b",
        "a #b",
        "#c",
        "=",
        "<<",
        "*a",
        "&a",
        "!t",
        "%x",
        "@x",
        "`x",
        "'q'",
        '"q"',
        "",
        " lead",
        "trail ",
        "a\n",
        "a\nb\n",
        "\nx\n",
        "a\n\n",
        "  x\n y\n",
        "x\r\n",
        "\t",
        "{}",
        "[]",
        "---",
        "...",
        "2001-12-14",
        "1_000",
        "+1",
        "0o7",
        ".5",
        "Quality Classifier",
        "/v2/health",
        "a:b",
        "registry:5000/x:y",
    ]
)
scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63) | text | tricky
keys = text | tricky
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=25,
)


def roundtrip(data: Any) -> None:
    written = dump(data)
    assert RUAMEL.load(written) == data, written
    assert pyyaml.safe_load(written) == data, written


@settings(max_examples=400, deadline=None)
@given(documents)
def test_any_document_reads_back_identically(data: Any) -> None:
    roundtrip(data)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(keys, documents, max_size=6))
def test_mappings_read_back_identically(data: dict[str, Any]) -> None:
    roundtrip(data)


def test_key_order_and_quoting() -> None:
    written = dump(
        {"spec": {"b": 1, "a": [{"z": "on", "y": "08:00"}]}, "metadata": {"name": "x"}, "kind": "K", "apiVersion": "v1"}
    )
    assert written == (
        'apiVersion: v1\nkind: K\nmetadata:\n  name: x\nspec:\n  a:\n    - "y": "08:00"\n      z: "on"\n  b: 1\n'
    )


def test_multiline_text_is_a_literal_block() -> None:
    assert dump({"f": '{\n  "a": 1\n}\n'}) == 'f: |\n  {\n    "a": 1\n  }\n'


def test_no_anchors_for_repeated_objects() -> None:
    shared = {"a": [1, 2]}
    written = dump({"x": shared, "y": shared})
    assert "&" not in written
    assert "*" not in written


def test_long_lines_are_not_folded() -> None:
    long = "word " * 100 + "end"
    assert dump({"k": long}).count("\n") == 1


@pytest.mark.parametrize("text", ["\ufffe", "a\uffffb", "line\n\ufffe\nline\n"])
def test_characters_yaml_forbids_are_escaped(text: str) -> None:
    """U+FFFE and U+FFFF may not appear in a YAML stream at all: written as escapes, read back as is."""
    roundtrip({text: text})
