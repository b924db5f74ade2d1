"""The cold start: a fresh `python` that imports app.py and answers one POST /maths, as Lambda."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

from .context import JOB_TYPE, ROOT, Bench, app_environment, without_jobs_vars

COLD_START_EVENT = {
    "resource": "/maths",
    "path": "/maths",
    "httpMethod": "POST",
    "headers": {"content-type": "application/json"},
    "multiValueHeaders": {"content-type": ["application/json"]},
    "queryStringParameters": None,
    "multiValueQueryStringParameters": None,
    "pathParameters": None,
    "stageVariables": None,
    "requestContext": {
        "resourcePath": "/maths",
        "httpMethod": "POST",
        "path": "/api/maths",
        "stage": "api",
        "requestId": "bench-cold-start",
    },
    "body": json.dumps({"a": 6, "b": 7, "op": JOB_TYPE}),
    "isBase64Encoded": False,
}

#: what Lambda does on a cold start: import the handler's module, call it with the event
COLD_START_CODE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import app
class Context:
    function_name, memory_limit_in_mb, aws_request_id = "api_handler", 512, "bench"
    invoked_function_arn = log_group_name = log_stream_name = ""
    def get_remaining_time_in_millis(self):
        return 10000
answer = app.app(json.loads(sys.argv[2]), Context())
print(json.dumps({"status": answer["statusCode"], "boto3": "boto3" in sys.modules}), flush=True)
"""


def measure_cold_start(bench: Bench) -> None:
    """Each cold start's ms, whether boto3 came along, and the heaviest imports."""
    f = bench.figures
    env = {**without_jobs_vars(os.environ), **app_environment(bench.url)}
    for _ in range(bench.sizes["cold_starts"]):
        ms, answer = cold_start(env)
        if answer.get("status") != 202:
            raise RuntimeError(f"POST /maths answered {answer}")
        f.cold_start_ms.append(ms)
        f.cold_start_boto3 = bool(f.cold_start_boto3) or bool(answer.get("boto3"))
    f.cold_start_imports = heaviest_imports(env)


def _command(*python_options: str) -> list[str]:
    """`python [options] -c COLD_START_CODE ROOT EVENT`."""
    return [
        sys.executable, *python_options, "-c", COLD_START_CODE, str(ROOT),
        json.dumps(COLD_START_EVENT),
    ]  # fmt: skip


def cold_start(env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    """ms from spawning `python` to its answer to one POST /maths, and the answer."""
    start = time.perf_counter()
    with subprocess.Popen(
        _command(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        cwd=str(ROOT),
    ) as child:  # fmt: skip
        assert child.stdout is not None and child.stderr is not None
        line = child.stdout.readline()
        elapsed_ms = (time.perf_counter() - start) * 1000
        error = child.stderr.read()
        child.wait(30)
    if not line:
        raise RuntimeError(f"the cold-start process answered nothing: {error[-2000:]}")
    return elapsed_ms, json.loads(line)


def heaviest_imports(env: dict[str, str], top: int = 6) -> list[tuple[str, float]]:
    """The packages a cold start pays most to import: ms, cumulative, of each top-level
    package's first import (from -X importtime; a package's imports count in it too)."""
    err = subprocess.run(
        _command("-X", "importtime"), capture_output=True, text=True, env=env, cwd=str(ROOT),
        timeout=60,
    ).stderr  # fmt: skip
    costs: dict[str, float] = {}
    for line in err.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            package = parts[2].strip().split(".")[0]
            costs[package] = max(costs.get(package, 0.0), int(parts[1]) / 1000)
    costs.pop("app", None)
    return sorted(costs.items(), key=lambda c: -c[1])[:top]
