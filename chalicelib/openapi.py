"""The API's OpenAPI 3.1 document, built from the limits the code enforces.

`GET /openapi.json` serves it, and `openapi.json` at the project's root is the same document
written out (`make openapi`); a test keeps the two, the routes and the real answers in step, and
another generates a Python client from it and calls the app with it. Each job type's paths and
schemas come from its declaration (chalicelib/jobtypes/openapi.py). Every schema has a type, so
that clients generated from the document are typed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chalicelib.admin import openapi as admin_openapi
from chalicelib.jobs.callbacks import CALLBACK_QUEUE, SIGNATURE_HEADER
from chalicelib.jobtypes import openapi as jobtype_openapi
from chalicelib.jobtypes.declaration import JobType
from chalicelib.jobtypes.openapi import (
    EXAMPLE_ID,
    IDEMPOTENCY_HEADER,
    JOB_ID_PATTERN,
    JSON,
    status_schema,
)

__all__ = ["IDEMPOTENCY_HEADER", "JOB_ID_PATTERN", "document"]

DESCRIPTION = """\
An asynchronous job API. POST a job to its type's route, get its id at once (202), then GET
/<route>/{job_id} for its state and result. States: 1 ACTIVE, 2 PENDING, 3 FUTURE, 4 RETRYING,
5 FAILED, 6 COMPLETED.

Every error the app answers has the shape {"success": false, "error": "<what is wrong>"}: the
statuses listed under each operation, and 405 (a method a path does not have, with an Allow
header). Input shown back in an error is cut to its first 100 characters. A path the API does not
have is answered by API Gateway itself (403 {"message": "Missing Authentication Token"}), not by
the app, and so is OPTIONS."""


def _schemas(job_types: Iterable[JobType]) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    results: list[dict[str, Any]] = []
    for job_type in job_types:
        schemas.update(jobtype_openapi.schemas(job_type))
        results.append(dict(job_type.result))
    status = status_schema({"anyOf": results} if len(results) > 1 else results[0])
    told = status["properties"]
    schemas["CallbackBody"] = {
        **status,
        "description": "what a callback POSTs: the status of the job that ended, with its id",
        "required": ["id", *status["required"]],
        "properties": {"id": {"type": "string", "pattern": JOB_ID_PATTERN}, **told},
    }
    return {**schemas, **_shared_schemas()}


def _shared_schemas() -> dict[str, Any]:
    return {
        "Accepted": {
            "type": "object",
            "required": ["success", "res"],
            "additionalProperties": False,
            "properties": {
                "success": {"type": "boolean", "const": True},
                "res": {"type": "string", "pattern": JOB_ID_PATTERN, "description": "the job id"},
            },
        },
        "Progress": {
            "type": "object",
            "required": ["fraction"],
            "additionalProperties": False,
            "description": "the handler's latest report, while ACTIVE and after",
            "properties": {
                "fraction": {"type": "number", "minimum": 0, "maximum": 1},
                "message": {"type": "string"},
            },
        },
        "Error": {
            "type": "object",
            "required": ["success", "error"],
            "additionalProperties": False,
            "properties": {
                "success": {"type": "boolean", "const": False},
                "error": {"type": "string"},
            },
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


def document(
    job_types: Iterable[JobType], *, max_body_bytes: int, retry_after_s: int
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route of app.py, with its request and answer schemas:
    the paths of each job type in `job_types`, this document's, and the admin surface's."""
    job_types = tuple(job_types)
    paths: dict[str, Any] = {}
    for job_type in job_types:
        paths.update(jobtype_openapi.paths(job_type, max_body_bytes, retry_after_s))
    return {
        "openapi": "3.1.0",
        "info": {"title": "Chalice Jobs", "version": "1.0.0", "description": DESCRIPTION},
        "servers": [{"url": "http://127.0.0.1:8000", "description": "make run"}],
        "paths": {
            **paths,
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
            "schemas": _schemas(job_types),
            "securitySchemes": admin_openapi.SECURITY_SCHEMES,
        },
    }
