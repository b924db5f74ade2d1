"""The admin surface's part of the OpenAPI document (chalicelib/openapi.py merges it in)."""

from __future__ import annotations

from typing import Any

from chalicelib.jobs.inspector import MAX_DAYS, MAX_PAGE
from chalicelib.jobtypes.openapi import JOB_ID_PATTERN, QUEUE_PATTERN

JSON = "application/json"
ERROR = {"$ref": "#/components/schemas/Error"}
BEARER: list[dict[str, list[str]]] = [{"adminToken": []}]
SECURITY_SCHEMES = {
    "adminToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "JOBS_ADMIN_TOKEN, or the secret JOBS_ADMIN_SECRET_ID names",
    }
}
NOTE = (
    " Under /admin: every answer has Cache-Control: no-store, and every path answers 404 while "
    "no admin token is configured."
)


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": ERROR}}}


def _ok(description: str, properties: dict[str, Any]) -> dict[str, Any]:
    schema = {
        "type": "object",
        "required": ["success", *properties],
        "properties": {"success": {"type": "boolean", "const": True}, **properties},
    }
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _param(
    name: str, where: str, description: str, schema: dict[str, Any], *, required: bool = False
) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "description": description,
        "schema": schema,
    }


QUEUE = _param("queue", "path", "a queue name", {"type": "string", "pattern": QUEUE_PATTERN})
JOB_ID = _param(
    "job_id", "path", "`<queue>@<uuid4>`", {"type": "string", "pattern": JOB_ID_PATTERN}
)
STATES = ["ACTIVE", "PENDING", "FUTURE", "RETRYING", "FAILED", "COMPLETED"]
LIST = {"type": "array", "items": {"type": "object"}}


def _operation(
    op_id: str,
    summary: str,
    ok: dict[str, Any],
    *,
    params: list[dict[str, Any]] | None = None,
    statuses: tuple[int, ...] = (),
    retry_after_s: int,
) -> dict[str, Any]:
    errors = {
        400: "a bad parameter (state, limit, cursor, days, job id)",
        401: "no Authorization: Bearer header, or a wrong token",
        404: "no such job or queue; or no admin token is configured",
        409: "the job's state does not allow this (retry: FAILED, RETRYING or FUTURE jobs; "
        "delete: any but ACTIVE)",
        503: "Redis did not answer",
    }
    responses: dict[str, Any] = {"200": ok}
    for status in (400, 401, 404, *statuses, 503):
        responses[str(status)] = _error(errors[status])
    responses["503"]["headers"] = {
        "Retry-After": {
            "required": True,
            "schema": {"type": "string", "const": str(retry_after_s)},
        }
    }
    return {
        "operationId": op_id,
        "summary": summary,
        "description": summary + "." + NOTE,
        "tags": ["admin"],
        "security": BEARER,
        "parameters": params or [],
        "responses": responses,
    }


def _page(op_id: str, summary: str, content_type: str) -> dict[str, Any]:
    return {
        "operationId": op_id,
        "summary": summary,
        "description": summary + " (public: it holds no data)." + NOTE,
        "tags": ["admin"],
        "responses": {
            "200": {
                "description": summary,
                "content": {content_type: {"schema": {"type": "string"}}},
            },
            "404": _error("no admin token is configured (or no such file)"),
        },
    }


