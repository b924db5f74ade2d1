"""Chalice Jobs on AWS: the job types' routes and the worker functions.

A table of contents. Each installed job type (chalicelib/jobtypes/installed.py) gets its three
routes from `serve`: each reads the request, makes one call into chalicelib and shapes the
answer. Each worker function drains the queues for the time its invocation has left. Importing
this module connects to nothing and imports no boto3 (cold starts): the controller is built on
first use and reused by every later invocation of the process.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from chalice import Chalice, Rate, Response
from chalice.app import CloudWatchEvent, Request

from chalicelib import openapi, public
from chalicelib.admin.routes import admin_blueprint
from chalicelib.echo import echo
from chalicelib.jobs import (
    IdempotencyConflict,
    InvalidJob,
    InvalidJobId,
    JobController,
    JobNotFound,
    JobStateConflict,
    JobStoreFull,
    JobsUnavailable,
)
from chalicelib.jobtypes import InvalidRequest, JobType
from chalicelib.jobtypes.callback_guard import refuse_link_local
from chalicelib.jobtypes.edge import (
    MAX_BODY_BYTES,
    RequestRefused,
    checked_job_id,
    json_body,
    location_of,
    wait_seconds,
)
from chalicelib.jobtypes.installed import job_types
from chalicelib.redis_url import RedisNotConfigured
from chalicelib.service import admin_enabled, build_app_controller, idle_exit_s, metrics_service
from chalicelib.worker_lambda import LambdaContext, run_worker

app = Chalice(app_name="chalice-jobs")

#: after a 503, when a client may try again
RETRY_AFTER_S = 1

_controller: JobController | None = None
_controller_lock = threading.Lock()
#: why no Redis is configured, as logged already: a dev app without Redis says so once
_logged_unconfigured: set[str] = set()


def get_controller() -> JobController:
    """The process's controller, built from the environment on first use (connecting to
    nothing yet) and reused by every later request and invocation. Raises RedisNotConfigured
    while the environment names no Redis (see chalicelib/redis_url.py); nothing is kept then,
    so a local stack started later is found by the next call."""
    global _controller
    with _controller_lock:
        if _controller is None:
            _controller = build_app_controller()
        return _controller


def reset_controller() -> None:
    """Forget the controller, so the next use builds one from the environment again (tests)."""
    global _controller
    with _controller_lock:
        _controller = None
        _logged_unconfigured.clear()


# -- errors at the edge ------------------------------------------------------------------------


#: the answer to each error a view may meet; the first match wins
_ERROR_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (InvalidRequest, 400),
    (InvalidJobId, 400),
    (JobStateConflict, 409),
    (InvalidJob, 400),
    (JobNotFound, 404),
    (IdempotencyConflict, 409),
    (JobStoreFull, 507),
    (JobsUnavailable, 503),
)
#: what a 503 says; a create whose reply was lost may have written the job, and says so
UNAVAILABLE = "the job store is unavailable, try again shortly"
CREATE_UNCONFIRMED = (
    "the job store did not confirm the create: the job may have been created; retry with the "
    "same Idempotency-Key to find out without creating it twice"
)


def error_response(
    status: int, message: str, headers: dict[str, str | list[str]] | None = None
) -> Response:
    """The one error shape of every answer the app makes: {"success": false, "error": ...};
    a 503 also says when to try again."""
    headers = dict(headers or {})
    if status == 503:
        headers["Retry-After"] = str(RETRY_AFTER_S)
    return Response(body={"success": False, "error": message}, status_code=status, headers=headers)


def answers_errors(view: Callable[..., Response]) -> Callable[..., Response]:
    """Turn a client's mistake or an unreachable Redis into its 4xx/503/507 JSON answer."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            return view(*args, **kwargs)
        except RequestRefused as exc:
            return error_response(exc.status, str(exc))
        except RedisNotConfigured as exc:
            if exc.refuses_to_start:
                # a deployed stage without its Redis: the operator reads what is missing in the
                # log; the client learns nothing about the configuration
                app.log.error("%s", exc)
                return error_response(500, "the service is not configured; see its log")
            if str(exc) not in _logged_unconfigured:
                _logged_unconfigured.add(str(exc))
                # error, not warning: the app's logger shows errors only unless debug is on
                app.log.error("%s", exc)
            return error_response(503, str(exc))
        except tuple(error for error, _ in _ERROR_STATUS) as exc:
            status = next(code for error, code in _ERROR_STATUS if isinstance(exc, error))
            if status == 503:
                app.log.warning("jobs unavailable: %s", exc)
                request = app.current_request
                creating = request is not None and request.method == "POST"
                unconfirmed = creating and getattr(exc, "may_have_written", False)
                return error_response(503, CREATE_UNCONFIRMED if unconfirmed else UNAVAILABLE)
            if status == 507:
                app.log.error("%s", exc)
            return error_response(status, str(exc))

    return wrapper


#: Chalice's own error answers -> what the client is told, in the app's shape
_CHALICE_ERRORS: dict[str, str] = {
    "InternalServerError": "internal error; the service log has the details",
}


