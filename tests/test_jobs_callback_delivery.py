"""Callbacks delivered for real: a job's end becomes a delivery job on the "callbacks" queue,
which POSTs the signed status to an HTTP server on 127.0.0.1 and retries until it is taken.
Every refusal is shown too: at create, and again at delivery after a fresh DNS lookup."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.jobs import (
    InvalidJob,
    JobController,
    JobResult,
    JobState,
    JobsUnavailable,
    callbacks,
    delivery,
    verify_callback,
)
from chalicelib.jobs.worker.outbox import CallbackForwarder
from tests.callback_receiver import Answer, Receiver
from tests.jobs_helpers import wait_for_state, wait_until
from tests.tls_helpers import ca_and_server

SECRET = "test-callback-secret"


def make(url: str, **options: object) -> JobController:
    settings: dict[str, object] = {
        "callback_secret": SECRET,
        "callback_allow_private": True,
        "concurrency": 4,
    }
    settings.update(options)
    c = JobController(url, **settings)  # type: ignore[arg-type]
    c.add_handler("test:ok", lambda p: JobResult(True, res=p["n"]))
    c.add_handler("test:fail", lambda p: JobResult(False, msg="bad input"))
    return c


@pytest.fixture
def started(any_redis_url: str) -> Iterator[JobController]:
    c = make(any_redis_url)
    c.start()
    yield c
    c.stop(timeout=2)


def move_clock(c: JobController, by_s: float) -> None:
    """Jump the controller's clock forward, and wake its worker (an idle one waits for work)
    so that it sees the jump."""
    c.clock = lambda: time.time() + by_s
    c.create_job("test:ok", {"n": 0})


def delivery_of(c: JobController, job_id: str) -> str:
    return wait_until(lambda: c.get_status(job_id).callback_id, 10, "a delivery")


def test_the_end_is_posted_signed_and_retried_until_the_receiver_takes_it(
    started: JobController,
) -> None:
    receiver = Receiver(Answer(500), Answer(200))
    with receiver.running():
        job_id = started.create_job("test:ok", {"n": 7}, callback_url=receiver.url())
        receiver.wait_for(1)
        delivery_id = delivery_of(started, job_id)
        first = wait_for_state(started, delivery_id, JobState.RETRYING)
        move_clock(started, 8.0)  # past the first retry's delay (5 s, +-20%)
        received = receiver.wait_for(2)

    done = wait_for_state(started, delivery_id, JobState.COMPLETED)
    assert first.error == "DeliveryFailed: HTTP 500: ok"
    assert done.retried == 1 and done.result["status"] == 200
    assert delivery_id.startswith("callbacks@")
    for request in received:
        assert request.path == "/hook"
        assert request.headers["Content-Type"] == "application/json"
        assert verify_callback(request.body, request.headers["Jobs-Signature"], SECRET)
        assert not verify_callback(request.body, request.headers["Jobs-Signature"], "other")
        assert json.loads(request.body) == {
            "id": job_id, "state_code": 6, "status": "COMPLETED", "res": 7,
        }  # fmt: skip
    assert started.get_status(job_id).body()["callback_id"] == delivery_id


def test_a_failed_job_and_a_cancelled_one_are_called_back_once_each(
    started: JobController,
) -> None:
    receiver = Receiver()
    with receiver.running():
        failed = started.create_job("test:fail", {}, callback_url=receiver.url("/failed"))
        later = started.create_job(
            "test:ok", {"n": 1}, process_in=3600, callback_url=receiver.url("/cancelled")
        )
        started.cancel(later)  # ended by the client: the outbox waits for maintenance
        move_clock(started, 6.0)
        received = receiver.wait_for(2)
        time.sleep(0.3)  # a second delivery of either would come now

    bodies = {r.path: json.loads(r.body) for r in receiver.received}
    assert len(receiver.received) == 2, [r.path for r in received]
    assert bodies["/failed"] == {
        "id": failed, "state_code": 5, "status": "FAILED", "res": None, "error": "bad input",
    }  # fmt: skip
    assert bodies["/cancelled"]["cancelled"] is True
    assert bodies["/cancelled"]["error"] == "cancelled"


def test_a_receiver_that_redirects_is_not_followed(started: JobController) -> None:
    receiver = Receiver(Answer(302, location="/elsewhere"))
    with receiver.running():
        job_id = started.create_job("test:ok", {"n": 1}, callback_url=receiver.url())
        delivery_id = delivery_of(started, job_id)
        status = wait_for_state(started, delivery_id, JobState.RETRYING)
        time.sleep(0.2)

    assert status.error is not None and "redirects are not followed" in status.error
    assert [r.path for r in receiver.received] == ["/hook"]


def test_a_receiver_that_does_not_answer_in_time_is_retried(
    started: JobController, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "DELIVERY_TIMEOUT_S", 0.3)
    receiver = Receiver(Answer(200, delay_s=2.0))
    with receiver.running():
        job_id = started.create_job("test:ok", {"n": 1}, callback_url=receiver.url())
        delivery_id = delivery_of(started, job_id)
        status = wait_for_state(started, delivery_id, JobState.RETRYING)

    assert status.error is not None and "no answer from 127.0.0.1" in status.error
    assert "timed out" in status.error.lower()


def test_a_named_host_is_reached_at_the_address_it_was_checked_at(
    started: JobController, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookups: list[str] = []

    def resolve(host: str, port: int, **kwargs: object) -> list[tuple]:
        lookups.append(host)
        return [(2, 1, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(callbacks, "getaddrinfo", resolve)
    receiver = Receiver()
    with receiver.running():
        url = f"http://hooks.invalid:{receiver.port}/hook?kind=maths"
        job_id = started.create_job("test:ok", {"n": 1}, callback_url=url)
        (request,) = receiver.wait_for(1)

    assert request.path == "/hook?kind=maths"
    assert request.headers["Host"] == f"hooks.invalid:{receiver.port}"
    assert lookups == ["hooks.invalid", "hooks.invalid"]  # at create, and again at delivery
    assert wait_for_state(started, delivery_of(started, job_id), JobState.COMPLETED)


@pytest.mark.parametrize(
    ("names", "delivered"),
    [(("hooks.invalid",), True), (("other.invalid",), False)],
    ids=["certificate-for-the-host", "certificate-for-another-host"],
)
def test_an_https_receiver_is_reached_by_name_and_its_certificate_is_checked(
    started: JobController,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    names: tuple[str, ...],
    delivered: bool,
) -> None:
    ca_file, cert_file, key_file = ca_and_server(tmp_path, dns_names=names)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # our CA, as the system's trust store

    def resolve(host: str, port: int, **kwargs: object) -> list[tuple]:
        return [(2, 1, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(callbacks, "getaddrinfo", resolve)
    receiver = Receiver(tls=(cert_file, key_file))
    with receiver.running():
        url = f"https://hooks.invalid:{receiver.port}/hook"
        job_id = started.create_job("test:ok", {"n": 1}, callback_url=url)
        delivery_id = delivery_of(started, job_id)
        state = JobState.COMPLETED if delivered else JobState.RETRYING
        status = wait_for_state(started, delivery_id, state)

    if delivered:
        (request,) = receiver.received
        assert request.headers["Host"] == f"hooks.invalid:{receiver.port}"
        assert verify_callback(request.body, request.headers["Jobs-Signature"], SECRET)
    else:
        assert receiver.received == []
        assert status.error is not None and "hooks.invalid" in status.error
        assert "hostname 'hooks.invalid' doesn't match" in status.error, status.error


def test_a_host_that_resolves_privately_at_delivery_is_refused_without_a_request(
    any_redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter(["93.184.216.34", "127.0.0.1"])  # public at create, loopback afterwards

    def resolve(host: str, port: int, **kwargs: object) -> list[tuple]:
        return [(2, 1, 6, "", (next(answers), port))]

    monkeypatch.setattr(callbacks, "getaddrinfo", resolve)
    c = make(any_redis_url, callback_allow_private=False)
    c.start()
    job_id = c.create_job("test:ok", {"n": 1}, callback_url="https://rebinding.invalid/hook")

    status = wait_for_state(c, delivery_of(c, job_id), JobState.FAILED)

    assert status.retried == 0
    assert status.error == (
        "not delivered: callback_url's host 'rebinding.invalid' resolves to 127.0.0.1, which "
        "is not a public address"
    )
    c.stop(timeout=2)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:9/hook", "must be an https URL"),
        ("https://127.0.0.1/hook", "not a public address"),
        ("https://10.1.2.3/hook", "not a public address"),
        ("https://169.254.169.254/latest/meta-data/", "not a public address"),
        ("https://[fd00::1]/hook", "not a public address"),
        ("https://user:pw@93.184.216.34/hook", "must not carry credentials"),
        ("https://93.184.216.34/" + "a" * 2030, "at most 2048"),
        (42, "must be a string"),
    ],
)
def test_an_unsafe_callback_url_is_refused_at_create_and_nothing_is_written(
    redis_url: str, url: object, why: str
) -> None:
    c = make(redis_url, callback_allow_private=False)

    with pytest.raises(InvalidJob, match=why):
        c.create_job("test:ok", {"n": 1}, callback_url=url)  # type: ignore[arg-type]

    assert c.queue_stats(["default"])[0].pending == 0


def test_without_a_callback_secret_a_callback_url_is_refused(redis_url: str) -> None:
    c = make(redis_url, callback_secret=None)

    with pytest.raises(InvalidJob, match="callbacks are not enabled"):
        c.create_job("test:ok", {"n": 1}, callback_url="https://93.184.216.34/hook")
    assert "callbacks" not in c.settings.queues
    assert make(redis_url).settings.queues == ("default", "callbacks")


def test_a_forward_cut_short_before_the_outbox_is_emptied_delivers_once(
    any_redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make(any_redis_url)
    job_id = api.create_job("test:ok", {"n": 3}, callback_url="http://127.0.0.1:9/hook")
    # a worker without callbacks configured runs it: the job ends, its entry stays in the outbox
    plain = make(any_redis_url, callback_secret=None)
    plain.drain(0.5)
    assert api.get_status(job_id).state is JobState.COMPLETED
    forwarder = CallbackForwarder.of(api.store, api._handlers, api.settings, time.time)
    assert forwarder is not None

    def cut(queue: str, done: object) -> int:
        raise JobsUnavailable("Redis is unavailable: the worker died here")

    with monkeypatch.context() as patch:
        patch.setattr(api.store, "forwarded", cut)
        with pytest.raises(JobsUnavailable):
            forwarder.forward("default")
    assert forwarder.forward("default") == 1  # the same delivery, found by its key
    assert forwarder.forward("default") == 0  # and the outbox is empty

    (stats,) = api.queue_stats(["callbacks"])
    assert stats.pending == 1
    assert api.get_status(job_id).callback_id is not None


def test_the_delivery_schedule_backs_off_and_the_24_hour_window_ends_it() -> None:
    steps = delivery.DELIVERY_DELAYS_S
    delays = [steps[min(n, len(steps) - 1)] for n in range(delivery.DELIVERY_MAX_RETRY)]

    assert delays == sorted(delays) and delays[0] <= 10 and delays[-1] == 2 * 3600
    # the tries go on for the whole window however the jitter falls: the deadline ends them,
    # not the retry count
    assert 0.8 * sum(delays) > delivery.DELIVERY_WINDOW_S == 24 * 3600
    assert 1.2 * sum(delays[:12]) < delivery.DELIVERY_WINDOW_S
    for retried in range(30):
        base = steps[min(retried, len(steps) - 1)]
        assert 0.8 * base <= delivery.delivery_delay_s(retried, "HTTP 500") <= 1.2 * base


def test_a_delivery_still_failing_at_the_end_of_its_window_fails_for_good(
    any_redis_url: str,
) -> None:
    # leases longer than the clock's jump: the attempt under way keeps its lease
    started = make(any_redis_url, lease=2 * delivery.DELIVERY_WINDOW_S)
    started.start()
    receiver = Receiver(Answer(503, delay_s=0.5))
    with receiver.running():
        job_id = started.create_job("test:ok", {"n": 1}, callback_url=receiver.url())
        receiver.wait_for(1)  # the first try is under way: 24 h pass while it waits
        started.clock = lambda: time.time() + delivery.DELIVERY_WINDOW_S - 2
        status = wait_for_state(started, delivery_of(started, job_id), JobState.FAILED)

    assert status.retried == 0
    assert status.error == "deadline exceeded before the next try: DeliveryFailed: HTTP 503: ok"
    assert len(receiver.received) == 1
    started.stop(timeout=2)
