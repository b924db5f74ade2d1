"""Input shown back in an error message, cut short: an error answer never carries the client's
input whole (a 20 KB id comes back as its first 100 characters and its length)."""

from __future__ import annotations

#: the most characters of the client's input an error message shows
ECHO_LIMIT = 100


def cut(text: str, limit: int = ECHO_LIMIT) -> str:
    """`text` itself when it has at most `limit` characters, else its first `limit` characters,
    an ellipsis and its length."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters)"


def echo(value: object, limit: int = ECHO_LIMIT) -> str:
    """`repr(value)` for a message, showing at most `limit` characters of a string's text (or of
    another value's repr)."""
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(value)
        return f"{value[:limit]!r}… ({len(value)} characters)"
    return cut(repr(value), limit)
