"""A JSON token stream for patterns, with Jackson's error messages and positions.

EventBridge compiles a pattern while reading Jackson's token stream, so the first problem in document order wins,
whether it is a syntax error or a semantic one, and a repeated key simply overwrites the earlier one. We reproduce
that by giving the compiler (`parser.py`) a lazy token stream instead of a parsed dict: `TextTokens` lexes JSON text
on demand and raises Jackson's messages (`Unexpected character ('x' (code 120)): ...`, `Unrecognized token ...`,
end-of-input, bad escapes, mismatched close markers), and `ValueTokens` turns an already-parsed value into the same
tokens. Number tokens keep their text, which the number rules need. Like Jackson reading only the root object,
text after the root value is never read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Final

from patterns.errors import _PatternError
from patterns.numbers import float_text

START_OBJECT: Final = 1
END_OBJECT: Final = 2
START_ARRAY: Final = 3
END_ARRAY: Final = 4
FIELD_NAME: Final = 5
STRING: Final = 6
NUMBER: Final = 7
TRUE: Final = 8
FALSE: Final = 9
NULL: Final = 10
EOF: Final = 0

Token = tuple[int, str]

_VALID_VALUES: Final = "(JSON String, Number, Array, Object or token 'null', 'true' or 'false')"
_WS: Final = " \t\r\n"
_HEX: Final = "0123456789abcdefABCDEF"
_ESCAPES: Final = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_PLAIN_STRING: Final = re.compile(r'[^"\\\x00-\x1f]*')
_NUMBER: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_TYPE_DESC: Final = {"{": "Object", "[": "Array"}


def _char_desc(ch: str) -> str:
    code = ord(ch)
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return f"(CTRL-CHAR, code {code})"
    if code > 255:
        return f"'{ch}' (code {code} / 0x{code:x})"
    return f"'{ch}' (code {code})"


def _identifier_part(ch: str) -> bool:
    return ch.isalnum() or ch in "_$"


class TextTokens:
    """Lazily lexes JSON text into tokens, raising `_PatternError` with Jackson's message and offset."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.end = 0  # offset just after the last token returned
        self.string_start = 0  # offset of the opening quote of the last string value lexed
        self._stack: list[tuple[str, int, int]] = []  # (opener, items so far, opener offset)
        self._pending: Token | None = None
        self._done = False

    # -- errors ---------------------------------------------------------------------------------------------
    def source(self) -> str:
        shown = self.text if len(self.text) <= 500 else self.text[:500]
        suffix = "" if len(self.text) <= 500 else f"[truncated {len(self.text) - 500} chars]"
        return f'[Source: (String)"{shown}"{suffix}'

    def location(self, offset: int) -> str:
        line = self.text.count("\n", 0, offset) + 1
        column = offset - (self.text.rfind("\n", 0, offset) + 1) + 1
        return f"{self.source()}; line: {line}, column: {column}]"

    def _fail(self, message: str, at: int) -> _PatternError:
        return _PatternError(message, at)

    def _unexpected(self, at: int, comment: str) -> _PatternError:
        return self._fail(f"Unexpected character ({_char_desc(self.text[at])}): {comment}", at)

    def _eof(self, comment: str) -> _PatternError:
        return self._fail("Unexpected end-of-input" + comment, len(self.text))

    def _bad_token(self, start: int) -> _PatternError:
        i = start
        text = self.text
        while i < len(text) and _identifier_part(text[i]) and i - start < 256:
            i += 1
        if i == start:
            i = start + 1
        return self._fail(f"Unrecognized token '{text[start:i]}': was expecting {_VALID_VALUES}", i)

    # -- lexing ---------------------------------------------------------------------------------------------
    def _skip_ws(self) -> int:
        """Offset of the next significant character, or -1 at end of input."""
        text, i, n = self.text, self.pos, len(self.text)
        while i < n:
            ch = text[i]
            if ch in _WS:
                i += 1
                continue
            if ch < " ":
                raise self._fail(
                    f"Illegal character ({_char_desc(ch)}): only regular white space (\\r, \\n, \\t) is allowed "
                    "between tokens",
                    i,
                )
            if ch == "/":
                raise self._unexpected(
                    i,
                    "maybe a (non-standard) comment? (not recognized as one since Feature 'ALLOW_COMMENTS' not "
                    "enabled for parser)",
                )
            self.pos = i
            return i
        self.pos = n
        return -1

    def _string(self, start: int) -> str:
        """Reads a string whose opening quote is at `start`."""
        text = self.text
        i = start + 1
        parts: list[str] = []
        while True:
            m = _PLAIN_STRING.match(text, i)
            assert m is not None
            parts.append(m.group())
            i = m.end()
            if i >= len(text):
                raise self._eof(": was expecting closing quote for a string value")
            ch = text[i]
            if ch == '"':
                self.pos = i + 1
                return "".join(parts)
            if ch != "\\":
                raise self._fail(
                    f"Illegal unquoted character ({_char_desc(ch)}): has to be escaped using backslash to be "
                    "included in string value",
                    i + 1,
                )
            if i + 1 >= len(text):
                raise self._eof(" in character escape sequence")
            esc = text[i + 1]
            if esc == "u":
                digits = text[i + 2 : i + 6]
                for k, d in enumerate(digits):
                    if d not in _HEX:
                        raise self._unexpected(i + 2 + k, "expected a hex-digit for character escape sequence")
                if len(digits) < 4:
                    raise self._eof(" in character escape sequence")
                code = int(digits, 16)
                i += 6
                low = text[i + 2 : i + 6] if text.startswith("\\u", i) else ""
                if 0xD800 <= code < 0xDC00 and len(low) == 4 and all(d in _HEX for d in low):
                    low_code = int(low, 16)
                    if 0xDC00 <= low_code < 0xE000:  # a surrogate pair is one character
                        code = 0x10000 + ((code - 0xD800) << 10) + (low_code - 0xDC00)
                        i += 6
                parts.append(chr(code))
            elif esc in _ESCAPES:
                parts.append(_ESCAPES[esc])
                i += 2
            else:
                raise self._fail(f"Unrecognized character escape {_char_desc(esc)}", i + 2)

    def _number(self, start: int) -> Token:
        text = self.text
        m = _NUMBER.match(text, start)
        i = start + 1 if text[start] == "-" else start
        if m is None or m.end() == i:
            if i >= len(text):
                raise self._eof(" in a Number value")
            raise self._fail(
                f"Unexpected character ({_char_desc(text[i])}) in numeric value: expected digit (0-9) to follow "
                "minus sign, for valid numeric value",
                i + 1,
            )
        end = m.end()
        if text[i] == "0" and end < len(text) and text[end].isdigit():
            raise self._fail("Invalid numeric value: Leading zeroes not allowed", end + 1)
        if end < len(text) and text[end] in ".eE":
            # The regex stopped at a '.' or exponent marker that has no digits after it.
            k = end + 1
            if text[end] in "eE" and k < len(text) and text[k] in "+-":
                k += 1
            what = "Decimal point" if text[end] == "." else "Exponent indicator"
            if k >= len(text):
                raise self._eof(" in a Number value")
            raise self._fail(
                f"Unexpected character ({_char_desc(text[k])}) in numeric value: {what} not followed by a digit",
                k + 1,
            )
        self.pos = end
        return (NUMBER, text[start:end])

    def _value(self, at: int) -> Token:
        ch = self.text[at]
        if ch == '"':
            self.string_start = at
            return (STRING, self._string(at))
        if ch in {"{", "["}:
            self.pos = at + 1
            self._stack.append((ch, 0, at))
            return (START_OBJECT, "{") if ch == "{" else (START_ARRAY, "[")
        if ch == "-" or "0" <= ch <= "9":
            return self._number(at)
        if ch in "]}":
            raise self._unexpected(at, "expected a value")
        for word, kind in (("true", TRUE), ("false", FALSE), ("null", NULL)):
            if ch == word[0]:
                got = self.text[at : at + len(word)]
                after = at + len(word)
                if got != word or (after < len(self.text) and _identifier_part(self.text[after])):
                    raise self._bad_token(at)
                self.pos = after
                return (kind, word)
        if ch.isalpha() or ch in "_$":
            raise self._bad_token(at)
        raise self._unexpected(at, f"expected a valid value {_VALID_VALUES}")

    def _close_marker(self, at: int) -> None:
        ch = self.text[at]
        opener, _, where = self._stack[-1]
        if (ch == "]") != (opener == "["):
            want = "]" if opener == "[" else "}"
            raise self._fail(
                f"Unexpected close marker '{ch}': expected '{want}' (for {_TYPE_DESC[opener]} starting at "
                f"{self.location(where + 1)})",
                at + 1,
            )

    def next(self) -> Token:
        token = self._next()
        self.end = self.pos
        return token

    def _next(self) -> Token:
        if self._pending is not None:
            token, self._pending = self._pending, None
            return token
        if self._done:
            return (EOF, "")
        i = self._skip_ws()
        if not self._stack:
            if i < 0:
                self._done = True
                return (EOF, "")
            token = self._value(i)
            if not self._stack:
                self._done = True
            return token
        opener, count, where = self._stack[-1]
        if i < 0:
            raise self._eof(
                f": expected close marker for {_TYPE_DESC[opener]} (start marker at {self.location(where + 1)})"
            )
        ch = self.text[i]
        if ch in "]}":
            self._close_marker(i)
            self._stack.pop()
            self.pos = i + 1
            if not self._stack:
                self._done = True
            return (END_OBJECT, "}") if ch == "}" else (END_ARRAY, "]")
        if count:
            if ch != ",":
                raise self._unexpected(i, f"was expecting comma to separate {_TYPE_DESC[opener]} entries")
            self.pos = i + 1
            i = self._skip_ws()
            if i < 0:
                raise self._eof(f" within/between {_TYPE_DESC[opener]} entries")
            ch = self.text[i]
        self._stack[-1] = (opener, count + 1, where)
        if opener == "[":
            return self._value(i)
        if ch != '"':
            raise self._unexpected(i, "was expecting double-quote to start field name")
        name = self._string(i)
        j = self._skip_ws()
        if j < 0:
            raise self._eof(" within/between Object entries")
        if self.text[j] != ":":
            raise self._unexpected(j, "was expecting a colon to separate field name and value")
        self.pos = j + 1
        k = self._skip_ws()
        if k < 0:
            raise self._eof(" within/between Object entries")
        # Like Jackson, the value after the colon is lexed together with its name.
        self._pending = self._value(k)
        return (FIELD_NAME, name)


