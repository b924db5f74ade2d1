"""One error shape for every answer the app makes, Chalice's own included, and input shown back
in an error cut to 100 characters."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chalice.test import Client

import app
from tests.api_helpers import dev_client, post_json, use_redis

ERROR_KEYS = {"success", "error"}


@pytest.fixture
def client(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    use_redis(monkeypatch, redis_url)
    with dev_client() as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/maths", "POST"),
        ("DELETE", "/maths", "POST"),
        ("PUT", "/maths/default@2f1e6a52-3c1d-4b7a-9e55-0d6a3b8c9f10", "GET, DELETE"),
        ("POST", "/openapi.json", "GET"),
    ],
)
def test_method_a_route_lacks_is_405_in_the_app_shape(
    client: Client, method: str, path: str, allowed: str
) -> None:
    response = client.http.request(method, path, headers={"content-type": "application/json"})

    assert response.status_code == 405
    assert response.headers["Allow"] == allowed
    assert response.json_body == {
        "success": False,
        "error": f"method '{method}' is not allowed here; allowed: {allowed}",
    }


def test_unexpected_error_is_500_in_the_app_shape_without_details(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(app, "get_controller", broken)
    response = post_json(client, {"a": 1, "b": 2, "op": "math:add"})

    assert response.status_code == 500
    assert response.json_body == {
        "success": False,
        "error": "internal error; the service log has the details",
    }


def test_unknown_path_is_answered_by_the_gateway_not_the_app(client: Client) -> None:
    # API Gateway (and chalice's local gateway, which mimics it) answers before the app runs.
    response = client.http.get("/nothing/here")

    assert response.status_code == 403
    assert response.json_body == {"message": "Missing Authentication Token"}


def test_a_20_kb_id_comes_back_cut_to_100_characters(client: Client) -> None:
    job_id = "x" * 20_000

    response = client.http.get(f"/maths/{job_id}")

    assert response.status_code == 400
    error = response.json_body["error"]
    assert set(response.json_body) == ERROR_KEYS
    assert len(error) < 200
    assert f"'{'x' * 100}'… (20000 characters)" in error


def test_a_short_bad_id_is_shown_whole(client: Client) -> None:
    response = client.http.get("/maths/nope")

    assert response.json_body["error"] == "job id must look like 'default@<uuid4>', got 'nope'"


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": 2, "b": 3, "op": "' + b"p" * 10_000 + b'"}',
        b'{"a": 2, "b": 3, "op": "math:add", "' + b"k" * 10_000 + b'": 1}',
        b'{"a": 2, "' + b"k" * 7_000 + b'": 1, "' + b"k" * 7_000 + b'": 1}',
        b'{"a": 2, "b": 3, "op": [' + b"1," * 5_000 + b"1]}",
    ],
)
def test_long_input_in_a_body_comes_back_cut(client: Client, body: bytes) -> None:
    response = post_json(client, body)

    assert response.status_code == 400
    assert len(response.json_body["error"]) < 300
    assert "characters)" in response.json_body["error"]


def test_long_content_type_comes_back_cut(client: Client) -> None:
    content_type = "text/" + "z" * 5_000

    response = post_json(client, b"{}", {"content-type": content_type})

    assert response.status_code == 415
    assert len(response.json_body["error"]) < 200
