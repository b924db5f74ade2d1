"""What a job type's routes read from a request before any job is touched: the body (size and
content type), the `wait` parameter, the job id of the path, and where a new job's status lives.

Each refusal is a RequestRefused, which app.py answers in the one error shape with its status.
"""

from __future__ import annotations

import math
from urllib.parse import unquote

from chalice.app import Request

from chalicelib import public
from chalicelib.echo import ECHO_LIMIT, echo
from chalicelib.jobs import InvalidJobId
from chalicelib.jobs.model import parse_job_id
from chalicelib.jobs.waiting import MAX_WAIT_S

MAX_BODY_BYTES = 16 * 1024


class RequestRefused(Exception):
    """A request refused before it reaches the jobs: its status code and the client's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def json_body(request: Request, max_bytes: int = MAX_BODY_BYTES) -> bytes:
    """The request's body, if it is at most `max_bytes` and declared JSON (or not declared):
    else a 413 or a 415."""
    raw = request.raw_body
    body = raw.encode() if isinstance(raw, str) else raw
    if len(body) > max_bytes:
        raise RequestRefused(413, f"body is {len(body)} bytes; the limit is {max_bytes}")
    content_type = request.headers.get("content-type", "application/json")
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise RequestRefused(
            415, f"content-type must be application/json, got {echo(content_type)}"
        )
    return body


def location_of(request: Request, job_id: str, route: str) -> str:
    """Where the job's status lives, under the path the client used (with API Gateway's stage
    prefix, such as /api, when it has one), else under /<route>: always a path that has GET."""
    path = request.context.get("path") or f"/{route}"
    return f"{path.rstrip('/')}/{job_id}"


def wait_seconds(request: Request) -> float | None:
    """The request's `wait` query parameter: seconds from 0 to 25 (decimals allowed), None
    when absent; anything else is a 400."""
    params = request.query_params
    raw = None if params is None else params.get("wait")
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and 0 <= seconds <= MAX_WAIT_S):
        raise RequestRefused(400, f"wait must be 0 to {MAX_WAIT_S:g} seconds, got {echo(raw)}")
    return seconds


def checked_job_id(job_id: str) -> str:
    """The path's job id, decoded (API Gateway passes `@` as %40); an id too long to quote
    whole is refused here, shown cut; a job of an internal queue is not found."""
    job_id = unquote(job_id)
    if len(job_id) > ECHO_LIMIT:
        try:
            parse_job_id(job_id)
        except InvalidJobId:
            raise RequestRefused(
                400, f"job id must look like 'default@<uuid4>', got {echo(job_id)}"
            ) from None
    return public.public_job_id(job_id)
