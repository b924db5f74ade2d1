"""Who may use the admin surface: one bearer token, from the environment or Secrets Manager.

No token configured means there is no admin surface at all (every /admin path answers 404).
The token is compared in constant time and never logged.
"""

from __future__ import annotations

import functools
import hmac

from chalicelib.jobs.config import secret_field


@functools.lru_cache(maxsize=4)
def secret_token(secret_id: str) -> str:
    """The token held by a Secrets Manager secret, read once per process: the secret's text,
    or the "token" field of a JSON object. Raises JobsUnavailable when it cannot be read."""
    return secret_field(secret_id, "token", "admin")


def authorized(header: str | None, token: str) -> bool:
    """Whether an Authorization header carries `Bearer <token>` (compared in constant time)."""
    scheme, _, given = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())
