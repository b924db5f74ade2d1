"""The part of JSON Schema a job type's params are checked with, and the checker.

A declared schema is both the server's check and the OpenAPI document's promise, so the two
must mean the same: a schema using a keyword this checker does not enforce is refused when the
job type is declared (`check_schema`), rather than published and then not enforced. The
messages speak to the client in the app's words ("text must be a string, got a number").
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from chalicelib.echo import cut, echo
from chalicelib.jobtypes.body import InvalidRequest, json_type

#: keywords the checker enforces
ENFORCED = frozenset(
    {
        "type", "properties", "required", "additionalProperties", "items", "enum", "const",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
        "pattern", "minItems", "maxItems",
    }
)  # fmt: skip
#: keywords that only annotate (shown in the document, nothing to enforce)
ANNOTATIONS = frozenset({"description", "title", "examples", "example", "default", "format"})
TYPES = ("string", "number", "integer", "boolean", "object", "array", "null")
_NAMES = {
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "a boolean",
    "object": "an object",
    "array": "an array",
    "null": "null",
}


def check_schema(schema: Mapping[str, Any], where: str = "schema") -> None:
    """Raise ValueError, naming the place, when `schema` uses a keyword the checker does not
    enforce, has no `type`, or has a `type` JSON Schema does not know."""
    unknown = sorted(set(schema) - ENFORCED - ANNOTATIONS)
    if unknown:
        raise ValueError(f"{where}: keyword(s) not supported here: {', '.join(unknown)}")
    types = _types(schema)
    if not types or not set(types) <= set(TYPES):
        raise ValueError(f"{where}: needs a type, one of {', '.join(TYPES)} (or a list of them)")
    if "pattern" in schema:
        re.compile(schema["pattern"])
    for name, sub in schema.get("properties", {}).items():
        check_schema(sub, f"{where}.{name}")
    if "items" in schema:
        check_schema(schema["items"], f"{where}[]")
    if not isinstance(schema.get("additionalProperties", False), bool):
        raise ValueError(f"{where}: additionalProperties must be true or false")


def validate(schema: Mapping[str, Any], value: object, name: str = "body") -> None:
    """Raise InvalidRequest, naming the field, when `value` does not fit `schema`."""
    types = _types(schema)
    if not any(_is(value, t) for t in types):
        expected = " or ".join(_NAMES[t] for t in types)
        raise InvalidRequest(f"{name} must be {expected}, got {json_type(value)}")
    if "const" in schema and value != schema["const"]:
        raise InvalidRequest(f"{name} must be {echo(schema['const'])}")
    if "enum" in schema and value not in schema["enum"]:
        known = ", ".join(echo(v) for v in schema["enum"])
        raise InvalidRequest(f"{name} must be one of {known}, got {echo(value)}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_number(schema, value, name)
    elif isinstance(value, str):
        _check_string(schema, value, name)
    elif isinstance(value, list):
        _check_array(schema, value, name)
    elif isinstance(value, dict):
        _check_object(schema, value, name)


def _types(schema: Mapping[str, Any]) -> list[str]:
    declared = schema.get("type", [])
    return [declared] if isinstance(declared, str) else list(declared)


def _is(value: object, json_type_name: str) -> bool:
    if json_type_name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if json_type_name == "number":  # an int of any length is one (math.isfinite would overflow)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return isinstance(value, int) or math.isfinite(value)
    python = {"string": str, "boolean": bool, "object": dict, "array": list}
    if json_type_name == "null":
        return value is None
    return isinstance(value, python[json_type_name])


def _check_number(schema: Mapping[str, Any], value: float, name: str) -> None:
    if "minimum" in schema and value < schema["minimum"]:
        raise InvalidRequest(f"{name} must be at least {schema['minimum']}")
    if "maximum" in schema and value > schema["maximum"]:
        raise InvalidRequest(f"{name} must be at most {schema['maximum']}")
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        raise InvalidRequest(f"{name} must be more than {schema['exclusiveMinimum']}")
    if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
        raise InvalidRequest(f"{name} must be less than {schema['exclusiveMaximum']}")


def _check_string(schema: Mapping[str, Any], value: str, name: str) -> None:
    if len(value) < schema.get("minLength", 0):
        raise InvalidRequest(f"{name} must have at least {schema['minLength']} character(s)")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        raise InvalidRequest(f"{name} must have at most {schema['maxLength']} character(s)")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        raise InvalidRequest(f"{name} must match {cut(schema['pattern'])}, got {echo(value)}")


def _check_array(schema: Mapping[str, Any], value: list[Any], name: str) -> None:
    if len(value) < schema.get("minItems", 0):
        raise InvalidRequest(f"{name} must have at least {schema['minItems']} item(s)")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        raise InvalidRequest(f"{name} must have at most {schema['maxItems']} item(s)")
    if "items" in schema:
        for index, item in enumerate(value):
            validate(schema["items"], item, f"{name}[{index}]")


def _check_object(schema: Mapping[str, Any], value: dict[str, Any], name: str) -> None:
    properties: Mapping[str, Any] = schema.get("properties", {})
    at = "" if name == "body" else f" in {name}"
    missing = [field for field in schema.get("required", []) if field not in value]
    if missing:
        raise InvalidRequest(f"missing field(s){at}: {', '.join(missing)}")
    if schema.get("additionalProperties", True) is False:
        extra = sorted(set(value) - set(properties))
        if extra:
            allowed = ", ".join(properties)
            raise InvalidRequest(
                f"unknown field(s){at}: {cut(', '.join(extra))} (allowed: {allowed})"
            )
    for field, sub in properties.items():
        if field in value:
            validate(sub, value[field], field if name == "body" else f"{name}.{field}")
