"""Callback URLs and signatures: what is refused (no traffic leaves 127.0.0.1: refused hosts
are IP literals or names resolved by a stub), and how a signature is checked."""

from __future__ import annotations

import threading
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


# -- hardening: embedded IPv4, a bounded lookup, a verify that never raises --------------------


@pytest.mark.parametrize(
    "address",
    [
        "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:a00:1::",  # 6to4 of 10.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 (well-known prefix)
        "64:ff9b:1::a00:1",  # NAT64 (local-use prefix)
        "::ffff:10.0.0.1",  # IPv4-mapped
        "::169.254.169.254",  # IPv4-compatible
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    ],
)
def test_ipv6_forms_of_forbidden_ipv4_addresses_are_refused(address: str) -> None:
    assert not callbacks.is_public(address)
    with pytest.raises(InvalidJob, match="not a public address"):
        check_callback_url(f"https://[{address}]/hook")


@pytest.mark.parametrize("address", ["2002:5db8:d822::", "64:ff9b::5db8:d822", "2606:4700::1"])
def test_ipv6_forms_of_public_addresses_are_accepted(address: str) -> None:
    assert callbacks.is_public(address)


def test_a_dns_lookup_that_hangs_is_refused_within_its_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    released = threading.Event()

    def hanging(host: str, port: int, **kwargs: object) -> list[tuple]:
        released.wait(30)
        return [(2, 1, 6, "", ("93.184.216.34", port))]

    monkeypatch.setattr(callbacks, "getaddrinfo", hanging)
    started = time.monotonic()
    try:
        with pytest.raises(InvalidJob, match="did not resolve within 2 s"):
            check_callback_url("https://tarpit.example/hook")
        elapsed = time.monotonic() - started
    finally:
        released.set()

    assert callbacks.RESOLVE_TIMEOUT_S == 2.0
    assert 1.9 <= elapsed < 3.0


@pytest.mark.parametrize(
    "header",
    ["t=1700000000,v1=é", "t=1700000000,v1=\udcff", "t=" + "9" * 5000 + ",v1=ab", "t=1e400,v1=a"],
)
def test_verify_callback_never_raises(header: str) -> None:
    assert verify_callback(b"{}", header, "s3cret", now=1700000000) is False


def test_verify_callback_with_a_non_ascii_signature_of_the_right_time_is_false() -> None:
    body = b'{"id":"default@x"}'
    t = sign(body, "s3cret", now=1700000000).split(",")[0]

    assert verify_callback(body, f"{t},v1=ü", "s3cret", now=1700000000) is False
    assert verify_callback(body, None, "s3cret") is False  # type: ignore[arg-type]
