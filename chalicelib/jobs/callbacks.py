"""Callbacks (webhooks): which URLs are allowed, and how a delivery is signed and checked.

A delivery's body is JSON and carries `Jobs-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<body>">` made with the shared secret; receivers check it with `verify_callback`.
Safe by default: only https URLs, and no host that resolves to a loopback, private, link-local,
reserved or metadata address, unless private addresses are allowed (JOBS_CALLBACK_ALLOW_PRIVATE=1,
for tests and local use; it also allows http).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import time
from dataclasses import dataclass
from socket import IPPROTO_TCP, getaddrinfo
from urllib.parse import SplitResult, urlsplit

from .model import InvalidJob

#: longest callback URL accepted
MAX_URL_CHARS = 2048
SIGNATURE_HEADER = "Jobs-Signature"
#: the queue whose jobs deliver callbacks, and their job type
CALLBACK_QUEUE = "callbacks"
DELIVERY_TYPE = "callback"


@dataclass(frozen=True)
class CallbackTarget:
    """A checked callback URL, and the addresses its host resolved to (each one allowed): a
    delivery connects to one of these, so that a second DNS answer cannot send it elsewhere."""

    url: str
    scheme: str
    host: str
    port: int
    #: path and query, as sent in the request line
    path: str
    addresses: tuple[str, ...]


def check_callback_url(url: object, *, allow_private: bool = False) -> str:
    """The URL, or InvalidJob saying why it is refused: not a string, over MAX_URL_CHARS, not
    https (http too with `allow_private`), no host, credentials in it, or a host that does not
    resolve or resolves to an address that is not public. Resolving is a DNS lookup."""
    return callback_target(url, allow_private=allow_private).url


def callback_target(url: object, *, allow_private: bool = False) -> CallbackTarget:
    """The URL checked as check_callback_url does, with its host resolved (a DNS lookup)."""
    url, parts, host = _checked_parts(url, allow_private)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InvalidJob("callback_url has an invalid port") from None
    addresses = resolved_addresses(host, port)
    if not allow_private:
        for address in addresses:
            if not is_public(address):
                raise InvalidJob(
                    f"callback_url's host {host!r} resolves to {address}, which is not "
                    "a public address"
                )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return CallbackTarget(url, parts.scheme, host, port, path, tuple(addresses))


def _checked_parts(url: object, allow_private: bool) -> tuple[str, SplitResult, str]:
    if not isinstance(url, str):
        raise InvalidJob(f"callback_url must be a string, got {type(url).__name__}")
    if len(url) > MAX_URL_CHARS:
        raise InvalidJob(f"callback_url is {len(url)} characters; at most {MAX_URL_CHARS}")
    parts = urlsplit(url)
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise InvalidJob(f"callback_url must be an https URL, got scheme {parts.scheme!r}")
    if not parts.hostname:
        raise InvalidJob("callback_url has no host")
    if parts.username is not None or parts.password is not None:
        raise InvalidJob("callback_url must not carry credentials (user:password@)")
    return url, parts, parts.hostname


def resolved_addresses(host: str, port: int | None) -> list[str]:
    """Every address `host` resolves to (an IP literal is itself); InvalidJob if none."""
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    try:
        infos = getaddrinfo(host, port or 443, proto=IPPROTO_TCP)
    except OSError as exc:
        raise InvalidJob(f"callback_url's host {host!r} does not resolve: {exc}") from None
    return sorted({str(info[4][0]) for info in infos})


def is_public(address: str) -> bool:
    """Whether an address is one a callback may reach: not loopback, private, link-local
    (169.254.169.254, the cloud metadata address, among them), multicast, reserved or
    unspecified; an IPv4-mapped IPv6 address is judged as its IPv4 one."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_link_local)


def sign(body: bytes, secret: str, now: float | None = None) -> str:
    """The `Jobs-Signature` header value of a body, at `now` (Unix seconds; default: now)."""
    t = int(time.time() if now is None else now)
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def verify_callback(
    body: bytes, header: str, secret: str, tolerance_s: float = 300, now: float | None = None
) -> bool:
    """Whether `header` (the Jobs-Signature value) signs `body` with `secret`, made within
    `tolerance_s` seconds of `now`. Never raises: a malformed header is simply False."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        t = int(fields["t"])
        given = fields["v1"]
    except (ValueError, KeyError, AttributeError):
        return False
    if abs((time.time() if now is None else now) - t) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)