class ValueTokens:
    """The token stream of an already-parsed JSON value (dicts, lists, str, int, float, bool, None)."""

    def __init__(self, value: Any) -> None:
        self._tokens = self._walk(value)
        self.end = 0
        self.string_start = 0  # no text, so no positions (location is None)

    def next(self) -> Token:
        return next(self._tokens, (EOF, ""))

    def location(self, offset: int) -> str | None:
        return None

    def _walk(self, value: Any) -> Iterator[Token]:
        # An explicit stack, so a deeply nested value cannot exhaust Python's recursion limit.
        stack: list[Iterator[Any]] = [iter((value,))]
        closers: list[Token] = [(EOF, "")]
        while stack:
            item = next(stack[-1], _END)
            if item is _END:
                stack.pop()
                closer = closers.pop()
                if closer[0] != EOF:
                    yield closer
                continue
            if isinstance(item, tuple) and len(item) == 2 and item[0] is _KEY:
                yield (FIELD_NAME, item[1])
                continue
            if isinstance(item, dict):
                yield (START_OBJECT, "{")
                stack.append(iter([x for k, v in item.items() for x in ((_KEY, str(k)), v)]))
                closers.append((END_OBJECT, "}"))
            elif isinstance(item, list | tuple):
                yield (START_ARRAY, "[")
                stack.append(iter(item))
                closers.append((END_ARRAY, "]"))
            elif isinstance(item, str):
                yield (STRING, item)
            elif item is True:
                yield (TRUE, "true")
            elif item is False:
                yield (FALSE, "false")
            elif item is None:
                yield (NULL, "null")
            elif isinstance(item, int):
                yield (NUMBER, str(item))
            elif isinstance(item, float):
                yield (NUMBER, float_text(item))
            else:
                raise _PatternError(f"Match value must be String, number, true, false, or null: {type(item).__name__}")


_END: Final = object()
_KEY: Final = object()
EOF_TOKEN: Final = (EOF, "")
