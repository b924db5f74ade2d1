"""Reading a request body: strict JSON, and the refusal every job type's route answers with.

Shared by every job type, so that each one refuses the same mistakes in the same words: a body
that is not JSON, a constant JSON does not allow (NaN, Infinity), a field given twice.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

from chalicelib.echo import echo

#: the longest integer a body may hold (Python converts no longer one by default)
MAX_INT_DIGITS = 4300


class InvalidRequest(ValueError):
    """A request to refuse with a 400; its message tells the client what is wrong."""


def decode(raw: bytes | str) -> object:
    """The JSON value of a body, or InvalidRequest saying why it is not JSON we accept."""
    try:
        return json.loads(
            raw,
            parse_constant=_refuse_constant,
            parse_int=_bounded_int,
            object_pairs_hook=_unique_keys,
        )
    except InvalidRequest:
        raise
    except RecursionError:
        raise InvalidRequest("body is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, bad UTF-8
        raise InvalidRequest(f"body is not valid JSON: {exc}") from None


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for error messages ("a string", "null")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a number" if isinstance(value, (int, float)) else type(value).__name__


def _bounded_int(text: str) -> int:
    """An integer of the body; one longer than Python converts is refused in plain words (not
    with the interpreter's own advice on how to raise its limit)."""
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise InvalidRequest(f"body has an integer of {digits} digits; at most {MAX_INT_DIGITS}")
    return int(text)


def _refuse_constant(name: str) -> NoReturn:
    raise InvalidRequest(f"{name} is not a number JSON allows")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise InvalidRequest(f"field {echo(key)} is given twice")
        result[key] = value
    return result
