"""The OpenAPI document: valid OpenAPI 3.1, the same at the root and at GET /openapi.json, one
operation per route of the app and no other, and every real answer of the app fits the schema
of its status. The README's API table lists the same operations and statuses."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from chalice.test import Client, HTTPResponse
from openapi_spec_validator import validate

import app
from chalicelib import openapi
from chalicelib.jobs import JobState
from chalicelib.jobtypes.installed import job_types
from local.parts.redis_server import free_port
from tests.api_helpers import PROJECT_DIR, SEED_BODY, SEED_HEADERS, dev_client, post_json, use_redis
from tests.jobs_helpers import settle

DOCUMENT: dict[str, Any] = json.loads((PROJECT_DIR / "openapi.json").read_text())
UNKNOWN_ID = "default@2f1e6a52-3c1d-4b7a-9e55-0d6a3b8c9f10"


def check_answer(method: str, path: str, response: HTTPResponse) -> None:
    """Assert the answer's body fits the document's schema for its status, and that the
    headers the document promises are there."""
    operation = DOCUMENT["paths"][path][method]
    documented = operation["responses"].get(str(response.status_code))
    assert documented, f"{method.upper()} {path} answered {response.status_code}, not documented"
    media = documented["content"]["application/json"]
    headers = {name.lower(): value for name, value in response.headers.items()}
    assert headers["content-type"].startswith("application/json")
    schema = {**media["schema"], "components": DOCUMENT["components"]}
    jsonschema.validate(response.json_body, schema, cls=jsonschema.Draft202012Validator)
    for name, header in documented.get("headers", {}).items():
        if header.get("required", False):
            assert name.lower() in headers, f"{name} missing from a {response.status_code}"
        if name.lower() in headers:
            jsonschema.validate(headers[name.lower()], header["schema"])


def test_document_is_valid_openapi_3_1() -> None:
    validate(DOCUMENT)
    assert DOCUMENT["openapi"].startswith("3.1")


def test_root_file_is_what_the_app_serves_with_admin_on(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOBS_ADMIN_TOKEN", "admin-token-for-tests")
    response = client.http.get("/openapi.json")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json_body == DOCUMENT, "openapi.json is not what the app serves: make openapi"


def test_without_admin_the_served_document_lists_no_admin_route(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JOBS_ADMIN_TOKEN", raising=False)
    monkeypatch.delenv("JOBS_ADMIN_SECRET_ID", raising=False)
    served = client.http.get("/openapi.json").json_body

    assert not [path for path in served["paths"] if path.startswith("/admin")]
    assert "securitySchemes" not in served["components"]
    assert {p: i for p, i in DOCUMENT["paths"].items() if not p.startswith("/admin")} == (
        served["paths"]
    )
    validate(served)


def test_every_route_is_documented_and_nothing_else() -> None:
    routes = {
        (method.lower(), path) for path, methods in app.app.routes.items() for method in methods
    }
    documented = {(method, path) for path, item in DOCUMENT["paths"].items() for method in item}

    assert documented == routes


def schemas_in(node: object, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema object of the document, with where it is."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{where}/{key}"
            if key in ("schema", "items") and isinstance(value, dict):
                yield here, value
            elif key in ("properties", "schemas") and isinstance(value, dict):
                yield from ((f"{here}/{name}", sub) for name, sub in value.items())
            elif key == "anyOf":
                yield from ((f"{here}/{i}", sub) for i, sub in enumerate(value))
            yield from schemas_in(value, here)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from schemas_in(value, f"{where}/{index}")


def test_every_schema_has_a_type() -> None:
    """A schema without a type (a bare const) makes generated clients fail to import."""
    untyped = [
        where
        for where, schema in schemas_in(DOCUMENT)
        if not {"type", "$ref", "anyOf"} & set(schema)
    ]
    assert untyped == []


def test_ids_and_queue_names_carry_their_patterns_and_required_parameters_are_required() -> None:
    parameters = [
        (path, parameter)
        for path, item in DOCUMENT["paths"].items()
        for operation in item.values()
        for parameter in operation.get("parameters", [])
    ]
    patterns = {p["schema"].get("pattern") for _, p in parameters if p["name"] == "job_id"}
    assert patterns == {openapi.JOB_ID_PATTERN}
    queues = {p["schema"].get("pattern") for _, p in parameters if p["name"] == "queue"}
    assert queues == {"^[A-Za-z0-9_-]{1,64}$"}
    (state,) = [p for path, p in parameters if p["name"] == "state"]
    assert state["required"] is True
    assert state["schema"]["enum"] == [s.name for s in sorted(JobState, key=lambda s: s.value)]


def test_request_schema_matches_the_code() -> None:
    from chalicelib.business.async_maths import MAX_DELAY_S, OPERATIONS

    schema = DOCUMENT["components"]["schemas"]["MathsRequest"]["properties"]
    assert schema["op"]["enum"] == sorted(OPERATIONS)
    assert schema["delay_seconds"]["maximum"] == MAX_DELAY_S
    assert f"{app.MAX_BODY_BYTES} bytes" in DOCUMENT["paths"]["/maths"]["post"]["description"]


def test_created_and_read_jobs_fit_their_schemas(client: Client) -> None:
    created = client.http.post("/maths", headers=SEED_HEADERS, body=SEED_BODY)
    check_answer("post", "/maths", created)
    job_id = created.json_body["res"]
    check_answer("get", "/maths/{job_id}", client.http.get(f"/maths/{job_id}"))

    settle(app.get_controller())
    done = client.http.get(f"/maths/{job_id}")
    assert done.json_body["status"] == "COMPLETED"
    check_answer("get", "/maths/{job_id}", done)

    failing = post_json(client, {"a": 1, "b": 0, "op": "math:divide"}).json_body["res"]
    settle(app.get_controller())
    failed = client.http.get(f"/maths/{failing}")
    assert failed.json_body["status"] == "FAILED"
    check_answer("get", "/maths/{job_id}", failed)


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"{", None, 400),
        (b"[2, 3]", None, 400),
        (b'{"a": 2, "b": 3}', None, 400),
        (b'{"a": 2, "b": 3, "op": "math:pow"}', None, 400),
        (b'{"a": 2, "b": 3, "op": "math:add", "delay_seconds": 86401}', None, 400),
        (b'{"a": 2, "b": 3, "op": "math:add"}' + b" " * 16 * 1024, None, 413),
        (b'{"a": 2, "b": 3, "op": "math:add"}', {"content-type": "text/plain"}, 415),
    ],
)
def test_refused_posts_fit_the_error_schema(
    client: Client, body: bytes, headers: dict[str, str] | None, status: int
) -> None:
    response = post_json(client, body, headers)

    assert response.status_code == status
    check_answer("post", "/maths", response)


@pytest.mark.parametrize(
    ("job_id", "status"), [("nope", 400), ("x" * 20_000, 400), (UNKNOWN_ID, 404)]
)
def test_refused_gets_fit_the_error_schema(client: Client, job_id: str, status: int) -> None:
    response = client.http.get(f"/maths/{job_id}")

    assert response.status_code == status
    check_answer("get", "/maths/{job_id}", response)


def test_answers_without_redis_fit_the_503_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    use_redis(monkeypatch, f"redis://127.0.0.1:{free_port()}/0")
    with dev_client() as client:
        posted = post_json(client, {"a": 1, "b": 2, "op": "math:add"})
        read = client.http.get(f"/maths/{UNKNOWN_ID}")

    assert posted.status_code == read.status_code == 503
    check_answer("post", "/maths", posted)
    check_answer("get", "/maths/{job_id}", read)


def test_unexpected_error_fits_the_500_schema(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(app, "get_controller", broken)
    response = post_json(client, {"a": 1, "b": 2, "op": "math:add"})

    assert response.status_code == 500
    check_answer("post", "/maths", response)


# -- the README's API table --------------------------------------------------------------------

README_ROW = re.compile(r"^\| `(GET|POST|DELETE) (/[^`]*)` \| .+ \| ([0-9, ]+) \|$", re.MULTILINE)


def test_readme_api_table_lists_each_operation_and_its_statuses() -> None:
    """Every row is an operation with its statuses; every operation has a row, but those of
    job types added beside maths (docs/your-first-job-type.md: they need no README row)."""
    added = {f"/{jt.route}" for jt in job_types() if jt.route != "maths"}
    readme = (PROJECT_DIR / "README.md").read_text()
    in_readme = {
        (method.lower(), path): sorted(code.strip() for code in codes.split(","))
        for method, path, codes in README_ROW.findall(readme)
    }
    in_document = {
        (method, path): sorted(operation["responses"])
        for path, item in DOCUMENT["paths"].items()
        for method, operation in item.items()
        if path.partition("/{")[0] not in added
    }

    assert in_readme == in_document
