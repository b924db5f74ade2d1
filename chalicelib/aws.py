"""Everything the app asks of AWS: kicking the worker function, and reading secrets.

boto3 is imported on first use, not at import: a cold start of the API pays nothing for it when
kicks and secrets are off. The kick's client is reused for the life of the process, and its
timeouts are short because a kick happens while a client waits for its 202; a kick that fails is
only logged (the jobs package does that), since the scheduled worker picks the job up within a
minute anyway.
"""

from __future__ import annotations

import functools
import json
import threading
from typing import Any

from chalicelib.jobs import JobsUnavailable

#: a kick must not hold a request up: one retry at most, and about a second per attempt
CONNECT_TIMEOUT_S = 1.0
READ_TIMEOUT_S = 1.0
TOTAL_ATTEMPTS = 2


class WorkerKicker:
    """Invokes the worker function asynchronously (`InvocationType="Event"`) to start draining
    `queue` now; callable as the jobs package's kick callback."""

    def __init__(self, function_name: str, client: Any = None) -> None:
        self.function_name = function_name
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The Lambda client, made on first use."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = _lambda_client()
        return self._client

    def __call__(self, queue: str) -> None:
        """Ask Lambda to run the worker once; returns when Lambda has queued the event.
        Raises botocore errors (the jobs package logs and swallows them)."""
        self.client.invoke(
            FunctionName=self.function_name,
            InvocationType="Event",
            Payload=json.dumps({"queue": queue}).encode(),
        )


def _lambda_client() -> Any:
    import boto3  # noqa: PLC0415 - on first kick only: keeps the API's cold start light
    from botocore.config import Config  # noqa: PLC0415

    config = Config(
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        retries={"total_max_attempts": TOTAL_ATTEMPTS, "mode": "standard"},
    )
    return boto3.client("lambda", config=config)


def read_secret(secret_id: str) -> str:
    """The text of a Secrets Manager secret, read now. Raises JobsUnavailable when it cannot
    be read (its caller says which secret)."""
    import boto3  # noqa: PLC0415 - only when a secret is configured; keeps cold starts light
    from botocore.config import Config  # noqa: PLC0415
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    # Short timeouts: without a route to Secrets Manager (no VPC endpoint, no NAT) the caller
    # gets JobsUnavailable in seconds rather than a Lambda that hangs until it is killed.
    config = Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 2})
    try:
        client = boto3.client("secretsmanager", config=config)
        return str(client.get_secret_value(SecretId=secret_id)["SecretString"])
    except (BotoCoreError, ClientError) as exc:
        raise JobsUnavailable(f"Secrets Manager: {exc}") from exc


#: read_secret, once per process and secret (a failed read is not kept: it is tried again)
read_secret_once = functools.lru_cache(maxsize=16)(read_secret)
