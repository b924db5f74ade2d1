"""Which Redis the app uses: never a silent guess at someone else's.

`JOBS_REDIS_URL` wins wherever it is set. Without it, the `dev` stage (and plain `chalice local`,
which sets no `JOBS_STAGE`) uses the Redis of a running local stack, as `python -m local up` or
`python -m local redis` records it in `local/.data/stack.json`; any other stage is refused. The
stack file is read here rather than through `local/`, which is not shipped to Lambda.

Outside `dev`, the URL must be `rediss://` (TLS, the server's certificate and hostname checked):
a plain `redis://` URL is refused unless JOBS_REDIS_ALLOW_PLAINTEXT=1 says the network is trusted,
and a URL that turns the certificate or hostname check off is refused always.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

#: the stage that may fall back to a local stack; every other stage must name its Redis
DEV_STAGE = "dev"
PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_STACK_FILE = PROJECT_DIR / "local" / ".data" / "stack.json"
#: the setting that lets a deployed stage use Redis without TLS (a network it trusts)
ALLOW_PLAINTEXT = "JOBS_REDIS_ALLOW_PLAINTEXT"
#: URL query values that would turn the TLS checks off (redis-py reads them from the URL)
_WEAKENING = {
    "ssl_cert_reqs": {"none", "optional"},
    "ssl_check_hostname": {"0", "f", "false", "n", "no"},
}


class RedisNotConfigured(RuntimeError):
    """No Redis is named for this process. `stage` is the stage that asked; the message says
    what to set."""

    def __init__(self, message: str, stage: str) -> None:
        super().__init__(message)
        self.stage = stage

    @property
    def refuses_to_start(self) -> bool:
        """True on a deployed stage, where this is a configuration mistake and not a stack that
        is merely not running yet."""
        return self.stage != DEV_STAGE


def stage_of(environ: Mapping[str, str]) -> str:
    """The stage from JOBS_STAGE (set per stage in .chalice/config.json); `dev` when unset."""
    return environ.get("JOBS_STAGE", "").strip() or DEV_STAGE


def stack_file(environ: Mapping[str, str]) -> Path:
    """Where a running local stack records its Redis: `<LOCAL_DATA_DIR>/stack.json`, else
    `local/.data/stack.json` of this project."""
    data_dir = environ.get("LOCAL_DATA_DIR", "").strip()
    return Path(data_dir) / "stack.json" if data_dir else DEFAULT_STACK_FILE


def resolve(environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(Redis URL, where it came from). Raises RedisNotConfigured when the environment names no
    Redis: on a deployed stage when JOBS_REDIS_URL or JOBS_REDIS_SECRET_ID is missing, on `dev`
    when neither JOBS_REDIS_URL nor a live local stack names one."""
    environ = os.environ if environ is None else environ
    stage = stage_of(environ)
    url = environ.get("JOBS_REDIS_URL", "").strip()
    if stage != DEV_STAGE:
        missing = [
            name for name in ("JOBS_REDIS_URL", "JOBS_REDIS_SECRET_ID") if not environ.get(name)
        ]
        if missing:
            raise RedisNotConfigured(
                f"stage {stage!r} refuses to start: {' and '.join(missing)} not set "
                "(set them in .chalice/config.json)",
                stage,
            )
        check_transport(url, stage, environ)
        return url, "JOBS_REDIS_URL"
    if url:
        return url, "JOBS_REDIS_URL"
    path = stack_file(environ)
    stack_url = _live_stack_url(path)
    if stack_url:
        return stack_url, f"the local stack, {path}"
    raise RedisNotConfigured(
        "JOBS_REDIS_URL is not set and no local stack runs: start one with "
        "`python -m local redis` (or `make run`), or set JOBS_REDIS_URL",
        stage,
    )


def check_transport(url: str, stage: str, environ: Mapping[str, str]) -> None:
    """Raise RedisNotConfigured when a deployed stage's URL would talk to Redis without TLS
    (unless JOBS_REDIS_ALLOW_PLAINTEXT is 1/true/yes/on) or with its certificate or hostname
    check off. The message names the setting, never the URL (it may carry a password)."""
    parts = urlsplit(url)
    if parts.scheme != "rediss":
        allowed = environ.get(ALLOW_PLAINTEXT, "").strip().lower() in {"1", "true", "yes", "on"}
        if not allowed:
            raise RedisNotConfigured(
                f"stage {stage!r} refuses to start: JOBS_REDIS_URL is not a rediss:// (TLS) URL; "
                f"use TLS, or set {ALLOW_PLAINTEXT}=1 if the network to Redis is trusted",
                stage,
            )
        return
    for name, value in parse_qsl(parts.query):
        if value.strip().lower() in _WEAKENING.get(name, ()):
            raise RedisNotConfigured(
                f"stage {stage!r} refuses to start: JOBS_REDIS_URL sets {name}={value}, which "
                "turns off the check of the server's certificate",
                stage,
            )


def _live_stack_url(path: Path) -> str | None:
    """The stack file's Redis URL, if the process that wrote it still runs."""
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict):
        return None
    url, pid = state.get("redis_url"), state.get("pid")
    if not isinstance(url, str) or not url or not pid_alive(pid):
        return None
    return url


def pid_alive(pid: object) -> bool:
    """Whether a process with this pid exists (a pid that is not a positive int: no)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True
