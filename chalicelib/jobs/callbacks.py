"""Callbacks (webhooks): which URLs are allowed, and how a delivery is signed and checked.

A delivery's body is JSON and carries `Jobs-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<body>">` made with the shared secret; receivers check it with `verify_callback`.
Safe by default: only https URLs, and no host that resolves to a loopback, private, link-local,
reserved or metadata address, unless private addresses are allowed (JOBS_CALLBACK_ALLOW_PRIVATE=1,
for tests and local use; it also allows http). An IPv6 address that embeds an IPv4 one (mapped,
compatible, NAT64, 6to4, Teredo) is refused when the IPv4 one would be. A DNS lookup takes at
most RESOLVE_TIMEOUT_S: a slow name server cannot hold an API request or a worker longer.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import threading
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
#: queues the package runs for itself: not readable, waitable or cancellable through the public
#: API (a delivery's params hold the receiver's URL, its result the receiver's answer)
INTERNAL_QUEUES = frozenset({CALLBACK_QUEUE})
#: the longest a callback host's DNS lookup may take, at create and at delivery
RESOLVE_TIMEOUT_S = 2.0
#: lookups of one process in flight at once (a lookup past its bound still holds its thread)
MAX_LOOKUPS = 8
_lookups = threading.BoundedSemaphore(MAX_LOOKUPS)
#: NAT64 prefixes (well-known, local-use): the last 32 bits are an IPv4 address
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
#: the deprecated IPv4-compatible form ::a.b.c.d
_COMPATIBLE = ipaddress.ip_network("::/96")


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
    infos = _lookup(host, port or 443)
    return sorted({str(info[4][0]) for info in infos})


def _lookup(host: str, port: int) -> list[tuple]:
    """getaddrinfo in a helper thread, waited for at most RESOLVE_TIMEOUT_S (the C resolver
    cannot be interrupted: a lookup past its bound ends in its own time, holding one of
    MAX_LOOKUPS slots). InvalidJob when it fails or takes longer."""
    slow = InvalidJob(
        f"callback_url's host {host!r} did not resolve within {RESOLVE_TIMEOUT_S:g} s"
    )
    deadline = time.monotonic() + RESOLVE_TIMEOUT_S
    if not _lookups.acquire(timeout=RESOLVE_TIMEOUT_S):
        raise slow
    outcome: list[list[tuple] | OSError] = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append(getaddrinfo(host, port, proto=IPPROTO_TCP))
        except OSError as exc:
            outcome.append(exc)
        finally:
            _lookups.release()
            done.set()

    threading.Thread(target=run, name="callback-dns", daemon=True).start()
    if not done.wait(max(0.0, deadline - time.monotonic())):
        raise slow
    if isinstance(outcome[0], OSError):
        raise InvalidJob(f"callback_url's host {host!r} does not resolve: {outcome[0]}")
    return outcome[0]


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 one carries: IPv4-mapped, 6to4, Teredo (server and client),
    NAT64 and IPv4-compatible forms; none for any other."""
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)
    if any(ip in net for net in _NAT64) or (ip in _COMPATIBLE and int(ip) > 1):
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    return []


def is_public(address: str) -> bool:
    """Whether an address is one a callback may reach: not loopback, private, link-local
    (169.254.169.254, the cloud metadata address, among them), multicast, reserved or
    unspecified. An IPv6 address that embeds IPv4 ones is refused when any of them would be;
    an IPv4-mapped or well-known NAT64 one (DNS64 answers) is judged by its IPv4 one alone."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = embedded_ipv4(ip)
        if not all(_reachable(v4) for v4 in embedded):
            return False
        if ip.ipv4_mapped is not None or ip in _NAT64[0]:
            return True
    return _reachable(ip)


def _reachable(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
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
        given = fields["v1"].encode("utf-8", "surrogatepass")
        if abs((time.time() if now is None else now) - t) > tolerance_s:
            return False
        mac = hmac.new(secret.encode("utf-8", "surrogatepass"), f"{t}.".encode(), hashlib.sha256)
        mac.update(body)
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError):
        return False
    return hmac.compare_digest(mac.hexdigest().encode(), given)
