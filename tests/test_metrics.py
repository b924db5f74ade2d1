"""Prometheus metrics: GET /admin/api/metrics and a worker's /metrics (`--metrics-port`), read
with prometheus_client's own parser and checked against the queues' real counts after a drain."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator

import pytest
from chalice.test import Client
from prometheus_client.parser import text_string_to_metric_families

import app
from local.commands.worker import serve_metrics
from tests.api_helpers import create, dev_client, use_redis

TOKEN = "admin-token-for-tests"
AUTH = {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    monkeypatch.delenv("JOBS_ADMIN_SECRET_ID", raising=False)
    use_redis(monkeypatch, redis_url, JOBS_ADMIN_TOKEN=TOKEN)
    with dev_client() as test_client:
        yield test_client


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Each sample of a scrape, by name and sorted labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_admin_and_worker_metrics_match_the_queues_after_a_drain(client: Client) -> None:
    controller = app.get_controller()
    server = serve_metrics(controller, free_port())
    try:
        for a in range(3):
            create(client, "math:add", a, 1)
        create(client, "math:divide", 1, 0)
        controller.drain(0.5)
        port = server.server_port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
            worker = samples(reply.read().decode())
    finally:
        server.shutdown()
        server.server_close()
    answer = client.http.get("/admin/api/metrics", headers=AUTH)
    assert answer.status_code == 200, answer.body
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    admin = samples(answer.body.decode())
    assert client.http.get("/admin/api/metrics").status_code == 401

    (default,) = [q for q in controller.inspector.queues() if q.name == "default"]
    assert (default.counts["COMPLETED"], default.counts["FAILED"]) == (3, 1)
    for scrape in (admin, worker):
        for state, count in default.counts.items():
            key = ("jobs_queue_jobs", (("queue", "default"), ("state", state.lower())))
            assert scrape[key] == count
        assert scrape[("jobs_queue_oldest_pending_seconds", (("queue", "default"),))] == 0

    def processed(job_type: str, outcome: str) -> float:
        labels = (("job_type", job_type), ("outcome", outcome), ("queue", "default"))
        return worker[("jobs_processed_total", labels)]

    assert (processed("math:add", "done"), processed("math:divide", "fail")) == (3, 1)
    for histogram in ("jobs_run_seconds", "jobs_wait_seconds"):
        assert worker[(f"{histogram}_count", (("queue", "default"),))] == 4
        assert worker[(f"{histogram}_sum", (("queue", "default"),))] >= 0
        assert worker[(f"{histogram}_bucket", (("le", "+Inf"), ("queue", "default")))] == 4
