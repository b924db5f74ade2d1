"""What ships is what was tested: the locks pin every version with its hashes, the test venv is
exactly the dev lock, the Lambda lock is within it, and the lock audit never passes silently."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.markers import Marker

from scripts.audit_lock import verdict
from tests.api_helpers import PROJECT_DIR

PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)\s*(?:;\s*(.+?))?\s*\\?$")


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(lock_file: Path) -> dict[str, str]:
    """name -> version of each pin of a lock that applies to this Python (by its marker)."""
    pins: dict[str, str] = {}
    for line in lock_file.read_text().splitlines():
        match = PIN.match(line)
        if match:
            name, version, marker = match.groups()
            if marker is None or Marker(marker).evaluate():
                pins[normalized(name)] = version
    return pins


def test_the_test_venv_is_exactly_the_dev_lock() -> None:
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--all"], capture_output=True, text=True, check=True
    ).stdout
    installed = {}
    for line in frozen.splitlines():
        name, _, version = line.partition("==")
        installed[normalized(name)] = version

    assert installed == locked(PROJECT_DIR / "requirements-dev.txt")


def test_the_lambda_lock_is_within_the_dev_lock_and_has_redis_6_or_later() -> None:
    runtime = locked(PROJECT_DIR / "requirements.txt")
    dev = locked(PROJECT_DIR / "requirements-dev.txt")

    assert runtime.items() <= dev.items()
    assert {"redis", "hiredis", "croniter", "urllib3"} <= set(runtime)
    assert int(runtime["redis"].split(".")[0]) >= 6
    assert "boto3" not in runtime


@pytest.mark.parametrize("lock_name", ["requirements.txt", "requirements-dev.txt"])
def test_every_locked_version_is_exact_and_hashed(lock_name: str) -> None:
    text = (PROJECT_DIR / lock_name).read_text()
    requirements = [r for r in re.split(r"(?<!\\)\n", text) if r and not r.lstrip().startswith("#")]

    assert requirements
    for requirement in requirements:
        assert PIN.match(requirement.splitlines()[0]), requirement
        assert "--hash=sha256:" in requirement, requirement


def test_redis_range_excludes_redis_5_which_skips_the_hostname_check() -> None:
    ranges = (PROJECT_DIR / "requirements.in").read_text()

    assert re.search(r"^redis>=6\b", ranges, re.MULTILINE)


def test_a_vulnerable_locked_version_fails_the_audit() -> None:
    report = {
        "dependencies": [
            {"name": "jinja2", "version": "3.1.2", "vulns": [{"id": "GHSA-h5c8-rqwp-cp95"}]},
            {"name": "redis", "version": "8.2.0", "vulns": []},
        ]
    }

    code, lines = verdict(report)

    assert code == 1
    assert lines == [
        "pip-audit: jinja2 3.1.2 is vulnerable: GHSA-h5c8-rqwp-cp95 (fixed in: none yet)"
    ]


def test_an_unreachable_database_is_said_in_one_line_and_does_not_fail() -> None:
    reason = "Dependency not found on PyPI and could not be audited: redis (8.2.0)"
    report = {"dependencies": [{"name": "redis", "skip_reason": reason}]}

    code, lines = verdict(report)

    assert code == 0
    assert len(lines) == 1 and lines[0].startswith("pip-audit: NOT AUDITED: 1 of 1")


def test_the_audit_of_a_known_vulnerable_lock_never_passes_silently(tmp_path: Path) -> None:
    # jinja2 3.1.2 has published advisories: either the database answers and the audit fails,
    # or it cannot be reached here and the output says so
    lock = tmp_path / "lock.txt"
    lock.write_text("jinja2==3.1.2 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    done = subprocess.run(
        [sys.executable, str(PROJECT_DIR / "scripts" / "audit_lock.py"), str(lock)],
        capture_output=True,
        text=True,
        timeout=300,
    )

    if done.returncode == 0:
        assert "NOT AUDITED" in done.stdout, done.stdout + done.stderr
    else:
        assert done.returncode == 1 and "jinja2 3.1.2 is vulnerable" in done.stdout
