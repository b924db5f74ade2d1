"""The one callback rule that holds even where private addresses are allowed: never a
link-local address (169.254.0.0/16 and fe80::/10, the cloud metadata address among them).

JOBS_CALLBACK_ALLOW_PRIVATE=1 (what `make run` sets, so that a receiver on 127.0.0.1 can be
called back) lifts the jobs package's public-address rule whole; the metadata address must stay
out of reach all the same, so the API refuses it at create, in the words the package uses.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from chalicelib.jobs import InvalidJob
from chalicelib.jobs.callbacks import resolved_addresses
from chalicelib.jobtypes.body import InvalidRequest


def refuse_link_local(url: str) -> None:
    """Raise InvalidRequest when the URL's host is, or resolves to, a link-local, multicast or
    unspecified address. Leaves every other check (and a URL it cannot read) to the jobs
    package, so that its messages stay the ones a client sees."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
        addresses = resolved_addresses(host, port) if host else []
    except (ValueError, InvalidJob):
        return
    for address in addresses:
        ip = ipaddress.ip_address(address)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip.is_link_local or ip.is_multicast or ip.is_unspecified:
            raise InvalidRequest(
                f"callback_url's host {host!r} resolves to {address}, which is not a public address"
            )
