"""The JSON body parser: lone surrogates (sent as \\ud800 escapes) become U+FFFD wherever they are, at any depth the
JSON decoder accepts; everything else is exactly what json.loads gives."""

from __future__ import annotations

import json

from ragsite.parsers import json_loads_strict


def test_lone_surrogates_in_keys_values_and_nested_lists_are_replaced():
    text = json.dumps({"a\ud800": ["x\udfff", {"deep": ["\ud800"]}], "pair": "😀", "n": 1})

    assert json_loads_strict(text) == {"a\ufffd": ["x\ufffd", {"deep": ["\ufffd"]}], "pair": "😀", "n": 1}


def test_an_escaped_backslash_before_u_is_text_not_a_surrogate():
    assert json_loads_strict(r'{"path": "C:\\ud800"}') == {"path": "C:\\ud800"}


def test_a_deeply_nested_body_with_a_surrogate_parses_as_deep_as_without_one():
    depth = 900
    plain = "[" * depth + '"x"' + "]" * depth
    with_surrogate = "[" * depth + '"\\ud800"' + "]" * depth

    value = json_loads_strict(with_surrogate)

    assert json_loads_strict(plain) is not None
    for _ in range(depth):
        (value,) = value
    assert value == "\ufffd"
