"""The maths job types: four handlers, the validation of a maths request, and their
declaration (`JOB_TYPE`, served at /maths), the first of chalicelib/jobtypes/installed.py.

Arithmetic is exact. Each operand is read as the decimal number the client wrote (a JSON float's
shortest repr), the operation is done on fractions, and only the answer is rounded, once, to the
nearest double when it is not an integer. So 0.1 + 0.2 is 0.3, 7 / 2 is 3.5 and 6 / 3 is 2, and
an integral answer is a JSON integer (`6`, not `6.0`), as the original service answered.
"""

from __future__ import annotations

import math
import operator
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol

from chalicelib.echo import cut, echo
from chalicelib.jobs import JobResult
from chalicelib.jobtypes import InvalidRequest, JobType, Submission
from chalicelib.jobtypes.body import decode
from chalicelib.jobtypes.body import json_type as _json_type
from chalicelib.jobtypes.declaration import MAX_DELAY_S

Number = int | float
Handler = Callable[[dict[str, Any]], JobResult]

#: job type -> exact operation; the job types are the request's "op"
OPERATIONS: dict[str, Callable[[Fraction, Fraction], Fraction]] = {
    "math:add": operator.add,
    "math:subtract": operator.sub,
    "math:multiply": operator.mul,
    "math:divide": operator.truediv,
}
KNOWN_OPS = ", ".join(sorted(OPERATIONS))
#: the operations whose answer on two integers is an exact integer (no Fraction needed)
INTEGER_EXACT = frozenset({"math:add", "math:subtract", "math:multiply"})
REQUIRED_FIELDS = ("a", "b", "op")
OPTIONAL_FIELDS = ("delay_seconds", "callback_url")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_FLOAT_MAX = Fraction(sys.float_info.max)


class ControllerLike(Protocol):
    def add_handler(self, job_type: str, handler: Handler) -> None: ...


@dataclass(frozen=True)
class MathsRequest:
    """A valid maths request: the job type, its operands and how long to wait before running."""

    op: str
    a: Number
    b: Number
    delay_seconds: Number = 0
    #: where the job's end is POSTed (the jobs package checks the URL itself)
    callback_url: str | None = None

    @property
    def params(self) -> dict[str, Number]:
        """The job's params: the operands (the op is the job type)."""
        return {"a": self.a, "b": self.b}


def register(controller: ControllerLike) -> None:
    """Add a handler for each maths job type to the controller."""
    for op in OPERATIONS:
        controller.add_handler(op, make_handler(op))


def parse_body(raw: bytes | str) -> MathsRequest:
    """The request in a JSON body, or InvalidRequest saying what is wrong with it."""
    return validate_request(decode(raw))


def submission(raw: bytes) -> Submission:
    """parse_body, as the job type's submission: maths keeps its own checks and messages."""
    request = parse_body(raw)
    return Submission(request.op, request.params, request.delay_seconds, request.callback_url)


def validate_request(body: object) -> MathsRequest:
    """Check a decoded body: an object with exactly a, b, op and optionally delay_seconds and
    callback_url."""
    if not isinstance(body, dict):
        raise InvalidRequest(f"body must be a JSON object, got {_json_type(body)}")
    missing = [name for name in REQUIRED_FIELDS if name not in body]
    if missing:
        raise InvalidRequest(f"missing field(s): {', '.join(missing)}")
    extra = sorted(set(body) - set(REQUIRED_FIELDS) - set(OPTIONAL_FIELDS))
    if extra:
        allowed = ", ".join(REQUIRED_FIELDS + OPTIONAL_FIELDS)
        unknown = cut(", ".join(extra))
        raise InvalidRequest(f"unknown field(s): {unknown} (allowed: {allowed})")
    return MathsRequest(
        op=check_op(body["op"]),
        a=check_operand("a", body["a"]),
        b=check_operand("b", body["b"]),
        delay_seconds=check_delay(body.get("delay_seconds", 0)),
        callback_url=check_callback_field(body.get("callback_url")),
    )


