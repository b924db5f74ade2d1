"""What every phase shares: the private server, one client, the sizes and the figures."""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import redis

from chalicelib.business import async_maths
from chalicelib.jobs import JobController

from ...parts.redis_server import LOOPBACK, RedisServer
from .figures import Figures

#: the repository root: where app.py is, and the working directory of every child process
ROOT = Path(__file__).resolve().parents[3]
JOB_TYPE = "math:multiply"
QUEUE = "default"
#: set by SIGINT or SIGTERM (cli.py); a phase that fails after it ends the run as interrupted
INTERRUPTED = threading.Event()


@dataclass
class Bench:
    """One run's state; each phase reads the sizes and writes its figures here."""

    server: RedisServer
    sizes: dict[str, int]
    #: where to write the worker's pstats; None: no profiled drain
    profile: str | None
    rng: random.Random
    #: for INFO and FLUSHALL, outside the jobs package
    admin: redis.Redis
    client: JobController
    figures: Figures
    #: the round trip (ms) the delay proxy adds for the drain and create_jobs again; None: no
    rtt_ms: float | None = None

    @classmethod
    def on(
        cls,
        server: RedisServer,
        sizes: dict[str, int],
        profile: str | None,
        rtt_ms: float | None = None,
    ) -> Bench:
        """A run on `server`, its client with the maths handlers; the same jobs every run."""
        client = JobController(server.url)
        async_maths.register(client)
        return cls(
            server=server,
            sizes=sizes,
            profile=profile,
            rtt_ms=rtt_ms,
            rng=random.Random(5),
            admin=redis.Redis(host=LOOPBACK, port=server.port),
            client=client,
            figures=Figures(drain_jobs=sizes["jobs"], batch=sizes["batch"], rtt_ms=rtt_ms),
        )

    @property
    def url(self) -> str:
        return self.server.url


def app_environment(url: str) -> dict[str, str]:
    return {"JOBS_REDIS_URL": url}


def without_jobs_vars(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment without JOBS_* settings: no kick, no secret, default settings."""
    return {k: v for k, v in environ.items() if not k.startswith("JOBS_")}
