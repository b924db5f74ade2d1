"""The admin Blueprint: thin routes over the jobs package's Inspector, and the dashboard.

Every /admin answer is uncacheable and carries a strict Content-Security-Policy. Without a
configured token every /admin path answers 404; the API under /admin/api wants
`Authorization: Bearer <token>` (else 401). The page, script and style are public: they hold
no data, and the page asks for the token.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from importlib import resources
from typing import Any
from urllib.parse import unquote

from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib.admin import audit
from chalicelib.admin.auth import AdminNotConfigured, authorized
from chalicelib.jobs import InvalidJob, JobController, JobsUnavailable
from chalicelib.jobs.inspector import MAX_DAYS, MAX_PAGE, Inspector
from chalicelib.service import admin_token

PREFIX = "/admin"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
#: headers of every /admin answer
ADMIN_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
STATIC = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}

ErrorResponse = Callable[..., Response]
View = Callable[..., Response]


def _static(name: str) -> str:
    return resources.files(__package__).joinpath(f"static/{name}").read_text()


def query(request: Request, name: str) -> str | None:
    params = request.query_params
    return None if params is None else params.get(name)


def _int_param(request: Request, name: str, default: int, most: int) -> int:
    raw = query(request, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= most:
        raise InvalidJob(f"{name} must be an integer from 1 to {most}")
    return value


class _Edge:
    """What the app lends the Blueprint (set by admin_blueprint): its controller and its one
    error shape, so that errors are answered as everywhere else in the app."""

    get_controller: Callable[[], JobController]
    answers_errors: Callable[[View], View]
    error_response: ErrorResponse


_edge = _Edge()
bp = Blueprint(__name__)


def admin_blueprint(
    get_controller: Callable[[], JobController],
    answers_errors: Callable[[View], View],
    error_response: ErrorResponse,
) -> Blueprint:
    """The Blueprint to register under /admin, answering errors with the app's
    `answers_errors` and `error_response`."""
    _edge.get_controller = get_controller
    _edge.answers_errors = answers_errors
    _edge.error_response = error_response
    return bp


def api_view(view: View) -> View:
    """The app's error answers around an API view."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        return _edge.answers_errors(view)(*args, **kwargs)

    return wrapper


def audited(action: str) -> Callable[[View], View]:
    """Log the view's action (not a GET) as one audit line, with its target (the path's queue
    or job id) and the status it answered, whatever that was."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(**kwargs: str) -> Response:
            status = 500  # unless the view answers
            try:
                response = view(**kwargs)
                status = response.status_code
                return response
            finally:
                if request().method != "GET":
                    target = unquote(next(iter(kwargs.values()), ""))
                    audit.record(action, target, status, request())

        return wrapper

    return decorate


def inspector() -> Inspector:
    return _edge.get_controller().inspector


def request() -> Request:
    assert bp.current_request is not None
    return bp.current_request


def ok(**body: Any) -> Response:
    return Response(body={"success": True, **body}, status_code=200)


@bp.middleware("http")
def guard(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """Every /admin path: 404 without a configured token, 401 for the API without the
    token; the admin headers on every answer."""
    if not event.path.startswith(PREFIX):
        return get_response(event)
    try:
        token = admin_token()
    except JobsUnavailable as exc:
        bp.log.error("%s", exc)
        response = _edge.error_response(503, "the admin token cannot be read; see the log")
    except AdminNotConfigured as exc:
        bp.log.error("%s", exc)
        response = _edge.error_response(500, "the admin surface is not configured; see its log")
    else:
        if token is None:
            response = _edge.error_response(404, "not found")
        elif event.path.startswith(f"{PREFIX}/api") and not authorized(
            event.headers.get("authorization"), token
        ):
            response = _edge.error_response(
                401,
                "send Authorization: Bearer <the admin token>",
                {"WWW-Authenticate": 'Bearer realm="chalice-jobs admin"'},
            )
        else:
            response = get_response(event)
    response.headers.update(ADMIN_HEADERS)
    return response


# -- the dashboard -----------------------------------------------------------------------------


@bp.route("/", methods=["GET"], content_types=["*/*"])
def dashboard() -> Response:
    """The dashboard page; its script and style are served next to it."""
    path = (request().context.get("path") or PREFIX).rstrip("/")
    base = path if path.endswith(PREFIX) else PREFIX
    html = _static("dashboard.html").replace("{{BASE}}", base)
    return Response(html, status_code=200, headers={"Content-Type": "text/html; charset=utf-8"})


@bp.route("/{name}", methods=["GET"], content_types=["*/*"])
def static_file(name: str) -> Response:
    """The dashboard's script and style (nothing else is served)."""
    if name not in STATIC:
        return _edge.error_response(404, "not found")
    return Response(_static(name), status_code=200, headers={"Content-Type": STATIC[name]})


# -- the API -----------------------------------------------------------------------------------


@bp.route("/api/queues", methods=["GET"], content_types=["*/*"])
@api_view
def list_queues() -> Response:
    return ok(queues=[q.as_dict() for q in inspector().queues()])


@bp.route("/api/queues/{queue}/jobs", methods=["GET"], content_types=["*/*"])
@api_view
def list_jobs(queue: str) -> Response:
    state = query(request(), "state")
    if not state:
        raise InvalidJob("the state query parameter is required (FAILED, PENDING...)")
    page = inspector().jobs(
        queue,
        state,
        limit=_int_param(request(), "limit", 50, MAX_PAGE),
        cursor=query(request(), "cursor") or None,
    )
    return ok(jobs=[j.as_dict() for j in page.jobs], cursor=page.cursor)


@bp.route("/api/queues/{queue}/history", methods=["GET"], content_types=["*/*"])
@api_view
def queue_history(queue: str) -> Response:
    rows = inspector().history(queue, _int_param(request(), "days", 7, MAX_DAYS))
    return ok(
        history=[{"date": r.date, "processed": r.processed, "failed": r.failed} for r in rows]
    )


@bp.route("/api/queues/{queue}/pause", methods=["POST"], content_types=["*/*"])
@audited("pause")
@api_view
def pause_queue(queue: str) -> Response:
    return ok(paused=True, changed=inspector().pause(queue))


@bp.route("/api/queues/{queue}/resume", methods=["POST"], content_types=["*/*"])
@audited("resume")
@api_view
def resume_queue(queue: str) -> Response:
    return ok(paused=False, changed=inspector().resume(queue))


@bp.route("/api/queues/{queue}/retry-failed", methods=["POST"], content_types=["*/*"])
@audited("retry_failed")
@api_view
def retry_failed(queue: str) -> Response:
    return ok(retried=inspector().retry_failed(queue))


@bp.route("/api/jobs/{job_id}", methods=["GET", "DELETE"], content_types=["*/*"])
@audited("delete")
@api_view
def one_job(job_id: str) -> Response:
    job_id = unquote(job_id)  # API Gateway passes path parameters percent-encoded
    if request().method == "DELETE":
        inspector().delete(job_id)
        return ok(deleted=job_id)
    return ok(job=inspector().job(job_id).as_dict())


@bp.route("/api/jobs/{job_id}/retry", methods=["POST"], content_types=["*/*"])
@audited("retry")
@api_view
def retry_job(job_id: str) -> Response:
    job_id = unquote(job_id)
    inspector().retry(job_id)
    return ok(retried=job_id)


@bp.route("/api/workers", methods=["GET"], content_types=["*/*"])
@api_view
def list_workers() -> Response:
    return ok(workers=[w.as_dict() for w in inspector().workers()])
