"""A client generated from openapi.json by openapi-python-client, as a client's developer would
make one: it is generated without a warning, it imports, and calling the app over real HTTP on
127.0.0.1 with it gives typed answers that match what the app says."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import app
from tests.api_helpers import PROJECT_DIR, serving_over_http, use_redis

PACKAGE = "chalice_jobs_client"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The client generated into a temporary folder (importable from it while the module
    runs): what the generator printed."""
    out = tmp_path_factory.mktemp("client")
    bin_dir = Path(sys.executable).parent  # its post-generation hook runs ruff from PATH
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(
        [str(bin_dir / "openapi-python-client"), "generate", "--meta", "none",
         "--path", str(PROJECT_DIR / "openapi.json"), "--output-path", str(out / PACKAGE)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    sys.path.insert(0, str(out))
    try:
        yield output
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def module(name: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.{name}")


@pytest.fixture
def api(redis_url: str, monkeypatch: pytest.MonkeyPatch, generated: str) -> Iterator[Any]:
    """The generated client, pointed at the app served over HTTP on the test's Redis."""
    use_redis(monkeypatch, redis_url)
    with serving_over_http() as base_url:
        client = module("client").Client(base_url=base_url, raise_on_unexpected_status=True)
        with client as opened:
            yield opened
    app.reset_controller()


def test_the_client_is_generated_without_a_warning_and_imports(generated: str) -> None:
    assert "warning" not in generated.lower(), generated
    for name in ("client", "models", "api.default.create_maths_job", "api.admin.admin_jobs"):
        module(name)


def test_a_job_made_and_read_with_the_client_has_its_typed_result(api: Any) -> None:
    models = module("models")
    create, read = module("api.default.create_maths_job"), module("api.default.get_maths_job")
    body = models.MathsRequest(a=2, b=3, op=models.MathsRequestOp.MATHMULTIPLY)

    accepted = create.sync(client=api, body=body)
    assert isinstance(accepted, models.Accepted)
    assert accepted.success is True
    pending = read.sync(accepted.res, client=api)
    assert isinstance(pending, models.MathsJobStatus)
    assert pending.status == models.MathsJobStatusStatus.PENDING
    assert pending.res is None

    app.get_controller().drain(2.0)
    done = read.sync(accepted.res, client=api, wait=10)
    assert done.status == models.MathsJobStatusStatus.COMPLETED
    assert done.state_code == models.MathsJobStatusStateCode.VALUE_6
    assert done.res == 6


def test_refusals_and_cancels_come_back_as_their_models(api: Any) -> None:
    models = module("models")
    create, cancel = module("api.default.create_maths_job"), module("api.default.cancel_maths_job")
    body = models.MathsRequest(a=1, b=2, op=models.MathsRequestOp.MATHADD, delay_seconds=60)

    job_id = create.sync(client=api, body=body).res
    cancelled = cancel.sync(job_id, client=api)
    assert isinstance(cancelled, models.MathsJobStatus)
    assert cancelled.status == models.MathsJobStatusStatus.FAILED
    assert cancelled.cancelled is True and cancelled.error == "cancelled"

    again = cancel.sync(job_id, client=api)
    assert isinstance(again, models.Error)
    assert again.success is False
    assert "too late to cancel" in again.error

    # the client checks types, the server the ranges too (the document carries both)
    too_late = models.MathsRequest(a=1, b=2, op=models.MathsRequestOp.MATHADD, delay_seconds=1e6)
    refused = create.sync_detailed(client=api, body=too_late)
    assert refused.status_code == 400
    assert isinstance(refused.parsed, models.Error)
    assert refused.parsed.error == "delay_seconds must be between 0 and 86400"
