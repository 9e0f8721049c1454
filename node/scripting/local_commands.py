"""The commands a script calls that the RESP front end runs itself, answered by the engine instead.

TIME (the entry's clock: the same on every replica), SELECT (the run's
database), PING, ECHO and WAIT (0 at once: a script never blocks, and its reply
must not depend on a replica's view of the others). KEYS, a SCAN to the end,
is the engine's own (node/scripting/engine.py). Each takes (engine, run, argv): the
engine.Engine and engine.Run of the script, the command's arguments; and returns
a reply or a script error. Must not touch: the wall clock,
randomness, the keyspace.
"""

from __future__ import annotations

from raftcache.node import commands
from raftcache.node.frontends import resp_args
from raftcache.node.frontends.resp_protocol import RespError
from raftcache.node.scripting.replies import script_error


def _time(engine, run, argv) -> object:
    now_ms = run.ctx.now_ms
    return [str(now_ms // 1000).encode(), str((now_ms % 1000) * 1000).encode()]


def _select(engine, run, argv) -> object:
    try:
        db = resp_args.to_int(argv[1])
    except RespError:
        return script_error("ERR value is not an integer or out of range")
    if not 0 <= db < (run.ctx.databases or 16):
        return script_error("ERR DB index is out of range")
    run.db = db
    return commands.OK


def _ping(engine, run, argv) -> object:
    return argv[1] if len(argv) > 1 else commands.Status("PONG")


def _echo(engine, run, argv) -> object:
    return argv[1]


def _wait(engine, run, argv) -> object:
    """WAIT: a script never blocks (Redis answers at once); 0, the same on every replica, since
    a reply a script may store must not depend on the replica's view of the others."""
    return 0


#: Command name -> its answer in a script.
ANSWERED_HERE = {"time": _time, "select": _select, "ping": _ping, "echo": _echo, "wait": _wait}
