"""A job type's part of the OpenAPI document: its three operations and its two schemas
(`<Title>Request`, `<Title>JobStatus`), derived from its declaration, so that what the document
promises is what the route checks. chalicelib/openapi.py assembles the whole document."""

from __future__ import annotations

from typing import Any

from chalicelib.jobtypes.declaration import JobType

JSON = "application/json"
QUEUE_PATTERN = "^[A-Za-z0-9_-]{1,64}$"
JOB_ID_PATTERN = (
    "^[A-Za-z0-9_-]{1,64}@[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
)
EXAMPLE_ID = "default@62df3011-b919-4d12-9a0d-87a85142b9b4"
IDEMPOTENCY_HEADER = "Idempotency-Key"
BAD_ID = "job id must look like 'default@<uuid4>', got 'nope'"


def error(description: str, example: str) -> dict[str, Any]:
    """A response in the app's one error shape."""
    return {
        "description": description,
        "content": {
            JSON: {
                "schema": {"$ref": "#/components/schemas/Error"},
                "example": {"success": False, "error": example},
            }
        },
    }


def unavailable(
    retry_after_s: int, example: str = "the job store is unavailable, try again shortly"
) -> dict[str, Any]:
    """The 503: Redis away, with the Retry-After the app always sends with it."""
    response = error("Redis did not answer, or (dev stage) no Redis is configured", example)
    response["headers"] = {
        "Retry-After": {
            "description": "seconds before trying again",
            "required": True,
            "schema": {"type": "string", "const": str(retry_after_s)},
        }
    }
    return response


def not_configured() -> dict[str, Any]:
    return error(
        "a deployed stage without its Redis settings, or an error no view expected",
        "the service is not configured; see its log",
    )


def status_schema(res: dict[str, Any]) -> dict[str, Any]:
    """A status body whose `res` is `res` or null."""
    return {
        "type": "object",
        "required": ["state_code", "status", "res"],
        "additionalProperties": False,
        "properties": {
            "state_code": {"type": "integer", "enum": [1, 2, 3, 4, 5, 6]},
            "status": {
                "type": "string",
                "enum": ["ACTIVE", "PENDING", "FUTURE", "RETRYING", "FAILED", "COMPLETED"],
            },
            "res": {"anyOf": [res, {"type": "null"}]},
            "error": {"type": "string", "description": "the last failed attempt's error"},
            "cancelled": {
                "type": "boolean",
                "const": True,
                "description": "present when a cancel ended it (error 'cancelled')",
            },
            "progress": {"$ref": "#/components/schemas/Progress"},
        },
    }


def schemas(job_type: JobType) -> dict[str, Any]:
    """`<Title>Request` and `<Title>JobStatus`, whose `res` is the declared result."""
    return {
        f"{job_type.title}Request": job_type.body_schema(),
        f"{job_type.title}JobStatus": status_schema(dict(job_type.result)),
    }


def job_id_parameter() -> dict[str, Any]:
    return {
        "name": "job_id",
        "in": "path",
        "required": True,
        "description": "`<queue>@<uuid4>`, as POST answered; `@` may be sent as %40",
        "schema": {"type": "string", "pattern": JOB_ID_PATTERN},
        "example": EXAMPLE_ID,
    }


def paths(job_type: JobType, max_body_bytes: int, retry_after_s: int) -> dict[str, Any]:
    """`/<route>` and `/<route>/{job_id}`."""
    return {
        f"/{job_type.route}": {"post": _create(job_type, max_body_bytes, retry_after_s)},
        f"/{job_type.route}/{{job_id}}": {
            "get": _read(job_type, retry_after_s),
            "delete": _cancel(job_type, retry_after_s),
        },
    }


def _idempotency_parameter() -> dict[str, Any]:
    return {
        "name": IDEMPOTENCY_HEADER,
        "in": "header",
        "required": False,
        "description": "makes retries safe: a POST with a key used before (and the same body) "
        "creates nothing and answers the first job's id again, with Idempotent-Replayed: true; "
        "the same key with another body is a 409. Keys are kept for the result retention "
        "(24 h by default).",
        "schema": {"type": "string", "pattern": "^[\\x20-\\x7e]{1,255}$"},
        "example": "order-1234-total",
    }


def _accepted(route: str) -> dict[str, Any]:
    return {
        "description": "queued (or, with a known Idempotency-Key, queued before); the job's "
        "status is at Location",
        "headers": {
            "Location": {
                "description": f"the job's status URL, /{route}/{{job_id}}",
                "required": True,
                "schema": {"type": "string"},
            },
            "Idempotent-Replayed": {
                "description": "present, 'true', when the Idempotency-Key was used before: "
                "nothing new was created",
                "schema": {"type": "string", "const": "true"},
            },
        },
        "content": {
            JSON: {
                "schema": {"$ref": "#/components/schemas/Accepted"},
                "example": {"success": True, "res": EXAMPLE_ID},
            }
        },
    }


