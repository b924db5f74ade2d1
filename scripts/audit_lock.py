"""pip-audit on a lock file: exit 1 on a known vulnerability, and never a silent pass.

Usage: python scripts/audit_lock.py LOCK_FILE [LOCK_FILE...]

pip-audit reads the exact versions of the lock (no install, no resolve) and asks its
vulnerability database about each. Where the database cannot be reached (a network that reaches
the package index but not its per-version vulnerability answers, or none at all), pip-audit
itself reports "No known vulnerabilities found" and exits 0; here that case prints one line
saying how many locked versions went unaudited and why, and exits 0: CI does not fail for that
alone, but nobody reads it as a pass.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

#: what pip-audit prints when its database could not be reached at all
NETWORK_WORDS = ("connection", "resolve", "timed out", "timeout", "max retries", "unreachable")


def verdict(report: dict[str, Any]) -> tuple[int, list[str]]:
    """(exit code, lines to print) for pip-audit's JSON report: 1 and a line per vulnerable
    version when there is one; else 0, and one line when some versions could not be audited."""
    dependencies = report.get("dependencies", [])
    vulnerable = [d for d in dependencies if d.get("vulns")]
    skipped = [d for d in dependencies if d.get("skip_reason")]
    lines = []
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions") or []) or "none yet"
            lines.append(
                f"pip-audit: {dep['name']} {dep.get('version', '?')} is vulnerable: "
                f"{vuln.get('id', '?')} (fixed in: {fixed})"
            )
    if skipped:
        lines.append(
            f"pip-audit: NOT AUDITED: {len(skipped)} of {len(dependencies)} locked versions: the "
            f"vulnerability database could not be reached ({skipped[0]['skip_reason']})"
        )
    elif not vulnerable:
        lines.append(f"pip-audit: {len(dependencies)} locked versions, no known vulnerability")
    return (1 if vulnerable else 0), lines


def unreachable(stderr: str) -> bool:
    """Whether pip-audit failed because its database could not be reached."""
    text = stderr.lower()
    return any(word in text for word in NETWORK_WORDS)


def audit(lock_files: Sequence[str]) -> int:
    """Run pip-audit on the lock files; print the verdict; return the exit code."""
    command = [sys.executable, "-m", "pip_audit", "--disable-pip", "--format", "json"]
    for lock_file in lock_files:
        command += ["-r", lock_file]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    try:
        report = json.loads(done.stdout)
    except ValueError:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        if unreachable(done.stderr):
            print(
                f"pip-audit: NOT AUDITED: the vulnerability database could not be reached: {last}"
            )
            return 0
        print(f"pip-audit failed (exit {done.returncode}): {last}", file=sys.stderr)
        return 2
    code, lines = verdict(report)
    print("\n".join(lines))
    return code


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(audit(sys.argv[1:]))
