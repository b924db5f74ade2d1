"""A cold start of any of the app's functions imports app.py: that must import no boto3 (nor
prometheus_client) and
connect to nothing (the controller and its clients are made on first use)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from local.parts.redis_server import LOOPBACK
from tests.api_helpers import PROJECT_DIR


def import_app(redis_url: str, *extra_env: tuple[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -X importtime -c "import app"` in a fresh interpreter, as Lambda would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JOBS_", "AWS_"))}
    env.update({"JOBS_REDIS_URL": redis_url, "PYTHONPATH": str(PROJECT_DIR), **dict(extra_env)})
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import app"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def imported_modules(importtime_log: str) -> set[str]:
    """Module names from -X importtime's lines: `import time: self | cumulative | name`."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in importtime_log.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }


def test_import_app_imports_no_boto3_and_connects_to_nothing() -> None:
    with socket.socket() as listener:
        listener.bind((LOOPBACK, 0))
        listener.listen(8)
        listener.setblocking(False)
        port = listener.getsockname()[1]

        done = import_app(
            f"redis://{LOOPBACK}:{port}/0",
            ("JOBS_REDIS_SECRET_ID", "some/secret"),
            ("JOBS_KICK_FUNCTION", "chalice-jobs-prod-worker_kick"),
        )

        modules = imported_modules(done.stderr)
        assert "app" in modules and "chalicelib.jobs" in modules  # the log is the right one
        heavy = ("boto3", "botocore", "prometheus_client")  # loaded when first needed
        assert not {m for m in modules if m.split(".")[0] in heavy}
        # Had the import connected, the kernel would have queued the connection by now.
        try:
            connection, _ = listener.accept()
        except BlockingIOError:
            connection = None
        assert connection is None, "importing app.py connected to Redis"
