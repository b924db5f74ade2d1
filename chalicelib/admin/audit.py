"""The trail of admin actions: one JSON line on stdout per action (CloudWatch Logs on Lambda).

A line says what was done to what, when, from where and how it ended:
`{"event": "admin_action", "action": "pause", "target": "default", "status": 200, "at":
"2026-01-02T03:04:05.678Z", "source_ip": "203.0.113.9", "request_id": "..."}`. It never holds
the token, a header or a job's params or result. Logs Insights reads the fields as they are.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from typing import Any

from chalice.app import Request

EVENT = "admin_action"


class _StdoutJson(logging.Handler):
    """Writes each record's message alone on a line of the current sys.stdout (Lambda sends
    stdout to CloudWatch Logs; `chalice local` shows it in its terminal)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(record.getMessage() + "\n")
            sys.stdout.flush()
        except Exception:  # noqa: BLE001 - logging must never break the request
            self.handleError(record)


log = logging.getLogger("chalicelib.admin.audit")
log.setLevel(logging.INFO)
log.propagate = False
if not log.handlers:
    log.addHandler(_StdoutJson())


def audit_line(action: str, target: str, status: int, request: Request | None) -> dict[str, Any]:
    """The fields of one action's line."""
    now = datetime.datetime.now(datetime.timezone.utc)
    context = (request.context if request is not None else None) or {}
    identity = context.get("identity") or {}
    return {
        "event": EVENT,
        "action": action,
        "target": target,
        "status": status,
        "at": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "source_ip": identity.get("sourceIp"),
        "request_id": context.get("requestId"),
    }


def record(action: str, target: str, status: int, request: Request | None) -> None:
    """Log one admin action (its answer's status says whether it was done)."""
    log.info(json.dumps(audit_line(action, target, status, request), sort_keys=True))
