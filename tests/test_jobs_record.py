"""The job record has one owner: the Lua scripts take their state numbers and outcome names from
it, and a record written by Python reads back the same after the scripts have moved it."""

from __future__ import annotations

import re
from pathlib import Path

import redis

from chalicelib.jobs import JobController, JobResult, JobState
from chalicelib.jobs.lua import SCRIPT_NAMES, script_sources
from chalicelib.jobs.record import Outcome, lua_constants
from tests.jobs_helpers import settle

SCRIPTS = Path(__file__).resolve().parent.parent / "chalicelib" / "jobs" / "scripts"


def test_lua_sees_the_same_state_numbers_and_outcome_names_as_python(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    names = [s.name for s in JobState]
    states = client.eval(
        lua_constants() + "local out = {} for i, n in ipairs(ARGV) do out[i] = STATE[n] end "
        "return out",
        0,
        *names,
    )
    assert dict(zip(names, states, strict=True)) == {s.name: int(s) for s in JobState}
    outcomes = client.eval(
        lua_constants() + "return {OUTCOME.DONE, OUTCOME.FAIL, OUTCOME.RETRY}", 0
    )
    assert outcomes == [Outcome.DONE.value, Outcome.FAIL.value, Outcome.RETRY.value]


def test_no_script_spells_a_state_number_or_an_outcome_name() -> None:
    for name in (*SCRIPT_NAMES, "lib"):
        source = (SCRIPTS / f"{name}.lua").read_text()
        code = "\n".join(line.split("--")[0] for line in source.splitlines())
        assert not re.search(r"state\s*[=~]=?\s*\d", code), f"{name}.lua compares a bare state"
        assert not re.search(r"'(done|fail|retry)'", code), f"{name}.lua spells an outcome"


def test_every_script_loads_with_the_shared_library(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    # a Redis before 7 cannot read the flags line: the store loads the scripts without it there
    flags = int(str(client.info("server")["redis_version"]).split(".")[0]) >= 7
    for name, source in script_sources(flags).items():
        assert client.script_load(source), name


def test_params_and_results_keep_every_digit_through_the_scripts(any_redis_url: str) -> None:
    c = JobController(any_redis_url)
    c.add_handler("test:echo", lambda p: JobResult(True, res={"x": p["x"] * 3, "big": p["big"]}))
    job_id = c.create_job("test:echo", {"x": 0.1, "big": 2**63 - 1})
    assert settle(c) == 1
    assert c.get_status(job_id).result == {"x": 0.1 * 3, "big": 2**63 - 1}
