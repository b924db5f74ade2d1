"""Job type declarations: what a declaration refuses, how a generic body is checked and split
into params and options, that the API and every worker take their job types from one list,
and the callback rule that holds even where private hosts are allowed."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

import app
from chalicelib.business import async_maths
from chalicelib.jobs import JobResult
from chalicelib.jobtypes import InvalidRequest, JobType, Submission, schema
from chalicelib.jobtypes.installed import job_types
from chalicelib.service import build_controller
from tests.api_helpers import post_json, use_redis
from tests.jobs_helpers import settle
from tests.test_openapi import check_answer

TEXT = {
    "type": "object",
    "required": ["text"],
    "properties": {
        "text": {"type": "string", "minLength": 1, "maxLength": 5},
        "times": {"type": "integer", "minimum": 1, "maximum": 3},
        "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}},
    },
}


def ok(params: dict[str, Any]) -> JobResult:
    return JobResult(True, res=params)


def declare(**changes: Any) -> JobType:
    fields: dict[str, Any] = {
        "route": "text",
        "handlers": {"text:upper": ok},
        "params": TEXT,
        "result": {"type": "string"},
    }
    return JobType(**{**fields, **changes})


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"route": "Text"}, "one lowercase word"),
        ({"route": "admin"}, "one lowercase word"),
        ({"route": "a/b"}, "one lowercase word"),
        ({"handlers": {}}, "declares no handler"),
        ({"params": {"type": "array"}}, "type object"),
        ({"params": {"type": "object", "properties": {"op": {"type": "string"}}}}, "op"),
        ({"params": {"type": "object", "properties": {"x": {"oneOf": []}}}}, "oneOf"),
        ({"params": {"type": "object", "properties": {"x": {}}}}, "needs a type"),
        ({"result": {"const": True}}, "needs a type"),
    ],
)
def test_a_bad_declaration_is_refused_at_once(changes: dict[str, Any], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        declare(**changes)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"[1]", "body must be a JSON object, got an array"),
        (b"{}", "missing field(s): text"),
        (b'{"text": "a", "x": 1}', "unknown field(s): x (allowed: text, times, tags, "),
        (b'{"text": 5}', "text must be a string, got a number"),
        (b'{"text": ""}', "text must have at least 1 character(s)"),
        (b'{"text": "abcdef"}', "text must have at most 5 character(s)"),
        (b'{"text": "a", "times": 1.5}', "times must be an integer, got a number"),
        (b'{"text": "a", "times": 4}', "times must be at most 3"),
        (b'{"text": "a", "tags": ["c"]}', "tags[0] must be one of 'a', 'b', got 'c'"),
        (b'{"text": "a", "delay_seconds": -1}', "delay_seconds must be at least 0"),
        (b'{"text": "a", "text": "b"}', "field 'text' is given twice"),
        (b'{"text": NaN}', "NaN is not a number JSON allows"),
        (b'{"text": "a", "times": 1' + b"0" * 400 + b"}", "times must be at most 3"),
        (b'{"text": "a", "times": 1' + b"0" * 4300 + b"}", "body has an integer of 4301 digits"),
    ],
)
def test_a_generic_body_is_refused_naming_what_is_wrong(body: bytes, error: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        declare().parse_body(body)
    assert str(refused.value).startswith(error)


def test_a_generic_body_splits_into_params_and_options() -> None:
    body = b'{"text": "hi", "delay_seconds": 5, "callback_url": null}'
    assert declare().parse_body(body) == Submission("text:upper", {"text": "hi"}, 5, None)
    several = declare(handlers={"text:upper": ok, "text:lower": ok})
    assert several.body_schema()["properties"]["op"]["enum"] == ["text:lower", "text:upper"]
    assert several.parse_body(b'{"text": "hi", "op": "text:lower"}').job_type == "text:lower"


def test_maths_is_the_first_declaration_and_every_worker_registers_its_handlers(
    redis_url: str,
) -> None:
    (maths,) = job_types()
    assert maths is async_maths.JOB_TYPE and maths.route == "maths"
    worker = build_controller({"JOBS_REDIS_URL": redis_url})  # the Lambdas' and local's
    ids = [worker.create_job(op, {"a": 6, "b": 3}) for op in sorted(maths.handlers)]
    settle(worker)
    assert [worker.get_status(i).result for i in ids] == [9, 2, 18, 3]
    with pytest.raises(ValueError, match="no JOB_TYPE"):
        job_types(("chalicelib.echo",))
    with pytest.raises(ValueError, match="share a route"):
        job_types(("chalicelib.business.async_maths", "chalicelib.business.async_maths"))


@pytest.mark.parametrize(
    "callback_url", ["http://169.254.169.254/latest/meta-data/", "https://[fe80::1]/hook"]
)
def test_where_private_hosts_are_allowed_link_local_ones_are_still_refused(
    client: Client, redis_url: str, monkeypatch: pytest.MonkeyPatch, callback_url: str
) -> None:
    use_redis(monkeypatch, redis_url, JOBS_CALLBACK_SECRET="s", JOBS_CALLBACK_ALLOW_PRIVATE="1")
    body = {"a": 2, "b": 3, "op": "math:add", "callback_url": callback_url}

    response = post_json(client, body)

    assert response.status_code == 400
    assert "which is not a public address" in response.json_body["error"]
    check_answer("post", "/maths", response)
    assert app.get_controller().queue_stats(["default"])[0].pending == 0
    loopback = {**body, "callback_url": "http://127.0.0.1:9/hook"}
    assert post_json(client, loopback).status_code == 202  # what make run allows


def test_a_number_too_big_for_a_double_is_refused_not_crashed_on() -> None:
    with pytest.raises(InvalidRequest, match="x must be at most 1"):
        schema.validate({"type": "number", "maximum": 1}, 10**400, "x")
    schema.validate({"type": "number"}, 10**400, "x")  # a JSON number, whatever its size
