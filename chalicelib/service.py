"""The app's JobController, wired from the environment: settings, job types' handlers, the kick.

Shared by the Lambda functions in app.py and anything else that runs this app's jobs, so that a
job created by the API is always understood by whoever runs it. The app's own variables are
read here (the jobs package reads its JOBS_* settings in chalicelib/jobs/config.py), once per
controller.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from typing import Any

from chalicelib import redis_url
from chalicelib.admin.auth import checked_token, secret_token
from chalicelib.aws import WorkerKicker, read_secret_once
from chalicelib.jobs import InvalidSettings, JobController
from chalicelib.jobs.config import TRUE_WORDS
from chalicelib.jobtypes.installed import job_types
from chalicelib.worker_lambda import DEFAULT_SERVICE

log = logging.getLogger("chalicelib.service")

#: A suppressed kick must mean a kicked worker is still taking jobs, so this stays below the time
#: it does (its lambda_timeout less the reserve and JOBS_TIMEOUT_S: 30 - 2.5 - 10 in prod).
DEFAULT_KICK_DEBOUNCE_S = 15.0
DEFAULT_METRICS_SERVICE = DEFAULT_SERVICE
#: A kicked worker must listen at least as long as the kicks it suppresses (the debounce), or a
#: job enqueued just after it left would wait for the next scheduled worker: hence not below it.
DEFAULT_IDLE_EXIT_S = DEFAULT_KICK_DEBOUNCE_S


def build_controller(environ: Mapping[str, str] | None = None, **overrides: Any) -> JobController:
    """A controller from the JOBS_* variables with the handlers of every installed job type
    (chalicelib/jobtypes/installed.py) registered, which kicks
    the function named by JOBS_KICK_FUNCTION (if set) after an enqueue, at most once per
    JOBS_KICK_DEBOUNCE_S seconds per queue, and reads its secrets from Secrets Manager. Keyword
    `overrides` (Settings fields: redis_url, queues, concurrency...) win over the variables.
    Connects to nothing and imports no boto3."""
    environ = os.environ if environ is None else environ
    overrides = {"read_secret": read_secret_once, **overrides, **callback_policy(environ)}
    controller = JobController.from_env(environ, **overrides)
    for job_type in job_types():
        for name, handler in job_type.handlers.items():
            controller.add_handler(name, handler)
    kick_function = environ.get("JOBS_KICK_FUNCTION", "").strip()
    if kick_function:
        controller.set_kick(WorkerKicker(kick_function), debounce=kick_debounce_s(environ))
    return controller


def callback_policy(environ: Mapping[str, str]) -> dict[str, Any]:
    """Settings overrides that hold whatever the environment says: outside the dev stage a
    callback may never reach a private address (JOBS_CALLBACK_ALLOW_PRIVATE is ignored, with a
    warning), since on AWS that would open the VPC and the metadata address to any client."""
    allow = environ.get("JOBS_CALLBACK_ALLOW_PRIVATE", "").strip().lower() in TRUE_WORDS
    stage = redis_url.stage_of(environ)
    if not allow or stage == redis_url.DEV_STAGE:
        return {}
    log.warning(
        "JOBS_CALLBACK_ALLOW_PRIVATE is ignored on stage %r: callbacks go to public https "
        "addresses only",
        stage,
    )
    return {"callback_allow_private": False}


def build_app_controller(environ: Mapping[str, str] | None = None) -> JobController:
    """The API's and the worker Lambdas' controller: build_controller on the Redis that
    chalicelib/redis_url.py chooses for this stage. Raises RedisNotConfigured when none is."""
    environ = os.environ if environ is None else environ
    url, _ = redis_url.resolve(environ)
    return build_controller(environ, redis_url=url)


def metrics_service(environ: Mapping[str, str] | None = None) -> str:
    """The Service dimension of the worker's metrics: JOBS_METRICS_SERVICE, else the app's."""
    environ = os.environ if environ is None else environ
    return environ.get("JOBS_METRICS_SERVICE", "").strip() or DEFAULT_METRICS_SERVICE


def kick_debounce_s(environ: Mapping[str, str]) -> float:
    raw = environ.get("JOBS_KICK_DEBOUNCE_S", "").strip()
    if not raw:
        return DEFAULT_KICK_DEBOUNCE_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and value > 0):
        raise InvalidSettings(f"JOBS_KICK_DEBOUNCE_S={raw!r} is not a positive number of seconds")
    return value


def idle_exit_s(environ: Mapping[str, str] | None = None) -> float:
    """Seconds without a job after which a worker function stops draining: JOBS_IDLE_EXIT_S
    (default DEFAULT_IDLE_EXIT_S, 0 disables), raised to the kick's debounce if below it; 0
    when JOBS_KICK_FUNCTION is not set, since then nothing would start a worker before the
    next scheduled one. Raises InvalidSettings for a value that is not a number >= 0."""
    environ = os.environ if environ is None else environ
    if not environ.get("JOBS_KICK_FUNCTION", "").strip():
        return 0.0
    raw = environ.get("JOBS_IDLE_EXIT_S", "").strip()
    try:
        value = float(raw) if raw else DEFAULT_IDLE_EXIT_S
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and value >= 0):
        raise InvalidSettings(f"JOBS_IDLE_EXIT_S={raw!r} is not a number of seconds >= 0")
    debounce_s = kick_debounce_s(environ)
    if 0 < value < debounce_s:
        log.warning(
            "JOBS_IDLE_EXIT_S=%g is below JOBS_KICK_DEBOUNCE_S=%g: using %g, so that a worker "
            "listens as long as the kicks it suppresses",
            value,
            debounce_s,
            debounce_s,
        )
        value = debounce_s
    return value


def admin_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether an admin token is configured (the admin surface exists); reads no secret."""
    environ = os.environ if environ is None else environ
    return any(
        environ.get(name, "").strip() for name in ("JOBS_ADMIN_TOKEN", "JOBS_ADMIN_SECRET_ID")
    )


def admin_token(environ: Mapping[str, str] | None = None) -> str | None:
    """The admin surface's bearer token: JOBS_ADMIN_TOKEN, else the Secrets Manager secret
    JOBS_ADMIN_SECRET_ID names (read again every 5 minutes); None when neither is set, and
    then there is no admin surface. Raises JobsUnavailable when the secret cannot be read,
    AdminNotConfigured when the token is shorter than 16 characters."""
    environ = os.environ if environ is None else environ
    token = environ.get("JOBS_ADMIN_TOKEN", "").strip()
    if token:
        return checked_token(token, "JOBS_ADMIN_TOKEN")
    secret_id = environ.get("JOBS_ADMIN_SECRET_ID", "").strip()
    if not secret_id:
        return None
    return checked_token(secret_token(secret_id), f"the secret {secret_id!r}")
