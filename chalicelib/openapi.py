"""The API's OpenAPI 3.1 document, built from the limits the code enforces.

`GET /openapi.json` serves it, and `openapi.json` at the project's root is the same document
written out (`make openapi`); a test keeps the two, the routes and the real answers in step.
"""

from __future__ import annotations

from typing import Any

from chalicelib.admin import openapi as admin_openapi
from chalicelib.business.async_maths import MAX_DELAY_S, OPERATIONS
from chalicelib.jobs.callbacks import CALLBACK_QUEUE, MAX_URL_CHARS, SIGNATURE_HEADER

JOB_ID_PATTERN = (
    "^[A-Za-z0-9_-]{1,64}@[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
)
EXAMPLE_ID = "default@62df3011-b919-4d12-9a0d-87a85142b9b4"
JSON = "application/json"

DESCRIPTION = """\
An asynchronous job API. POST a maths job, get its id at once (202), then GET the id for its
state and result. States: 1 ACTIVE, 2 PENDING, 3 FUTURE, 4 RETRYING, 5 FAILED, 6 COMPLETED.

Every error the app answers has the shape {"success": false, "error": "<what is wrong>"}: the
statuses listed under each operation, and 405 (a method a path does not have, with an Allow
header). Input shown back in an error is cut to its first 100 characters. A path the API does not
have is answered by API Gateway itself (403 {"message": "Missing Authentication Token"}), not by
the app, and so is OPTIONS."""


IDEMPOTENCY_HEADER = "Idempotency-Key"


def _error(description: str, example: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            JSON: {
                "schema": {"$ref": "#/components/schemas/Error"},
                "example": {"success": False, "error": example},
            }
        },
    }


def _unavailable(
    retry_after_s: int, example: str = "the job store is unavailable, try again shortly"
) -> dict[str, Any]:
    response = _error(
        "Redis did not answer, or (dev stage) no Redis is configured",
        example,
    )
    response["headers"] = {
        "Retry-After": {
            "description": "seconds before trying again",
            "required": True,
            "schema": {"type": "string", "const": str(retry_after_s)},
        }
    }
    return response


def _not_configured() -> dict[str, Any]:
    return _error(
        "a deployed stage without its Redis settings, or an error no view expected",
        "the service is not configured; see its log",
    )


def _schemas() -> dict[str, Any]:
    schemas = _base_schemas()
    status = schemas["JobStatus"]
    told = {k: v for k, v in status["properties"].items() if k != "callback_id"}
    schemas["CallbackBody"] = {
        **status,
        "description": "what a callback POSTs: the JobStatus of the job that ended, with its id",
        "required": ["id", *status["required"]],
        "properties": {"id": {"type": "string", "pattern": JOB_ID_PATTERN}, **told},
    }
    return schemas


def _base_schemas() -> dict[str, Any]:
    return {
        "MathsRequest": {
            "type": "object",
            "required": ["a", "b", "op"],
            "additionalProperties": False,
            "properties": {
                "a": {"type": "number", "description": "a finite number; integers fit 64 bits"},
                "b": {"type": "number", "description": "a finite number; integers fit 64 bits"},
                "op": {"type": "string", "enum": sorted(OPERATIONS)},
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
                    "description": "when the job ends, its status and id are POSTed here, "
                    "signed (see the jobEnded webhook): an https URL whose host resolves to "
                    "public addresses only. 400 when callbacks are not enabled here.",
                },
            },
        },
        "Accepted": {
            "type": "object",
            "required": ["success", "res"],
            "additionalProperties": False,
            "properties": {
                "success": {"const": True},
                "res": {"type": "string", "pattern": JOB_ID_PATTERN, "description": "the job id"},
            },
        },
        "JobStatus": {
            "type": "object",
            "required": ["state_code", "status", "res"],
            "additionalProperties": False,
            "properties": {
                "state_code": {"type": "integer", "enum": [1, 2, 3, 4, 5, 6]},
                "status": {
                    "type": "string",
                    "enum": ["ACTIVE", "PENDING", "FUTURE", "RETRYING", "FAILED", "COMPLETED"],
                },
                "res": {
                    "type": ["number", "object", "null"],
                    "description": "the result once COMPLETED, else null (a maths job's is a "
                    "number)",
                },
                "error": {"type": "string", "description": "the last failed attempt's error"},
                "cancelled": {
                    "const": True,
                    "description": "present when a cancel ended it (error 'cancelled')",
                },
                "progress": {
                    "type": "object",
                    "required": ["fraction"],
                    "additionalProperties": False,
                    "description": "the handler's latest report, while ACTIVE and after",
                    "properties": {
                        "fraction": {"type": "number", "minimum": 0, "maximum": 1},
                        "message": {"type": "string"},
                    },
                },
            },
        },
        "Error": {
            "type": "object",
            "required": ["success", "error"],
            "additionalProperties": False,
            "properties": {"success": {"const": False}, "error": {"type": "string"}},
        },
    }


