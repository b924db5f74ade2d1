"""Delivering a callback: the handler of the jobs on the CALLBACK_QUEUE queue.

A delivery is a job like any other: its attempts, errors and outcome show in its status, and it
is retried on its own schedule (DELIVERY_DELAYS_S) until DELIVERY_WINDOW_S after the job ended.
Each attempt checks the URL again after a fresh DNS lookup and connects to an address that
lookup approved (never to a second answer), POSTs the signed body with a DELIVERY_TIMEOUT_S
limit, and follows no redirect. A 2xx answer delivers it; anything else is retried; a URL that
is no longer allowed fails the delivery for good.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable
from typing import Any

from .callbacks import SIGNATURE_HEADER, CallbackTarget, callback_target, sign
from .model import InvalidJob, JobResult, SkipRetry

#: one attempt's limit, connecting and answering included
DELIVERY_TIMEOUT_S = 10.0
#: a delivery is retried for this long after its job ended (it is its deadline)
DELIVERY_WINDOW_S = 24 * 3600.0
#: seconds before each next try; the last one repeats until the window closes
DELIVERY_DELAYS_S = (5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0, 7200.0)
#: enough tries to fill the window (the deadline ends them first)
DELIVERY_MAX_RETRY = 25
#: the answer's first bytes kept in an error, for the receiver's owner to read
ANSWER_SHOWN_BYTES = 200
USER_AGENT = "chalice-jobs-callback/1"


def delivery_delay_s(retried: int, error: str) -> float:
    """Seconds before the next delivery try, with jitter (x0.8-1.2) so that a receiver back
    from an outage is not hit by every delivery at once."""
    base = DELIVERY_DELAYS_S[min(retried, len(DELIVERY_DELAYS_S) - 1)]
    return base * random.uniform(0.8, 1.2)


class DeliveryFailed(Exception):
    """The receiver did not take the callback (an answer other than 2xx, or no answer)."""


class CallbackDelivery:
    """The handler of a delivery job: params {"url", "job_id", "body"} (the body is the JSON
    text sent, as it was when the job ended)."""

    def __init__(self, secret: Callable[[], str], allow_private: bool = False) -> None:
        self.secret = secret
        self.allow_private = allow_private

    def retry_delay(self, retried: int, error: str) -> float:
        """The worker asks the handler for its jobs' retry delays: the delivery schedule."""
        return delivery_delay_s(retried, error)

    def __call__(self, params: dict[str, Any]) -> JobResult:
        try:
            target = callback_target(params["url"], allow_private=self.allow_private)
        except InvalidJob as exc:
            raise SkipRetry(f"not delivered: {exc}") from None
        body = str(params["body"]).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: sign(body, self.secret()),
        }
        status = post(target, body, headers)
        return JobResult(True, res={"status": status, "url": target.url})


def post(target: CallbackTarget, body: bytes, headers: dict[str, str]) -> int:
    """POST `body` to the target's first address, naming its host in Host and (https) in SNI
    and the certificate check. Returns the 2xx status; raises DeliveryFailed otherwise."""
    import urllib3  # noqa: PLC0415 - only workers that deliver callbacks need it

    address = target.addresses[0]
    host_header = target.host if ":" not in target.host else f"[{target.host}]"
    default_port = 443 if target.scheme == "https" else 80
    if target.port != default_port:
        host_header += f":{target.port}"
    options: dict[str, Any] = {
        "timeout": urllib3.Timeout(total=DELIVERY_TIMEOUT_S),
        "retries": False,
        "maxsize": 1,
    }
    pool: urllib3.HTTPConnectionPool
    if target.scheme == "https":
        named = not _is_ip(target.host)
        pool = urllib3.HTTPSConnectionPool(
            address, target.port, server_hostname=target.host if named else None,
            assert_hostname=target.host, **options,
        )  # fmt: skip
    else:
        pool = urllib3.HTTPConnectionPool(address, target.port, **options)
    try:
        answer = pool.urlopen(
            "POST", target.path, body=body, headers={**headers, "Host": host_header},
            redirect=False, preload_content=False, assert_same_host=False,
        )  # fmt: skip
        try:
            shown = answer.read(ANSWER_SHOWN_BYTES)
        finally:
            answer.release_conn()
    except urllib3.exceptions.HTTPError as exc:
        raise DeliveryFailed(f"no answer from {target.host}: {exc}") from None
    finally:
        pool.close()
    status = answer.status
    if 200 <= status < 300:
        return status
    if 300 <= status < 400:
        location = answer.headers.get("Location", "")
        raise DeliveryFailed(f"HTTP {status}: redirects are not followed (to {location[:200]})")
    text = shown.decode("utf-8", "replace").strip()
    raise DeliveryFailed(f"HTTP {status}" + (f": {text}" if text else ""))


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
