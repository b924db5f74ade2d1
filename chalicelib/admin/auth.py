"""Who may use the admin surface: one bearer token, from the environment or Secrets Manager.

No token configured means there is no admin surface at all (every /admin path answers 404).
The token is compared in constant time and never logged.
"""

from __future__ import annotations

import functools
import hmac
import json

from chalicelib.jobs import JobsUnavailable


@functools.lru_cache(maxsize=4)
def secret_token(secret_id: str) -> str:
    """The token held by a Secrets Manager secret, read once per process: the secret's text,
    or the "token" field of a JSON object. Raises JobsUnavailable when it cannot be read."""
    import boto3  # noqa: PLC0415 - only when a secret is configured; keeps cold starts light
    from botocore.config import Config  # noqa: PLC0415
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    config = Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 2})
    try:
        client = boto3.client("secretsmanager", config=config)
        value = str(client.get_secret_value(SecretId=secret_id)["SecretString"])
    except (BotoCoreError, ClientError) as exc:
        raise JobsUnavailable(f"cannot read the admin secret {secret_id!r}: {exc}") from exc
    try:
        parsed = json.loads(value)
    except ValueError:
        return value.strip()
    if isinstance(parsed, dict) and isinstance(parsed.get("token"), str):
        return str(parsed["token"])
    return value.strip()


def authorized(header: str | None, token: str) -> bool:
    """Whether an Authorization header carries `Bearer <token>` (compared in constant time)."""
    scheme, _, given = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())
