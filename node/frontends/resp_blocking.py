"""Blocking pops of the Redis front end: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH,
BZPOPMIN, BZPOPMAX.

A blocked client does not hold anything in the state machine: the node it
is connected to watches its own applied index, and whenever a key it waits
for holds something (checked on the local replica, no Raft round trip) it
proposes the ordinary non-blocking pop (LPOP, LMOVE, ZPOPMIN … — forwarded
to the leader like any write). The log decides who gets an element when
several clients race for one; a client that loses goes back to waiting.
Clients blocked on the same key are woken in the order they blocked
(AppliedWatcher is FIFO), so service is first come, first served in
practice, though not guaranteed as strictly as Redis's per-key queue.

Inside MULTI a blocking pop does not block (as in Redis): it is refused at
queue time here, since the transaction must name one pop command per key.
"""

from __future__ import annotations

import asyncio
import math

from raftcache.node.consistency import ReadConsistency
from raftcache.node.errors import CommandError, DeadlineError
from raftcache.node.frontends.resp_commands import SYNTAX, cmd, to_float
from raftcache.node.frontends.resp_protocol import NULL_ARRAY, RespError

_LOCAL = ReadConsistency("any")
_NOT_FLOAT = "ERR timeout is not a float or out of range"


def _timeout_s(arg: bytes) -> float:
    """Redis's blocking timeout: seconds, fractional allowed, 0 = forever."""
    seconds = to_float(arg, _NOT_FLOAT)
    if seconds < 0:
        raise RespError("ERR timeout is negative")
    if math.isinf(seconds) or seconds > 1e12:
        raise RespError(_NOT_FLOAT)
    return seconds


def _side(arg: bytes) -> bool:
    side = arg.upper()
    if side not in (b"LEFT", b"RIGHT"):
        raise RespError(SYNTAX)
    return side == b"LEFT"


async def _block(conn, keys: list[bytes], size_op: str, timeout_s: float, pop):
    """Wait until one of `keys` is non-empty, then run `pop(key)`; None on timeout.

    `pop(key)` returns the reply, or None when another client emptied the
    key first (then we wait again). Errors (WRONGTYPE …) end the wait.
    """
    service = conn.service
    loop = asyncio.get_running_loop()
    deadline = None if timeout_s == 0 else loop.time() + timeout_s
    while True:
        seen = service.applied_index
        for key in keys:
            size, _ = service.read_now(cmd(conn.db, size_op, key=key), _LOCAL)
            if isinstance(size, CommandError):
                return size
            if size:
                reply = await pop(key)
                if reply is not None:
                    return reply
        remaining = None if deadline is None else deadline - loop.time()
        if remaining is not None and remaining <= 0:
            return None
        try:
            await service.watcher.wait(seen + 1, 3600.0 if remaining is None else remaining)
        except DeadlineError:
            if deadline is not None and loop.time() >= deadline:
                return None


async def _execute(conn, command):
    result, index = await conn.service.execute(command, conn.consistency)
    if index and not isinstance(result, CommandError):
        conn.last_write_index = max(conn.last_write_index, index)
    return result


def _list_pop(left: bool):
    async def handler(conn, args):
        keys, timeout_s = list(args[1:-1]), _timeout_s(args[-1])

        async def pop(key):
            value = await _execute(conn, cmd(conn.db, "pop", key=key, left=left))
            if isinstance(value, CommandError):
                return value
            return None if value is None else [key, value]

        reply = await _block(conn, keys, "llen", timeout_s, pop)
        return NULL_ARRAY if reply is None else reply
    return handler


async def blmove(conn, args):
    source, destination = args[1], args[2]
    from_left, to_left = _side(args[3]), _side(args[4])
    return await _move(conn, source, destination, from_left, to_left, _timeout_s(args[5]))


async def brpoplpush(conn, args):
    return await _move(conn, args[1], args[2], False, True, _timeout_s(args[3]))


async def _move(conn, source: bytes, destination: bytes, from_left: bool, to_left: bool, timeout_s: float):
    async def pop(key):
        return await _execute(conn, cmd(conn.db, "lmove", key=key, new_key=destination,
                                        from_left=from_left, to_left=to_left))

    return await _block(conn, [source], "llen", timeout_s, pop)


def _zset_pop(is_max: bool):
    async def handler(conn, args):
        keys, timeout_s = list(args[1:-1]), _timeout_s(args[-1])

        async def pop(key):
            taken = await _execute(conn, cmd(conn.db, "zpop", key=key, max=is_max))
            if isinstance(taken, CommandError):
                return taken
            if not taken:
                return None
            return [key, taken[0], taken[1]]  # key, member, score (a double in RESP3)

        reply = await _block(conn, keys, "zcard", timeout_s, pop)
        return NULL_ARRAY if reply is None else reply
    return handler


#: name -> handler(conn, args); arities and flags are in resp_commands.TABLE.
COMMANDS = {
    "blpop": _list_pop(True),
    "brpop": _list_pop(False),
    "blmove": blmove,
    "brpoplpush": brpoplpush,
    "bzpopmin": _zset_pop(False),
    "bzpopmax": _zset_pop(True),
}
