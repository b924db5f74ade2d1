"""Bad options and LOCAL_* settings are usage errors: exit code 2, a message that names the option
or the variable, and no traceback. None of these commands gets as far as starting anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.local_helpers import REPO, clean_env


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("up",), {"LOCAL_PORT": "abc"}, "--port: LOCAL_PORT='abc' is not a port"),
        (("status",), {"LOCAL_WORKERS": "two"}, None),
        (("up",), {"LOCAL_WORKERS": "two"}, "--workers: LOCAL_WORKERS='two' is not a whole"),
        (("up", "--port", "70000"), {}, "--port: '70000' is not a port (1-65535)"),
        (("up", "--port", "0"), {}, "--port: '0' is not a port (1-65535)"),
        (("redis", "--redis-port", "70000"), {}, "--redis-port: '70000' is not a port"),
        (("redis",), {"LOCAL_REDIS_PORT": "x"}, "LOCAL_REDIS_PORT='x' is not a port"),
        (("redis",), {"LOCAL_REDIS": "bogus"}, "LOCAL_REDIS='bogus' is not one of auto, env,"),
        (("up", "--redis", "bogus"), {}, "--redis: 'bogus' is not one of auto, env, docker"),
        (("up", "--workers", "-1"), {}, "--workers: '-1' is not a whole number, 0 or more"),
        (("up", "--concurrency", "0"), {}, "--concurrency: '0' is not a whole number, 1 or"),
        (("worker", "--shutdown-timeout", "-1"), {}, "'-1' is not a number of seconds, 0 or"),
        (("status", "--watch", "--interval", "0"), {}, "'0' is not a number of seconds above 0"),
        (("status", "--interval", "nan"), {}, "--interval: 'nan' is not a number of seconds"),
    ],
)
def test_a_bad_setting_is_a_usage_error_naming_it(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], message: str | None
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "local", *args],
        cwd=REPO,
        env=clean_env(LOCAL_DATA_DIR=str(tmp_path), **env),
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert "Traceback" not in done.stderr
    if message is None:
        # a setting of another command is not this command's business
        assert done.returncode == 1 and "no local stack runs" in done.stderr
        return
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr


@pytest.mark.timeout(30)
def test_help_works_whatever_the_local_settings() -> None:
    env = clean_env(LOCAL_PORT="abc", LOCAL_WORKERS="two", LOCAL_REDIS="bogus")
    for command in ("up", "status", "redis"):
        done = subprocess.run(
            [sys.executable, "-m", "local", command, "--help"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        assert done.returncode == 0 and "usage:" in done.stdout, done.stderr


@pytest.mark.timeout(30)
@pytest.mark.parametrize("args", [(), ("up", "--workers", "1"), ("status",), ("bench", "--help")])
def test_without_the_requirements_a_command_says_how_to_get_them(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    # a Python that cannot import redis, as a system python3 without the virtualenv
    fake = tmp_path / "redis"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'redis'\", name='redis')\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "local", *args],
        cwd=REPO,
        env=clean_env(PYTHONPATH=str(tmp_path), LOCAL_DATA_DIR=str(tmp_path / "data")),
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.splitlines() == [
        "python -m local: missing the 'redis' package; run 'make venv' and use "
        + " ".join([".venv/bin/python -m local", *args])
    ]
    assert done.stdout == ""
