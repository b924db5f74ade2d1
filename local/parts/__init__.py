"""The parts the `python -m local` commands are built from; none of them is a command itself.

options.py        argument types, and defaults read from LOCAL_* variables
redis_server.py   a redis-server (or a cluster of them) on a loopback port
redis_choice.py   which Redis to use, and why the others were passed over
restarts.py       how often a process that keeps exiting may be restarted
redis_start.py    bringing the chosen Redis up under the supervisor, and stopping it
docker_redis.py   the Redis of the compose file: docker compose with a time limit, stopped again
stack_file.py     <data dir>/stack.json: who owns the data dir, and where its Redis is
supervisor.py     child processes: started, their output prefixed, stopped in order
"""

from pathlib import Path

#: the local/ directory, which holds the compose file and, by default, the data dir
LOCAL_DIR = Path(__file__).resolve().parent.parent
