"""A job type as one declaration: its handlers, its params' and result's schemas, its route.

app.py serves `POST /<route>` and `GET`/`DELETE /<route>/{job_id}` for each installed
declaration, chalicelib/service.py registers its handlers with every controller (the API's, the
worker Lambdas', `python -m local worker`), and the OpenAPI document publishes its schemas, so a
new job type is one file and one line in chalicelib/jobtypes/installed.py
(docs/your-first-job-type.md walks through it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.jobs import JobResult
from chalicelib.jobs.callbacks import MAX_URL_CHARS
from chalicelib.jobtypes import schema
from chalicelib.jobtypes.body import InvalidRequest, decode, json_type

Handler = Callable[[dict[str, Any]], JobResult]
#: a route is one lowercase path segment; these belong to the app itself
ROUTE_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
RESERVED_ROUTES = frozenset({"admin", "openapi"})
#: the body field naming the handler, when a job type has several (maths: "math:add"...)
SELECTOR = "op"
MAX_DELAY_S = 86400
#: fields every job type's body may carry besides its params: options of the job, not params
OPTIONS: dict[str, dict[str, Any]] = {
    "delay_seconds": {
        "type": "number",
        "minimum": 0,
        "maximum": MAX_DELAY_S,
        "description": "run the job this many seconds from now (FUTURE until then)",
    },
    "callback_url": {
        "type": ["string", "null"],
        "format": "uri",
        "maxLength": MAX_URL_CHARS,
        "description": "when the job ends, its status and id are POSTed here, signed (see the "
        "jobEnded webhook): an https URL whose host resolves to public addresses only "
        "(`make run` allows local hosts too, never link-local ones). 400 when callbacks are "
        "not enabled here.",
    },
}


@dataclass(frozen=True)
class Submission:
    """A valid request: which handler runs, its params, and the job's options."""

    job_type: str
    params: dict[str, Any]
    delay_seconds: float = 0
    callback_url: str | None = None


@dataclass(frozen=True)
class JobType:
    """One job type. `handlers` maps each job type name ("text:upper") to its handler; with
    several, the body's "op" field names the one to run. `params` is the JSON Schema of the
    params (an object; additionalProperties defaults to false), `result` the JSON Schema of
    `res` once COMPLETED. `parse` replaces the generic body check (maths keeps its own
    messages with it). Raises ValueError at declaration for a bad route or schema."""

    route: str
    handlers: Mapping[str, Handler]
    params: Mapping[str, Any]
    result: Mapping[str, Any]
    #: what a job of this type is, for the document: "a maths job"
    summary: str = ""
    #: request bodies to show in the document, by name
    examples: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    parse: Callable[[bytes], Submission] | None = None

    def __post_init__(self) -> None:
        if not ROUTE_PATTERN.fullmatch(self.route) or self.route in RESERVED_ROUTES:
            raise ValueError(f"route {self.route!r}: one lowercase word (a-z, 0-9, '-'), not "
                             f"{' or '.join(sorted(RESERVED_ROUTES))}")  # fmt: skip
        if not self.handlers:
            raise ValueError(f"job type /{self.route} declares no handler")
        if self.params.get("type") != "object":
            raise ValueError(f"/{self.route}: params must be a schema of type object")
        clash = {*OPTIONS, SELECTOR} & set(self.params.get("properties", {}))
        if clash:
            raise ValueError(f"/{self.route}: params may not name {', '.join(sorted(clash))}")
        schema.check_schema(self.params, f"/{self.route} params")
        schema.check_schema(self.result, f"/{self.route} result")

    @property
    def title(self) -> str:
        """The route in CamelCase, naming its operations and schemas ("Maths", "TextTools")."""
        return "".join(part.capitalize() for part in self.route.split("-"))

    def body_schema(self) -> dict[str, Any]:
        """The JSON Schema of a POST's body: the params' fields, "op" when there are several
        handlers, and the options every job type takes (delay_seconds, callback_url)."""
        properties = dict(self.params.get("properties", {}))
        required = list(self.params.get("required", []))
        if len(self.handlers) > 1:
            properties[SELECTOR] = {"type": "string", "enum": sorted(self.handlers)}
            required.append(SELECTOR)
        return {
            "type": "object",
            "required": required,
            "additionalProperties": self.params.get("additionalProperties", False),
            "properties": {**properties, **OPTIONS},
        }

    def parse_body(self, raw: bytes) -> Submission:
        """The submission in a raw body, or InvalidRequest saying what is wrong with it."""
        if self.parse is not None:
            return self.parse(raw)
        body = decode(raw)
        if not isinstance(body, dict):
            raise InvalidRequest(f"body must be a JSON object, got {json_type(body)}")
        schema.validate(self.body_schema(), body)
        options = {name: body.pop(name) for name in OPTIONS if name in body}
        name = body.pop(SELECTOR) if len(self.handlers) > 1 else next(iter(self.handlers))
        return Submission(
            job_type=name,
            params=body,
            delay_seconds=options.get("delay_seconds") or 0,
            callback_url=options.get("callback_url"),
        )