def check_op(op: object) -> str:
    if not isinstance(op, str) or op not in OPERATIONS:
        raise InvalidRequest(f"unknown op {echo(op)} (known: {KNOWN_OPS})")
    return op


def check_operand(name: str, value: object) -> Number:
    """A JSON number: not a boolean or a string, finite, and an integer only within 64 bits."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRequest(f"{name} must be a number, got {_json_type(value)}")
    if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
        raise InvalidRequest(f"{name} is an integer outside the signed 64-bit range")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidRequest(f"{name} must be a finite number")
    return value


def check_delay(value: object) -> Number:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRequest(f"delay_seconds must be a number, got {_json_type(value)}")
    if not 0 <= value <= MAX_DELAY_S:  # NaN fails this too
        raise InvalidRequest(f"delay_seconds must be between 0 and {MAX_DELAY_S}")
    return value


def check_callback_field(value: object) -> str | None:
    """A string or null; whether it is a URL allowed for callbacks, the jobs package says."""
    if value is not None and not isinstance(value, str):
        raise InvalidRequest(f"callback_url must be a string, got {_json_type(value)}")
    return value


def compute(op: str, a: Number, b: Number) -> Number:
    """The exact answer of `a op b` as a JSON number.

    Raises ZeroDivisionError for a zero divisor, OverflowError when the answer is beyond the
    range of a double (it would otherwise become Infinity, which is not JSON).
    """
    if type(a) is int and type(b) is int and op in INTEGER_EXACT:
        exact_int = OPERATIONS[op](a, b)  # type: ignore[arg-type]  # exact on ints already
        if abs(exact_int) > _FLOAT_MAX:
            raise OverflowError("result is out of range (its magnitude exceeds 1.8e308)")
        return int(exact_int)
    exact = OPERATIONS[op](_exact(a), _exact(b))
    if abs(exact) > _FLOAT_MAX:
        raise OverflowError("result is out of range (its magnitude exceeds 1.8e308)")
    both_ints = isinstance(a, int) and isinstance(b, int)
    if exact.denominator == 1 and (both_ints or INT64_MIN <= exact <= INT64_MAX):
        return int(exact)
    return float(exact)


def make_handler(op: str) -> Handler:
    """The handler of one maths job type. Bad params and impossible answers fail the job at
    once (retrying cannot help); an unexpected exception is left to the jobs package to retry."""

    def handle(params: dict[str, Any]) -> JobResult:
        try:
            a, b = _operands(params)
            return JobResult(success=True, res=compute(op, a, b))
        except ZeroDivisionError:
            return JobResult(success=False, msg="division by zero")
        except (InvalidRequest, OverflowError) as exc:
            return JobResult(success=False, msg=str(exc))

    handle.__name__ = handle.__qualname__ = f"handle_{op.partition(':')[2]}"
    return handle


def _operands(params: object) -> tuple[Number, Number]:
    if not isinstance(params, Mapping):
        raise InvalidRequest(f"params must be an object, got {_json_type(params)}")
    return check_operand("a", params.get("a")), check_operand("b", params.get("b"))


def _exact(value: Number) -> Fraction:
    # repr() is the shortest decimal that reads back as this float: what the client wrote.
    return Fraction(value) if isinstance(value, int) else Fraction(repr(value))


_OPERAND = {"type": "number", "description": "a finite number; integers fit 64 bits"}

JOB_TYPE = JobType(
    route="maths",
    handlers={op: make_handler(op) for op in OPERATIONS},
    params={
        "type": "object",
        "required": ["a", "b"],
        "additionalProperties": False,
        "properties": {"a": _OPERAND, "b": _OPERAND},
    },
    result={
        "type": "number",
        "description": "the exact answer, rounded once to the nearest double; a JSON integer "
        "when it is one",
    },
    summary="a maths job",
    examples={
        "now": {"a": 2, "b": 3, "op": "math:multiply"},
        "later": {"a": 7, "b": 2, "op": "math:divide", "delay_seconds": 5},
        "called back": {
            "a": 2,
            "b": 3,
            "op": "math:add",
            "callback_url": "https://example.com/hooks/maths",
        },
    },
    parse=submission,
)
