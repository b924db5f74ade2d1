"""Bad input at the jobs API: each mistake gets its typed error and nothing is written half."""

from __future__ import annotations

import time
import uuid

import pytest

from chalicelib.jobs import (
    InvalidJob,
    InvalidJobId,
    JobController,
    JobNotFound,
    JobResult,
    JobsUnavailable,
    UnknownJobType,
)
from local.parts.redis_server import RedisServer, free_port
from tests.jobs_helpers import all_keys, settle


@pytest.fixture
def controller(any_redis_url: str) -> JobController:
    c = JobController(any_redis_url)
    c.add_handler("math:multiply", lambda p: JobResult(True, res=p["a"] * p["b"]))
    return c


@pytest.mark.parametrize(
    "params",
    [
        {"a": {1, 2}},
        {"a": float("nan")},
        {"a": object()},
        {1: 2, (1, 2): 3},
        [1, 2],
        "a=2",
        None,
    ],
    ids=["set", "nan", "object", "tuple-key", "list", "string", "none"],
)
def test_non_json_params_are_refused_and_nothing_is_written(
    controller: JobController, any_redis_url: str, params: object
) -> None:
    with pytest.raises(InvalidJob):
        controller.create_job("math:multiply", params)  # type: ignore[arg-type]
    assert all_keys(any_redis_url) == set()


def test_unknown_job_type_is_refused_with_the_known_ones(
    controller: JobController, any_redis_url: str
) -> None:
    with pytest.raises(UnknownJobType, match=r"'math:power'.*known: math:multiply"):
        controller.create_job("math:power", {"a": 1})
    assert all_keys(any_redis_url) == set()


def test_bulk_create_with_one_bad_job_writes_none(
    controller: JobController, any_redis_url: str
) -> None:
    good = ("math:multiply", {"a": 1, "b": 2})
    with pytest.raises(InvalidJob):
        controller.create_jobs([good, good, ("math:multiply", {"a": float("inf")})])
    assert all_keys(any_redis_url) == set()


@pytest.mark.parametrize("queue", ["", "has space", "a{b}", "x" * 65, "ünï", 7])
def test_bad_queue_name_is_refused(
    controller: JobController, any_redis_url: str, queue: object
) -> None:
    with pytest.raises(InvalidJob, match="queue name"):
        controller.create_job("math:multiply", {"a": 1}, queue=queue)  # type: ignore[arg-type]
    assert all_keys(any_redis_url) == set()


@pytest.mark.parametrize(
    "options",
    [
        {"process_in": -1},
        {"process_in": "soon"},
        {"process_in": float("inf")},
        {"process_in": 1, "process_at": time.time() + 5},
        {"max_retry": -1},
        {"max_retry": 1.5},
        {"max_retry": True},
        {"timeout": 0},
    ],
)
def test_bad_options_are_refused(
    controller: JobController, any_redis_url: str, options: dict
) -> None:
    with pytest.raises(InvalidJob):
        controller.create_job("math:multiply", {"a": 1}, **options)
    assert all_keys(any_redis_url) == set()


@pytest.mark.parametrize(
    "job_id",
    [
        "f6404090-f2bb-4490-8478-075aa95b29d1",
        "default@",
        "default@not-a-uuid",
        "bad queue@f6404090-f2bb-4490-8478-075aa95b29d1",
        "@f6404090-f2bb-4490-8478-075aa95b29d1",
        f"default@{uuid.uuid1()}",
        "default@F6404090-F2BB-4490-8478-075AA95B29D1x",
        "",
        None,
    ],
)
def test_malformed_ids_raise_invalid_job_id(controller: JobController, job_id: object) -> None:
    with pytest.raises(InvalidJobId):
        controller.get_status(job_id)  # type: ignore[arg-type]


def test_unknown_id_raises_job_not_found(controller: JobController) -> None:
    with pytest.raises(JobNotFound):
        controller.get_status(f"default@{uuid.uuid4()}")
    with pytest.raises(JobNotFound):
        controller.get_status(f"elsewhere@{uuid.uuid4()}")


def test_completed_job_past_its_retention_is_not_found(any_redis_url: str) -> None:
    c = JobController(any_redis_url, retention=1.0)
    c.add_handler("math:multiply", lambda p: JobResult(True, res=1))
    job_id = c.create_job("math:multiply", {})
    assert settle(c) == 1
    assert c.get_status(job_id).status == "COMPLETED"
    time.sleep(1.0)
    with pytest.raises(JobNotFound, match="expired"):
        c.get_status(job_id)


def test_redis_that_does_not_answer_raises_jobs_unavailable_fast() -> None:
    c = JobController(f"redis://127.0.0.1:{free_port()}/0")
    c.add_handler("math:multiply", lambda p: JobResult(True))
    for call in (
        lambda: c.create_job("math:multiply", {"a": 1}),
        lambda: c.get_status(f"default@{uuid.uuid4()}"),
        c.ping,
    ):
        started = time.monotonic()
        with pytest.raises(JobsUnavailable):
            call()
        assert time.monotonic() - started < 4  # refused at once, with room for a loaded machine


def test_redis_that_dies_mid_way_raises_jobs_unavailable() -> None:
    server = RedisServer().start()
    c = JobController(server.url)
    c.add_handler("math:multiply", lambda p: JobResult(True))
    job_id = c.create_job("math:multiply", {"a": 1})
    server.kill()
    try:
        started = time.monotonic()
        with pytest.raises(JobsUnavailable):
            c.get_status(job_id)
        with pytest.raises(JobsUnavailable):
            c.create_job("math:multiply", {"a": 2})
        assert time.monotonic() - started < 4.0
    finally:
        server.stop()


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:{port}/0?cluster=true",
        "http://127.0.0.1:{port}/0",
        "redis://127.0.0.1:{port}/not-a-db",
    ],
    ids=["cluster-down", "not-redis-scheme", "bad-db"],
)
def test_unusable_redis_settings_raise_jobs_unavailable(url: str) -> None:
    c = JobController(url.format(port=free_port()))
    c.add_handler("math:multiply", lambda p: JobResult(True))
    started = time.monotonic()
    with pytest.raises(JobsUnavailable):
        c.create_job("math:multiply", {"a": 1})
    with pytest.raises(JobsUnavailable):
        c.get_status(f"default@{uuid.uuid4()}")
    assert time.monotonic() - started < 4.0
