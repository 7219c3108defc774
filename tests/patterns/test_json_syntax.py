"""Patterns that are not valid JSON: rejected with the message of Jackson, the parser EventBridge uses.

The AWS-recorded corpus (`tests/patterns/data/event-patterns.jsonl`) pins three of these; the others follow the
same Jackson 2.x wording.
"""

from __future__ import annotations

import pytest

from tests.patterns._check import assert_invalid

EXPECTING_VALUE = "was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')"

CASES: list[tuple[str, str]] = [
    ("this is valid json but not a dict", f"Unrecognized token 'this': {EXPECTING_VALUE}"),
    ('{"not": closed mark"', f"Unrecognized token 'closed': {EXPECTING_VALUE}"),
    ('{"a": [tru]}', f"Unrecognized token 'tru': {EXPECTING_VALUE}"),
    ("{'bad': 'quotation'}", "Unexpected character (''' (code 39)): was expecting double-quote to start field name"),
    ('{a: ["x"]}', "Unexpected character ('a' (code 97)): was expecting double-quote to start field name"),
    (
        '{"a" ["x"]}',
        "Unexpected character ('[' (code 91)): was expecting a colon to separate field name and value",
    ),
    ('{"a": ["x" "y"]}', "Unexpected character ('\"' (code 34)): was expecting comma to separate Array entries"),
    (
        '{"a": ["x"] "b": ["y"]}',
        "Unexpected character ('\"' (code 34)): was expecting comma to separate Object entries",
    ),
    ('{"a": ["x",]}', "Unexpected character (']' (code 93)): expected a value"),
    ('{"a": ["\\d"]}', "Unrecognized character escape 'd' (code 100)"),
    ('{"a": [{"wildcard": "\\d*"}]}', "Unrecognized character escape 'd' (code 100)"),
]


@pytest.mark.parametrize(("text", "reason"), CASES)
def test_malformed_json_is_rejected_with_jacksons_message(text: str, reason: str) -> None:
    assert_invalid(text, reason)