def _create_job(max_body_bytes: int, retry_after_s: int) -> dict[str, Any]:
    return {
        "operationId": "createMathsJob",
        "summary": "Enqueue a maths job",
        "description": f"The body is JSON, at most {max_body_bytes} bytes. A request without a "
        "content-type is read as JSON; any other header (cache-control, postman-token) is "
        "ignored.",
        "parameters": [
            {
                "name": IDEMPOTENCY_HEADER,
                "in": "header",
                "required": False,
                "description": "makes retries safe: a POST with a key used before (and the same "
                "body) creates nothing and answers the first job's id again, with "
                "Idempotent-Replayed: true; the same key with another body is a 409. Keys are "
                "kept for the result retention (24 h by default).",
                "schema": {"type": "string", "pattern": "^[\\x20-\\x7e]{1,255}$"},
                "example": "order-1234-total",
            }
        ],
        "requestBody": {
            "required": True,
            "content": {
                JSON: {
                    "schema": {"$ref": "#/components/schemas/MathsRequest"},
                    "examples": {
                        "now": {"value": {"a": 2, "b": 3, "op": "math:multiply"}},
                        "later": {
                            "value": {"a": 7, "b": 2, "op": "math:divide", "delay_seconds": 5}
                        },
                        "called back": {
                            "value": {
                                "a": 2,
                                "b": 3,
                                "op": "math:add",
                                "callback_url": "https://example.com/hooks/maths",
                            }
                        },
                    },
                }
            },
        },
        "responses": {
            "202": {
                "description": "queued (or, with a known Idempotency-Key, queued before); the "
                "job's status is at Location",
                "headers": {
                    "Location": {
                        "description": "the job's status URL, /maths/{job_id}",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                    "Idempotent-Replayed": {
                        "description": "present, 'true', when the Idempotency-Key was used "
                        "before: nothing new was created",
                        "schema": {"type": "string", "const": "true"},
                    },
                },
                "content": {
                    JSON: {
                        "schema": {"$ref": "#/components/schemas/Accepted"},
                        "example": {"success": True, "res": EXAMPLE_ID},
                    }
                },
            },
            "400": _error("the body is not a valid maths request", "missing field(s): op"),
            "413": _error(
                f"the body is over {max_body_bytes} bytes",
                f"body is {max_body_bytes + 1} bytes; the limit is {max_body_bytes}",
            ),
            "415": _error(
                "the body is declared as something other than JSON",
                "content-type must be application/json, got 'text/plain'",
            ),
            "409": _error(
                "the Idempotency-Key was used before with another body",
                "idempotency key 'order-1234-total' is already used by a job with other params: "
                "use a new key for new work",
            ),
            "500": _not_configured(),
            "503": _unavailable(
                retry_after_s,
                "the job store did not confirm the create: the job may have been created; retry "
                "with the same Idempotency-Key to find out without creating it twice",
            ),
            "507": _error(
                "Redis is out of memory and refuses new jobs: retrying soon will not help",
                "the job store is full: Redis is over its maxmemory and refuses new jobs",
            ),
        },
    }


JOB_ID_PARAMETER = {
    "name": "job_id",
    "in": "path",
    "required": True,
    "description": "`<queue>@<uuid4>`, as POST answered; `@` may be sent as %40",
    "schema": {"type": "string"},
    "example": EXAMPLE_ID,
}


def _status_content() -> dict[str, Any]:
    return {JSON: {"schema": {"$ref": "#/components/schemas/JobStatus"}}}


def _cancel_job(retry_after_s: int) -> dict[str, Any]:
    return {
        "operationId": "cancelMathsJob",
        "summary": "Cancel a job",
        "description": "A PENDING, FUTURE or RETRYING job ends FAILED at once, with error "
        "'cancelled' and `cancelled: true`, and never runs. An ACTIVE job is asked to stop: "
        "the answer shows it ACTIVE; it ends FAILED 'cancelled' unless it completes first.",
        "parameters": [JOB_ID_PARAMETER],
        "responses": {
            "200": {
                "description": "the job's status after the cancel",
                "content": _status_content(),
            },
            "400": _error(
                "the id is not `<queue>@<uuid4>`",
                "job id must look like 'default@<uuid4>', got 'nope'",
            ),
            "404": _error("no such job", f"no job {EXAMPLE_ID}"),
            "409": _error(
                "the job is COMPLETED or FAILED already: it is left as it is",
                f"job {EXAMPLE_ID} is COMPLETED: too late to cancel it",
            ),
            "500": _not_configured(),
            "503": _unavailable(retry_after_s),
        },
    }


def _get_job(retry_after_s: int) -> dict[str, Any]:
    return {
        "operationId": "getMathsJob",
        "summary": "A job's state and result",
        "description": "A body sent with this GET is ignored. With `wait`, the answer comes "
        "as soon as the job is COMPLETED or FAILED, or after `wait` seconds with its state "
        "then (at once when the server's waiters are all busy).",
        "parameters": [
            JOB_ID_PARAMETER,
            {
                "name": "wait",
                "in": "query",
                "required": False,
                "description": "seconds (0 to 25, decimals allowed) to wait for the job's end",
                "schema": {"type": "number", "minimum": 0, "maximum": 25},
                "example": 10,
            },
        ],
        "responses": {
            "200": {
                "description": "the job's state; `res` once COMPLETED, `error` after a failure",
                "content": {
                    JSON: {
                        "schema": {"$ref": "#/components/schemas/JobStatus"},
                        "examples": {
                            "completed": {
                                "value": {"state_code": 6, "status": "COMPLETED", "res": 6}
                            },
                            "failed": {
                                "value": {
                                    "state_code": 5,
                                    "status": "FAILED",
                                    "res": None,
                                    "error": "division by zero",
                                }
                            },
                        },
                    }
                },
            },
            "400": _error(
                "the id is not `<queue>@<uuid4>`, or `wait` is not 0 to 25 seconds",
                "job id must look like 'default@<uuid4>', got 'nope'",
            ),
            "404": _error(
                "no such job, or its result is past its retention", f"no job {EXAMPLE_ID}"
            ),
            "500": _not_configured(),
            "503": _unavailable(retry_after_s),
        },
    }


def _job_ended() -> dict[str, Any]:
    return {
        "post": {
            "operationId": "jobEnded",
            "summary": "A job with a callback_url ended (COMPLETED or FAILED)",
            "description": "POSTed to the job's callback_url, once per end, by a delivery job "
            f"of the '{CALLBACK_QUEUE}' queue: retried with backoff for up to 24 h while the "
            "answer is not 2xx or does not come within 10 s; redirects are not followed. "
            "Deliveries are at least once: the same id and state may come twice. A delivery "
            "job is internal: the public API answers 404 for its id. Check "
            f"{SIGNATURE_HEADER} with chalicelib.jobs.verify_callback, or compute it: "
            "t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<body>' with the shared secret>.",
            "parameters": [
                {
                    "name": SIGNATURE_HEADER,
                    "in": "header",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^t=[0-9]+,v1=[0-9a-f]{64}$"},
                }
            ],
            "requestBody": {
                "required": True,
                "content": {
                    JSON: {
                        "schema": {"$ref": "#/components/schemas/CallbackBody"},
                        "example": {
                            "id": EXAMPLE_ID,
                            "state_code": 6,
                            "status": "COMPLETED",
                            "res": 5,
                        },
                    }
                },
            },
            "responses": {"2XX": {"description": "taken; any other answer is retried"}},
        }
    }


def document(*, max_body_bytes: int, retry_after_s: int) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route of app.py, with its request and answer schemas."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "Chalice Jobs", "version": "1.0.0", "description": DESCRIPTION},
        "servers": [{"url": "http://127.0.0.1:8000", "description": "make run"}],
        "paths": {
            "/maths": {"post": _create_job(max_body_bytes, retry_after_s)},
            "/maths/{job_id}": {
                "get": _get_job(retry_after_s),
                "delete": _cancel_job(retry_after_s),
            },
            "/openapi.json": {
                "get": {
                    "operationId": "getOpenApiDocument",
                    "summary": "This document",
                    "responses": {
                        "200": {
                            "description": "the OpenAPI document",
                            "content": {JSON: {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
            **admin_openapi.paths(retry_after_s),
        },
        "webhooks": {"jobEnded": _job_ended()},
        "components": {
            "schemas": _schemas(),
            "securitySchemes": admin_openapi.SECURITY_SCHEMES,
        },
    }
