"""`python -m local bench`: how fast the jobs package is on this machine.

Starts its own redis-server on a free loopback port, then measures in turn: redis-benchmark as the
physical reference; `create_job` one at a time; `create_jobs` in batches (which queue the drain's
backlog); the drain of that backlog by ONE worker process with default settings, every result
checked; pick-up latency with that worker idle; a second backlog of the same size drained and
checked the same way by a worker with isolation="process" (handlers in child processes); the API
path through the Chalice app in process; the cold start of a fresh process that imports app.py and
answers one POST /maths. Beside the rates: Redis's and the worker's CPU per job in the drain,
create_job against a plain SET loop, Redis memory per job queued and per job completed, and what a
million jobs and an idle month cost on Lambda beside Lambda + SQS. `--rtt-ms MS` drains and runs
create_jobs again through `python -m local delay-proxy` (MS per round trip), as a share of the
loopback figures. Prints a table; `--json FILE` writes the figures; `--profile FILE` adds a
drain under cProfile and writes its stats.
With `--quick` the sizes are too small to judge against the targets, so no verdict is given.
"""

# The targets and the JSON keys are documented in docs/performance.md.
#
# The worker process is `python -m local.commands.bench.worker_process URL [--isolation MODE]`:
# it counts the Redis round trips its client makes and answers `go`, `report` and `stop` on stdin,
# one JSON line each on stdout.
#
# Where each duty lives:
#   cli.py              options, sizes, the run and its exit code
#   runner.py           the phases in order; one failing phase does not hide the others
#   context.py          what every phase shares: the server, one client, the figures
#   creating.py         create_job one at a time, create_jobs in batches
#   drain.py            the drain by one worker process, verified; its isolation="process" and
#                       cProfile twins
#   latency.py          pick-up latency with an idle worker
#   api.py              POST + GET through the Chalice app in process
#   cold_start.py       a fresh process: import app.py, answer one POST /maths
#   rtt.py              the drain and create_jobs again through the delay proxy
#   cost.py             Lambda and Lambda + SQS prices times the measured figures
#   redis_reference.py  redis-benchmark, and what Redis itself reports (INFO)
#   worker_handle.py    the parent's side of the worker process
#   worker_process.py   the worker process itself, counting its round trips
#   profiling.py        cProfile per worker thread, and the summary for the table
#   figures.py          the figures; report.py: the table and the JSON
#   progress.py         the progress bar and the messages on stderr

from __future__ import annotations

from .cli import HELP, add_arguments, main, run

__all__ = ["HELP", "add_arguments", "main", "run"]
