"""Job types as declarations: one file per job type, from which the app derives its routes,
its handlers' registration, its request checks and its OpenAPI paths and schemas.

Declare one with `JobType` (see chalicelib/business/async_maths.py, the first, and
docs/your-first-job-type.md); name its module in `installed.py`.
"""

from chalicelib.jobs import JobResult
from chalicelib.jobtypes.body import InvalidRequest
from chalicelib.jobtypes.declaration import Handler, JobType, Submission

__all__ = ["Handler", "InvalidRequest", "JobResult", "JobType", "Submission"]
