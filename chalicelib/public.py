"""What the public API shows, and how every answer is sent: nothing internal, nothing cached.

- A job of a queue the jobs package runs for itself (a callback delivery) does not exist for the
  public API: reading, waiting on or cancelling it answers 404 exactly as an unknown id does.
- A status answer leaves out the id of the job's callback delivery (an internal job); operators
  find deliveries through the admin API.
- Every answer carries SAFE_HEADERS: no cache keeps a job's result, and no browser guesses a
  type other than the one declared.
- The OpenAPI document lists the /admin routes only while the admin surface exists.
"""

from __future__ import annotations

from typing import Any

from chalice import Response

from chalicelib.jobs import JobNotFound, JobStatus
from chalicelib.jobs.callbacks import INTERNAL_QUEUES
from chalicelib.jobs.model import parse_job_id

SAFE_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
ADMIN_PREFIX = "/admin"


def public_job_id(job_id: str) -> str:
    """The id, if the public API may know its job; JobNotFound, worded as for an unknown id,
    for a job of an internal queue (InvalidJobId, as anywhere, for an id that is not one)."""
    queue, _ = parse_job_id(job_id)
    if queue in INTERNAL_QUEUES:
        raise JobNotFound(f"no job {job_id}")
    return job_id


def status_body(status: JobStatus) -> dict[str, Any]:
    """The status answer: state code, status name, result (null until there is one), and the
    error of a failed attempt, `cancelled` and the handler's `progress` when there are."""
    body = status.body()
    body.pop("callback_id", None)
    return body


def with_safe_headers(response: Response) -> Response:
    """The answer with SAFE_HEADERS added (a header the view set itself is kept)."""
    present = {name.lower() for name in response.headers}
    for name, value in SAFE_HEADERS.items():
        if name.lower() not in present:
            response.headers[name] = value
    return response


def visible_document(document: dict[str, Any], admin_enabled: bool) -> dict[str, Any]:
    """The OpenAPI document as served: without the /admin routes and their security scheme
    while there is no admin surface (every /admin path answers 404 then)."""
    if admin_enabled:
        return document
    paths = {p: item for p, item in document["paths"].items() if not p.startswith(ADMIN_PREFIX)}
    components = {k: v for k, v in document["components"].items() if k != "securitySchemes"}
    return {**document, "paths": paths, "components": components}
