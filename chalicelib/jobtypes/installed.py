"""The job types this app serves and its workers run: one line per job type, naming the module
that declares it (its `JOB_TYPE`). The API and every worker read this one list, so a job the
API accepts is always one a worker can run."""

from __future__ import annotations

import importlib

from chalicelib.jobtypes.declaration import JobType

MODULES = (
    "chalicelib.business.async_maths",
)  # fmt: skip


def job_types(modules: tuple[str, ...] = MODULES) -> tuple[JobType, ...]:
    """The declared job types, in the order named. Raises ValueError for a module without a
    JobType named JOB_TYPE, or two job types on one route or one job type name."""
    found: list[JobType] = []
    for name in modules:
        declared = getattr(importlib.import_module(name), "JOB_TYPE", None)
        if not isinstance(declared, JobType):
            raise ValueError(f"{name} has no JOB_TYPE = JobType(...)")
        found.append(declared)
    routes = [jt.route for jt in found]
    names = [name for jt in found for name in jt.handlers]
    if len(set(routes)) < len(routes) or len(set(names)) < len(names):
        raise ValueError(f"two job types share a route or a name: {routes}, {names}")
    return tuple(found)