def paths(retry_after_s: int) -> dict[str, Any]:
    """The /admin paths of the document."""
    r = retry_after_s
    job = {
        "type": "object",
        "description": "id, queue, type, params, state, retried, max_retry, error, errors, "
        "created/started/completed/next-run times, result",
    }
    return {
        "/admin": {"get": _page("adminDashboard", "The dashboard page", "text/html")},
        "/admin/{name}": {
            "get": {
                **_page("adminStatic", "The dashboard's script or style", "text/javascript"),
                "parameters": [
                    _param(
                        "name",
                        "path",
                        "the file",
                        {"type": "string", "enum": ["dashboard.js", "dashboard.css"]},
                    )
                ],
            }
        },
        "/admin/api/queues": {
            "get": _operation(
                "adminQueues",
                "Every queue: counts per state, paused, today's counters, backlog age",
                _ok("the queues", {"queues": LIST}),
                retry_after_s=r,
            )
        },
        "/admin/api/queues/{queue}/jobs": {
            "get": _operation(
                "adminJobs",
                "A page of a queue's jobs in one state",
                _ok(
                    "the page; cursor is null on the last",
                    {"jobs": LIST, "cursor": {"type": ["string", "null"]}},
                ),
                params=[
                    QUEUE,
                    _param(
                        "state",
                        "query",
                        "the state (case does not matter)",
                        {"type": "string", "enum": STATES},
                        required=True,
                    ),
                    _param(
                        "limit",
                        "query",
                        f"jobs per page (default 50, at most {MAX_PAGE})",
                        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 50},
                    ),
                    _param(
                        "cursor", "query", "the cursor of the previous page", {"type": "string"}
                    ),
                ],
                retry_after_s=r,
            )
        },
        "/admin/api/queues/{queue}/history": {
            "get": _operation(
                "adminHistory",
                "Processed and failed attempts per day (UTC), today last",
                _ok("one row a day", {"history": LIST}),
                params=[
                    QUEUE,
                    _param(
                        "days",
                        "query",
                        f"days back, today included (default 7, at most {MAX_DAYS})",
                        {"type": "integer", "minimum": 1, "maximum": MAX_DAYS, "default": 7},
                    ),
                ],
                retry_after_s=r,
            )
        },
        "/admin/api/queues/{queue}/pause": {
            "post": _operation(
                "adminPause",
                "Pause a queue: workers take nothing from it; creating still works",
                _ok(
                    "paused",
                    {"paused": {"type": "boolean", "const": True}, "changed": {"type": "boolean"}},
                ),
                params=[QUEUE],
                retry_after_s=r,
            )
        },
        "/admin/api/queues/{queue}/resume": {
            "post": _operation(
                "adminResume",
                "Resume a paused queue",
                _ok(
                    "resumed",
                    {"paused": {"type": "boolean", "const": False}, "changed": {"type": "boolean"}},
                ),
                params=[QUEUE],
                retry_after_s=r,
            )
        },
        "/admin/api/queues/{queue}/retry-failed": {
            "post": _operation(
                "adminRetryFailed",
                "Make every FAILED job of a queue PENDING now",
                _ok("how many", {"retried": {"type": "integer"}}),
                params=[QUEUE],
                retry_after_s=r,
            )
        },
        "/admin/api/jobs/{job_id}": {
            "get": _operation(
                "adminJob",
                "Everything about one job",
                _ok("the job", {"job": job}),
                params=[JOB_ID],
                retry_after_s=r,
            ),
            "delete": _operation(
                "adminDeleteJob",
                "Delete a job that is not ACTIVE",
                _ok("deleted", {"deleted": {"type": "string"}}),
                params=[JOB_ID],
                statuses=(409,),
                retry_after_s=r,
            ),
        },
        "/admin/api/jobs/{job_id}/retry": {
            "post": _operation(
                "adminRetryJob",
                "Make a FAILED, RETRYING or FUTURE job PENDING now",
                _ok("retried", {"retried": {"type": "string"}}),
                params=[JOB_ID],
                statuses=(409,),
                retry_after_s=r,
            )
        },
        "/admin/api/metrics": {
            "get": _operation(
                "adminMetrics",
                "Every queue's jobs per state and oldest pending age, in the Prometheus text "
                "format (jobs_queue_jobs, jobs_queue_oldest_pending_seconds)",
                {
                    "description": "the Prometheus text format, version 0.0.4",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                retry_after_s=r,
            )
        },
        "/admin/api/workers": {
            "get": _operation(
                "adminWorkers",
                "Live long-running workers, from their heartbeats",
                _ok("the workers", {"workers": LIST}),
                retry_after_s=r,
            )
        },
    }
