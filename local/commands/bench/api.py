"""The API path: POST /maths then GET /maths/{id} through the Chalice app, in this process."""

from __future__ import annotations

import importlib
import json
import os
import sys
import time

from .context import JOB_TYPE, ROOT, Bench, app_environment
from .progress import Progress


def measure_api(bench: Bench) -> None:
    """POST /maths then GET /maths/{id} through Chalice's local gateway, in this process:
    API Gateway's route matching, the Lambda handler, the controller. No worker runs."""
    from chalice.config import Config  # noqa: PLC0415 - only this phase needs chalice
    from chalice.local import LocalGateway  # noqa: PLC0415

    for name in [n for n in os.environ if n.startswith("JOBS_")]:
        del os.environ[name]
    os.environ.update(app_environment(bench.url))
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    module = importlib.import_module("app")
    getattr(module, "reset_controller", lambda: None)()
    gateway = LocalGateway(module.app, Config.create())
    headers = {"content-type": "application/json"}
    body = json.dumps({"a": 6, "b": 7, "op": JOB_TYPE}).encode()

    def pair() -> None:
        posted = gateway.handle_request("POST", "/maths", headers, body)
        if posted["statusCode"] != 202:
            raise RuntimeError(f"POST /maths answered {posted['statusCode']}: {posted['body']}")
        job_id = json.loads(posted["body"])["res"]
        got = gateway.handle_request("GET", f"/maths/{job_id}", {}, b"")
        if got["statusCode"] != 200:
            raise RuntimeError(f"GET /maths/<id> answered {got['statusCode']}: {got['body']}")

    for _ in range(20):
        pair()
    count = bench.sizes["api_pairs"]
    bar = Progress("api", count)
    start = time.perf_counter()
    for index in range(count):
        pair()
        if index % 64 == 0:
            bar.update(index)
    elapsed = time.perf_counter() - start
    bar.close()
    bench.figures.api_rps = 2 * count / elapsed
