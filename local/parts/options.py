"""Argument types for the `python -m local` commands, and defaults read from the environment.

A bad value, typed or from a LOCAL_* variable, is a usage error (exit code 2) that names the
option or the variable, never a traceback. Env defaults are kept as strings so that argparse
runs them through the option's `type` only when the option is not given; `EnvValue` remembers
which variable a default came from, so the message can name it.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class EnvValue(str):
    """A default read from the environment variable `variable`."""

    variable: str


def env_default(variable: str, fallback: str | None = None) -> str | None:
    """The value of `variable`, as an EnvValue, else `fallback` (given as the option's type
    would parse it from the command line)."""
    raw = os.environ.get(variable)
    if not raw:
        return fallback
    value = EnvValue(raw)
    value.variable = variable
    return value


def checked(parse: Callable[[str], T], wanted: str) -> Callable[[str], T]:
    """An argparse `type`: `parse`, whose ValueError becomes "<what> is not <wanted>"."""

    def convert(raw: str) -> T:
        try:
            return parse(raw)
        except ValueError:
            where = f"{raw.variable}={raw!r}" if isinstance(raw, EnvValue) else repr(raw)
            raise argparse.ArgumentTypeError(f"{where} is not {wanted}") from None

    convert.__name__ = wanted  # what argparse would name the type in other messages
    return convert


def _int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw.strip())
        if value < low or (high is not None and value > high):
            raise ValueError(raw)
        return value

    return parse


def _float_above(low: float, inclusive: bool) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        value = float(raw.strip())
        if not math.isfinite(value) or value < low or (value == low and not inclusive):
            raise ValueError(raw)
        return value

    return parse


def one_of(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in choices:
            raise ValueError(raw)
        return raw

    return checked(parse, f"one of {', '.join(choices)}")


port = checked(_int_in(1, 65535), "a port (1-65535)")
non_negative_int = checked(_int_in(0), "a whole number, 0 or more")
positive_int = checked(_int_in(1), "a whole number, 1 or more")
non_negative_float = checked(_float_above(0.0, inclusive=True), "a number of seconds, 0 or more")
positive_float = checked(_float_above(0.0, inclusive=False), "a number of seconds above 0")


def queue_names(text: str) -> tuple[str, ...]:
    """The names of a comma-separated list, blanks dropped."""
    return tuple(name.strip() for name in text.split(",") if name.strip())
