"""JSON text of any depth (router.json_text): the same compact text as orjson where orjson works, the same text
where it does not (deeper than its 254-level encoder or 1024-level parser), and a byte budget that stops building."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from router.json_text import TooLarge, dumps, minify

SHALLOW: list[Any] = [
    {"a": [1, 2.5, -0.0, True, False, None], "é": "ünï\u2028code", "q": 'say "hi"\\n'},
    [],
    {},
    "text",
    12345678901234567890.0,
    [[[]], {"": {}}],
]


def nested(depth: int, leaf: Any) -> Any:
    """`depth` levels of alternating objects and arrays around `leaf`, built without recursion."""
    value = leaf
    for level in range(depth):
        value = {"k": value} if level % 2 else [value]
    return value


def nested_text(depth: int, leaf: str) -> str:
    opens = "".join('{"k":' if level % 2 else "[" for level in reversed(range(depth)))
    closes = "".join("}" if level % 2 else "]" for level in range(depth))
    return opens + leaf + closes


@pytest.mark.parametrize("value", SHALLOW)
def test_dumps_is_orjson_for_what_orjson_encodes(value: Any) -> None:
    assert dumps(value, 10_000) == orjson.dumps(value)


@pytest.mark.parametrize("depth", [255, 1000, 1001, 5000])
def test_dumps_encodes_deeper_than_orjson(depth: int) -> None:
    value = nested(depth, {"leaf": [1, "x", None]})
    with pytest.raises(orjson.JSONEncodeError):
        orjson.dumps(value)  # why the fallback exists
    assert dumps(value, 1_000_000) == nested_text(depth, '{"leaf":[1,"x",null]}').encode()


def test_dumps_deep_wide_value_is_exact() -> None:
    value = nested(600, [{"n": n, "s": "é" * (n % 3)} for n in range(2_000)])
    expected = nested_text(600, orjson.dumps(value_leaf(value, 600)).decode()).encode()
    assert dumps(value, 10_000_000) == expected


def value_leaf(value: Any, depth: int) -> Any:
    for level in reversed(range(depth)):
        value = value["k"] if level % 2 else value[0]
    return value


def test_dumps_refuses_past_the_budget_shallow_and_deep() -> None:
    shallow = {"s": "x" * 1000}
    assert len(dumps(shallow, 1008)) == 1008
    with pytest.raises(TooLarge):
        dumps(shallow, 1007)
    with pytest.raises(TooLarge):
        dumps(nested(400, "x" * 1000), 1000)


def test_dumps_of_a_deep_value_hands_short_subtrees_to_orjson_and_stays_exact() -> None:
    # Wide parts under a deep spine: the spine costs Python steps, its short members are encoded by orjson whole.
    members = [{"n": n, "tags": ["a", "b"], "nested": {"x": [1.5, None]}} for n in range(500)]
    value = [members, nested(600, members)]
    text = orjson.dumps(members).decode()
    assert dumps(value) == f"[{text},{nested_text(600, text)}]".encode()


@pytest.mark.parametrize("value", SHALLOW)
def test_minify_is_orjson_for_what_orjson_parses(value: Any) -> None:
    spaced = orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    assert minify(spaced) == orjson.dumps(value).decode()


@pytest.mark.parametrize("depth", [1025, 3000])
def test_minify_handles_text_deeper_than_orjson_parses(depth: int) -> None:
    leaf = ' { "a" : [ 1 , 1E2 , "\\u00e9\\"]" , true , null , { } , [ ] ] } '
    text = nested_text(depth, leaf).replace(",", " ,\n ").replace(":", " : ")
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(text)  # why the fallback exists
    assert minify(text) == nested_text(depth, '{"a":[1,100.0,"é\\"]",true,null,{},[]]}')


@pytest.mark.parametrize(
    "leaf",
    [
        "[1,]",  # trailing comma
        '{"a" 1}',  # no colon
        '{"a":1,}',
        "{1:2}",  # a key that is no string
        "[1 2]",  # two values
        "01",  # leading zero
        "[tru]",
        '"unterminated',
        '"\x01"',  # a control character in a string
        "1e400",  # orjson refuses infinity, so the fallback does too
        "]",
    ],
)
def test_minify_refuses_what_is_not_json_at_any_depth(leaf: str) -> None:
    assert minify(leaf) is None
    assert minify(nested_text(1100, leaf)) is None


@pytest.mark.parametrize("text", ["[" * 1100 + "]" * 1099, "[" * 1100 + "]" * 1101, "[" * 1100 + "}" * 1100, "[] []"])
def test_minify_refuses_unbalanced_text(text: str) -> None:
    assert minify(text) is None