def _create(job_type: JobType, max_body_bytes: int, retry_after_s: int) -> dict[str, Any]:
    body: dict[str, Any] = {"schema": {"$ref": f"#/components/schemas/{job_type.title}Request"}}
    if job_type.examples:
        body["examples"] = {name: {"value": v} for name, v in job_type.examples.items()}
    return {
        "operationId": f"create{job_type.title}Job",
        "summary": f"Enqueue {job_type.summary or 'a job'}",
        "description": f"The body is JSON, at most {max_body_bytes} bytes, with no field twice. "
        "A request without a content-type is read as JSON. Besides Content-Type and "
        f"{IDEMPOTENCY_HEADER}, request headers (cache-control, postman-token) change nothing.",
        "parameters": [_idempotency_parameter()],
        "requestBody": {"required": True, "content": {JSON: body}},
        "responses": {
            "202": _accepted(job_type.route),
            "400": error("the body is not a valid request", "missing field(s): op"),
            "413": error(
                f"the body is over {max_body_bytes} bytes",
                f"body is {max_body_bytes + 1} bytes; the limit is {max_body_bytes}",
            ),
            "415": error(
                "the body is declared as something other than JSON",
                "content-type must be application/json, got 'text/plain'",
            ),
            "409": error(
                "the Idempotency-Key was used before with another body",
                "idempotency key 'order-1234-total' is already used by a job with other params: "
                "use a new key for new work",
            ),
            "500": not_configured(),
            "503": unavailable(
                retry_after_s,
                "the job store did not confirm the create: the job may have been created; retry "
                "with the same Idempotency-Key to find out without creating it twice",
            ),
            "507": error(
                "Redis is out of memory and refuses new jobs: retrying soon will not help",
                "the job store is full: Redis is over its maxmemory and refuses new jobs",
            ),
        },
    }


def _status(job_type: JobType, description: str, **extra: Any) -> dict[str, Any]:
    media = {"schema": {"$ref": f"#/components/schemas/{job_type.title}JobStatus"}, **extra}
    return {"description": description, "content": {JSON: media}}


def _read(job_type: JobType, retry_after_s: int) -> dict[str, Any]:
    wait = {
        "name": "wait",
        "in": "query",
        "required": False,
        "description": "seconds (0 to 25, decimals allowed) to wait for the job's end",
        "schema": {"type": "number", "minimum": 0, "maximum": 25},
        "example": 10,
    }
    examples = {
        "failed": {
            "value": {"state_code": 5, "status": "FAILED", "res": None, "error": "cancelled"}
        }
    }
    return {
        "operationId": f"get{job_type.title}Job",
        "summary": "A job's state and result",
        "description": "A body sent with this GET is ignored. With `wait`, the answer comes as "
        "soon as the job is COMPLETED or FAILED, or after `wait` seconds with its state then "
        "(at once when the server's waiters are all busy). `res` is described for this "
        "route's jobs.",
        "parameters": [job_id_parameter(), wait],
        "responses": {
            "200": _status(
                job_type,
                "the job's state; `res` once COMPLETED, `error` after a failure",
                examples=examples,
            ),  # fmt: skip
            "400": error(
                "the id is not `<queue>@<uuid4>`, or `wait` is not 0 to 25 seconds", BAD_ID
            ),
            "404": error(
                "no such job, or its result is past its retention", f"no job {EXAMPLE_ID}"
            ),
            "500": not_configured(),
            "503": unavailable(retry_after_s),
        },
    }


def _cancel(job_type: JobType, retry_after_s: int) -> dict[str, Any]:
    return {
        "operationId": f"cancel{job_type.title}Job",
        "summary": "Cancel a job",
        "description": "A PENDING, FUTURE or RETRYING job ends FAILED at once, with error "
        "'cancelled' and `cancelled: true`, and never runs. An ACTIVE job is asked to stop: "
        "the answer shows it ACTIVE; it ends FAILED 'cancelled' unless it completes first.",
        "parameters": [job_id_parameter()],
        "responses": {
            "200": _status(job_type, "the job's status after the cancel"),
            "400": error("the id is not `<queue>@<uuid4>`", BAD_ID),
            "404": error("no such job", f"no job {EXAMPLE_ID}"),
            "409": error(
                "the job is COMPLETED or FAILED already: it is left as it is",
                f"job {EXAMPLE_ID} is COMPLETED: too late to cancel it",
            ),
            "500": not_configured(),
            "503": unavailable(retry_after_s),
        },
    }