@app.middleware("http")
def one_error_shape(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """Answers that Chalice makes itself (405 for a method a route lacks, 500 for an error no
    view expected) get the app's error shape instead of {"Code": ..., "Message": ...}, and
    every answer says it is JSON (Chalice leaves that to API Gateway's default)."""
    response = get_response(event)
    if not any(name.lower() == "content-type" for name in response.headers):
        response.headers["Content-Type"] = "application/json"
    body = response.body
    if not (isinstance(body, dict) and set(body) == {"Code", "Message"}):
        return response
    if body["Code"] == "MethodNotAllowedError":
        allowed = response.headers.get("Allow", "")
        message = f"method {echo(event.method)} is not allowed here; allowed: {allowed}"
    else:
        message = _CHALICE_ERRORS.get(body["Code"], str(body["Message"]))
    return error_response(response.status_code, message, response.headers)


@app.middleware("http")
def safe_headers(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """Every answer: not cached, and not sniffed as another type (chalicelib/public.py)."""
    return public.with_safe_headers(get_response(event))


# -- routes ------------------------------------------------------------------------------------


def current_request() -> Request:
    """The request a view is answering (Chalice sets it before calling the view)."""
    request = app.current_request
    assert request is not None
    return request


def serve(job_type: JobType) -> None:
    """`POST /<route>`, `GET /<route>/{job_id}` and `DELETE /<route>/{job_id}` for a job type."""
    route = job_type.route

    def create() -> Response:
        """Enqueue a job; 202 with its id, and its status URL in Location. With an
        Idempotency-Key used before, 202 with the first job's id and Idempotent-Replayed: true.
        With a callback_url, the job's end is POSTed there (400 for a URL that is not allowed)."""
        request = job_type.parse_body(json_body(current_request(), MAX_BODY_BYTES))
        controller = get_controller()
        if request.callback_url and controller.settings.callback_allow_private:
            refuse_link_local(request.callback_url)
        submitted = controller.submit(
            request.job_type,
            request.params,
            process_in=request.delay_seconds or None,
            idempotency_key=current_request().headers.get(openapi.IDEMPOTENCY_HEADER),
            callback_url=request.callback_url,
        )
        headers = {"Location": location_of(current_request(), submitted.job_id, route)}
        if submitted.replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(
            body={"success": True, "res": submitted.job_id}, status_code=202, headers=headers
        )

    def read(job_id: str) -> Response:
        """The job's state and result; with `?wait=N`, as soon as it is COMPLETED or FAILED or
        after N seconds. A body, as the original sample request sends, is ignored."""
        job_id, wait = checked_job_id(job_id), wait_seconds(current_request())
        controller = get_controller()
        status = controller.get_status(job_id) if wait is None else controller.wait(job_id, wait)
        return Response(body=public.status_body(status), status_code=200)

    def cancel(job_id: str) -> Response:
        """Cancel a job: 200 with its status (FAILED "cancelled", or ACTIVE and asked to stop);
        409 when it is COMPLETED or FAILED already."""
        status = get_controller().cancel(checked_job_id(job_id))
        return Response(body=public.status_body(status), status_code=200)

    name = route.replace("-", "_")
    for view, verb, path, method in (
        (create, "create", f"/{route}", "POST"),
        (read, "get", f"/{route}/{{job_id}}", "GET"),
        (cancel, "cancel", f"/{route}/{{job_id}}", "DELETE"),
    ):
        view.__name__ = view.__qualname__ = f"{verb}_{name}_job"
        # content_types=["*/*"]: Chalice would answer other types itself, in its own format
        app.route(path, methods=[method], content_types=["*/*"])(answers_errors(view))


for _job_type in job_types():
    serve(_job_type)


# content_types=["*/*"]: Chalice would answer other types itself, in its own error format
@app.route("/openapi.json", methods=["GET"], content_types=["*/*"])
def openapi_document() -> Response:
    """This API's OpenAPI 3.1 document (the same as openapi.json at the project's root)."""
    document = openapi.document(
        job_types(), max_body_bytes=MAX_BODY_BYTES, retry_after_s=RETRY_AFTER_S
    )
    return Response(body=public.visible_document(document, admin_enabled()), status_code=200)


# the operators' API and dashboard (chalicelib/admin): 404 unless an admin token is configured
app.register_blueprint(
    admin_blueprint(lambda: get_controller(), answers_errors, error_response), url_prefix="/admin"
)


# -- workers -----------------------------------------------------------------------------------


@app.schedule(Rate(1, unit=Rate.MINUTES))
def worker(event: CloudWatchEvent) -> dict[str, Any]:
    """Every minute: drain the queues until the invocation has too little time left, or, when
    the kick is configured, until JOBS_IDLE_EXIT_S pass with no job (the kick starts the next)."""
    context: LambdaContext = event.context  # type: ignore[assignment]
    return run_worker(
        get_controller(), context, service=metrics_service(), idle_exit_s=idle_exit_s()
    )


@app.lambda_function(name="worker_kick")
def worker_kick(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The same drain, started by the API's asynchronous kick right after an enqueue."""
    return run_worker(
        get_controller(), context, service=metrics_service(), idle_exit_s=idle_exit_s()
    )
