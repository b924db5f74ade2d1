"""Who may use the admin surface: one bearer token, from the environment or Secrets Manager.

No token configured means there is no admin surface at all (every /admin path answers 404); a
token shorter than MIN_TOKEN_CHARS is refused (AdminNotConfigured: the app answers 500 and logs
why). A token from Secrets Manager is read again after SECRET_TTL_S, so a rotation takes effect
within minutes on every warm Lambda. The token is compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
import threading
import time

from chalicelib.aws import read_secret
from chalicelib.jobs import JobsUnavailable
from chalicelib.jobs.config import secret_field

#: the shortest token accepted (a guessable token would open every job to whoever guesses it)
MIN_TOKEN_CHARS = 16
#: a token read from Secrets Manager is read again after this many seconds
SECRET_TTL_S = 300.0

#: secret id -> (token, when it was read on `clock`)
_read: dict[str, tuple[str, float]] = {}
_read_lock = threading.Lock()
#: the clock of SECRET_TTL_S (tests move it)
clock = time.monotonic


class AdminNotConfigured(Exception):
    """The admin token is configured but unusable; the message says why, never the token."""


def checked_token(token: str, source: str) -> str:
    """The token, or AdminNotConfigured when it is shorter than MIN_TOKEN_CHARS."""
    if len(token) < MIN_TOKEN_CHARS:
        raise AdminNotConfigured(
            f"the admin token from {source} is {len(token)} characters long; at least "
            f"{MIN_TOKEN_CHARS} are needed: the admin surface is off until it is replaced"
        )
    return token


def secret_token(secret_id: str) -> str:
    """The token held by a Secrets Manager secret (its text, or the "token" field of a JSON
    object), read again once SECRET_TTL_S have passed since the last read. Raises
    JobsUnavailable when it cannot be read (then nothing is kept: a revoked token is not
    trusted for longer because Secrets Manager is away)."""
    now = clock()
    with _read_lock:
        cached = _read.get(secret_id)
    if cached is not None and now - cached[1] < SECRET_TTL_S:
        return cached[0]
    with _read_lock:
        _read.pop(secret_id, None)
    try:
        text = read_secret(secret_id)
    except JobsUnavailable as exc:
        raise JobsUnavailable(f"cannot read the admin secret {secret_id!r}: {exc}") from exc
    token = secret_field(text, "token")
    with _read_lock:
        _read[secret_id] = (token, now)
    return token


def forget_secret_tokens() -> None:
    """Forget every token read from Secrets Manager (tests)."""
    with _read_lock:
        _read.clear()


def authorized(header: str | None, token: str) -> bool:
    """Whether an Authorization header carries `Bearer <token>` (compared in constant time)."""
    scheme, _, given = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())
