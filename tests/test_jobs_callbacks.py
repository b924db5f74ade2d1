"""Callback URLs and signatures: what is refused (no traffic leaves 127.0.0.1: refused hosts
are IP literals or names resolved by a stub), and how a signature is checked."""

from __future__ import annotations

import time

import pytest

from chalicelib.jobs import callbacks
from chalicelib.jobs.callbacks import check_callback_url, sign, verify_callback
from chalicelib.jobs.model import InvalidJob


@pytest.fixture(autouse=True)
def no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Names resolve through a stub: a test never asks a real DNS server."""
    table = {"public.example": "93.184.216.34", "inside.example": "10.1.2.3"}

    def fake(host: str, port: int, **kwargs: object) -> list[tuple]:
        return [(2, 1, 6, "", (table[host], port))]

    monkeypatch.setattr(callbacks, "getaddrinfo", fake)


def test_a_public_https_url_is_accepted() -> None:
    assert check_callback_url("https://public.example/hook") == "https://public.example/hook"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://public.example/hook", "must be an https URL"),
        ("https://127.0.0.1/hook", "not a public address"),
        ("https://[::1]/hook", "not a public address"),
        ("https://10.0.0.8/hook", "not a public address"),
        ("https://192.168.1.1/hook", "not a public address"),
        ("https://169.254.169.254/latest/meta-data", "not a public address"),
        ("https://[::ffff:169.254.169.254]/x", "not a public address"),
        ("https://inside.example/hook", "not a public address"),
        ("https://public.example/" + "a" * 2048, "at most 2048"),
        ("ftp://public.example/", "must be an https URL"),
        ("https:///nohost", "no host"),
    ],
)
def test_unsafe_urls_are_refused(url: str, why: str) -> None:
    with pytest.raises(InvalidJob, match=why):
        check_callback_url(url)


def test_private_addresses_and_http_are_allowed_only_when_asked() -> None:
    url = "http://127.0.0.1:8123/hook"
    assert check_callback_url(url, allow_private=True) == url
    with pytest.raises(InvalidJob):
        check_callback_url(url)


def test_a_signature_verifies_and_a_changed_body_or_old_one_does_not() -> None:
    body = b'{"id":"default@x","state_code":6}'
    header = sign(body, "s3cret")

    assert verify_callback(body, header, "s3cret")
    assert not verify_callback(body + b" ", header, "s3cret")
    assert not verify_callback(body, header, "other")
    assert not verify_callback(body, sign(body, "s3cret", time.time() - 400), "s3cret")
    assert not verify_callback(body, "garbage", "s3cret")
