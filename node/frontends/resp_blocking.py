"""Blocking pops of the Redis front end: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH,
BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP.

A blocked client does not hold anything in the state machine: the node it
is connected to first applies the connection's own earlier writes (its
read-your-writes floor), then watches its own applied index, and whenever a key it waits
for holds something (checked on the local replica, no Raft round trip) it
proposes the ordinary non-blocking pop (LPOP, LMOVE, LMPOP, ZPOPMIN, ZMPOP …
— forwarded to the leader like any write). The log decides who gets an element when
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
import time

from raftcache.node.consistency import ReadConsistency
from raftcache.node.errors import CommandError, DeadlineError
from raftcache.node.frontends.resp_args import (
    SYNTAX,
    Spec,
    cmd,
    nil_array_if_none,
    to_float,
)
from raftcache.node.frontends.resp_protocol import NULL_ARRAY, RespError
from raftcache.node.frontends.resp_types import parse_mpop

_LOCAL = ReadConsistency("any")
_NOT_FLOAT = "ERR timeout is not a float or out of range"
_LLONG_MAX = (1 << 63) - 1
_blocked = 0  # clients of this process waiting in block() (INFO clients' blocked_clients)
#: (line, key) -> the connections blocked on it here, first come first: a client
#: may pop a key only when nobody blocked on it before (Redis's fairness). A line is
#: (db, what the clients wait for): list pops, sorted-set pops and each consumer group
#: wait apart (a BLPOP client never holds up an XREADGROUP one).
_queues: dict[tuple[tuple, bytes], list] = {}
#: (line, key) -> futures of the clients of that line waiting behind another: set when a client
#: leaves the line, so the next one looks again (else it slept until the next applied entry,
#: which may never come: two workers blocked on one key, two pushes, and the second worker
#: woke on the first one's pop before the first had left the line: it waited to its timeout).
_nudges: dict[tuple[tuple, bytes], list[asyncio.Future]] = {}
#: (db, key) -> [clients blocked on it here, of which blocked "on no key" (XREADGROUP: unblocked by
#: an error when the key goes)]: INFO's total_blocking_keys and total_blocking_keys_on_nokey.
_blocking: dict[tuple[int, bytes], list[int]] = {}


def _first_in_line(conn, line: tuple, key: bytes) -> bool:
    """Nobody blocked on the key before `conn` (clients that have gone do not count)."""
    for waiting in _queues.get((line, key), ()):
        if waiting is conn:
            return True
        if not (waiting.eof or waiting.closing):
            return False
    return True


def _join(conn, line: tuple, keys: list[bytes]) -> None:
    for key in keys:
        queue = _queues.setdefault((line, key), [])
        if conn not in queue:
            queue.append(conn)


def _leave(conn, line: tuple, keys: list[bytes]) -> None:
    for key in keys:
        if _drop(_queues, (line, key), conn):
            for nudge in _nudges.pop((line, key), ()):
                if not nudge.done():
                    nudge.set_result(None)


def _drop(table: dict, at: tuple, item) -> bool:
    """Take `item` out of the list `table[at]`, and the list out of `table` once empty; whether
    it was there."""
    items = table.get(at)
    if items is None or item not in items:
        return False
    items.remove(item)
    if not items:
        del table[at]
    return True


def unblock(conn, mode: str) -> bool:
    """End `conn`'s wait: as a timeout ("timeout", CLIENT UNBLOCK and a client that hung up: "gone")
    or with an error ("error")."""
    waiting = getattr(conn, "unblocked", None)
    if waiting is None or waiting.done():
        return False
    waiting.set_result(mode)
    return True


def blocked_clients() -> int:
    """How many clients of this node are blocked in a blocking pop right now."""
    return _blocked


def blocking_keys() -> tuple[int, int]:
    """(keys some client of this node is blocked on, those with a client blocked on no key)."""
    return len(_blocking), sum(1 for counts in _blocking.values() if counts[1])


def _count_blocking(db: int, keys: list[bytes], nokey: bool, change: int) -> None:
    for key in set(keys):
        counts = _blocking.setdefault((db, key), [0, 0])
        counts[0] += change
        counts[1] += change if nokey else 0
        if not counts[0]:
            del _blocking[(db, key)]


def _timeout_s(arg: bytes) -> float:
    """Redis's blocking timeout (getTimeoutFromObjectOrReply): seconds, fractional
    allowed, 0 = forever. Milliseconds beyond a long long, or a deadline (now + timeout)
    that would overflow one, are "out of range"; the order of the checks is Redis's."""
    seconds = to_float(arg, _NOT_FLOAT)
    ms = seconds * 1000.0
    if ms > _LLONG_MAX:
        raise RespError("ERR timeout is out of range")
    ms = math.ceil(ms) if not math.isinf(ms) else -1
    if ms < 0:
        raise RespError("ERR timeout is negative")
    if ms > _LLONG_MAX - int(time.time() * 1000):
        raise RespError("ERR timeout is out of range")
    return seconds


def _side(arg: bytes) -> bool:
    side = arg.upper()
    if side not in (b"LEFT", b"RIGHT"):
        raise RespError(SYNTAX)
    return side == b"LEFT"


async def block(conn, keys: list[bytes], size_op, timeout_s: float, pop, fair: bool = True, nokey: bool = False,
                line: str = ""):
    """Wait until one of `keys` is non-empty, then run `pop(key)`; None on timeout.

    `size_op` names the read that sizes a key ("llen"), or is `ready(key)`, a local check
    (XREAD's, node/frontends/resp_streams.py). `fair`: clients blocked on a key pop it in
    the order they blocked; readers that take nothing (XREAD) are not queued. `nokey`: the
    client ends with an error when the key goes (XREADGROUP; INFO counts such keys). `line`:
    what the client waits for, when `size_op` does not say it (an XREADGROUP's group).

    `pop(key)` returns the reply, or None when another client emptied the
    key first (then we wait again). Errors (WRONGTYPE …) found before blocking
    end the wait; a key that becomes another type while we wait is skipped.
    A client that has gone (EOF or closed) stops waiting before it pops: Redis
    frees a disconnected client, so an element must never go to nobody.
    """
    global _blocked
    db = conn.session.db
    queue = (db, line or size_op)
    waited = [False]  # set by _wait_and_pop at its first wait
    try:
        return await _wait_and_pop(conn, db, keys, size_op, timeout_s, pop, waited, fair, nokey, queue)
    finally:
        _leave(conn, queue, keys)
        if waited[0]:
            _count_blocking(db, keys, nokey, -1)
            # Blocked until answered, its own pop's commit included: it stops counting
            # in the same loop step as its reply is counted (commandstats) and sent.
            _blocked -= 1


async def _wait_and_pop(conn, db: int, keys: list[bytes], size_op, timeout_s: float, pop, waited: list,
                        fair: bool, nokey: bool, queue: tuple):
    global _blocked
    service = conn.service
    loop = asyncio.get_running_loop()
    deadline = None if timeout_s == 0 else loop.time() + timeout_s
    try:  # read-your-writes: this node first applies the connection's own writes
        await service.wait_applied(conn.session.last_write_index)
    except DeadlineError:
        # This replica lags (a loaded or cut-off node): the pops themselves go to the leader,
        # which has those writes; try them once in order before waiting here as usual.
        if not callable(size_op):
            for key in keys:
                reply = await pop(key)
                if reply is not None:
                    return reply
    while True:
        if waited[0] and (conn.eof or conn.closing):
            return None
        seen = service.applied_index
        for key in keys:
            if callable(size_op):
                size = size_op(key)
            else:
                outcome = conn.session.read_now(cmd(conn.session.db, size_op, key=key), _LOCAL)
                if outcome is None:   # this replica still lags the connection's own writes: not yet
                    continue
                size, _ = outcome
            if isinstance(size, CommandError):
                if waited[0]:  # a key that became another type while we waited: keep waiting (Redis)
                    continue
                return size
            if size and (not fair or _first_in_line(conn, queue, key)):
                reply = await pop(key)
                if reply is not None:
                    return reply
        remaining = None if deadline is None else deadline - loop.time()
        if remaining is not None and remaining <= 0:
            return None
        if not waited[0]:
            _blocked += 1
            waited[0] = True
            _count_blocking(db, keys, nokey, +1)
        applied = asyncio.ensure_future(service.watcher.wait(seen + 1, 3600.0 if remaining is None else remaining))
        waits = [applied]
        if fair:
            _join(conn, queue, keys)
            nudge = loop.create_future()   # set when a client ahead in the line leaves it
            waits.append(nudge)
            for key in keys:
                _nudges.setdefault((queue, key), []).append(nudge)
        conn.unblocked = loop.create_future()  # CLIENT UNBLOCK sets "timeout" or "error"
        waits.append(conn.unblocked)
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            if conn.unblocked.done():
                if conn.unblocked.result() == "error":
                    raise RespError("UNBLOCKED client unblocked via CLIENT UNBLOCK")
                return None
            if applied.done() and isinstance(applied.exception(), DeadlineError) and deadline is not None \
                    and loop.time() >= deadline:
                return None
        finally:
            conn.unblocked = None
            if not applied.done():
                applied.cancel()
            if fair and not nudge.done():
                nudge.cancel()
                for key in keys:
                    _drop(_nudges, (queue, key), nudge)


async def _execute(conn, command):
    result, _ = await conn.call(command)
    return result


def _list_pop(left: bool):
    async def handler(conn, args):
        keys, timeout_s = list(args[1:-1]), _timeout_s(args[-1])

        async def pop(key):
            value = await _execute(conn, cmd(conn.session.db, "pop", key=key, left=left))
            if isinstance(value, CommandError):
                return value
            return None if value is None else [key, value]

        reply = await block(conn, keys, "llen", timeout_s, pop)
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
        return await _execute(conn, cmd(conn.session.db, "lmove", key=key, new_key=destination,
                                        from_left=from_left, to_left=to_left))

    return await block(conn, [source], "llen", timeout_s, pop)


def _zset_pop(is_max: bool):
    async def handler(conn, args):
        keys, timeout_s = list(args[1:-1]), _timeout_s(args[-1])

        async def pop(key):
            taken = await _execute(conn, cmd(conn.session.db, "zpop", key=key, max=is_max))
            if isinstance(taken, CommandError):
                return taken
            if not taken:
                return None
            return [key, taken[0], taken[1]]  # key, member, score (a double in RESP3)

        reply = await block(conn, keys, "zcard", timeout_s, pop)
        return NULL_ARRAY if reply is None else reply
    return handler


def _mpop(op_name: str, size_op: str, first: bytes, second: bytes):
    """BLMPOP / BZMPOP timeout numkeys key [key ...] side [COUNT n]: the timeout is checked
    first, as in Redis; the pop is the ordinary LMPOP / ZMPOP on the key found non-empty."""
    async def handler(conn, args):
        timeout_s = _timeout_s(args[1])
        keys, is_first, count = parse_mpop(args, 2, first, second)
        side = {"left": is_first} if op_name == "lmpop" else {"max": not is_first}

        async def pop(key):
            reply = await _execute(conn, cmd(conn.session.db, op_name, keys=[key], count=count, **side))
            return reply if isinstance(reply, CommandError) or reply else None

        reply = await block(conn, keys, size_op, timeout_s, pop)
        return NULL_ARRAY if reply is None else reply
    return handler


def _first_of_mpop(reply, proto=2, command=None):
    """[key, [element]] -> [key, element]; [key, [[member, score]]] -> [key, member, score]."""
    if reply is None:
        return NULL_ARRAY
    if isinstance(reply, CommandError):
        return reply
    key, (item,) = reply
    return [key, *item] if isinstance(item, list) else [key, item]


#: name -> in_multi(args, db) of the blocking commands other modules run (XREAD, XREADGROUP).
MULTI_FORMS: dict = {}


def in_multi(name: str, args: list[bytes], db: int):
    """The non-blocking form of a blocking pop queued inside MULTI, as Redis runs it there:
    (Spec to render the reply with, Command). Raises RespError for bad arguments.

    For the RESP front end's MULTI queue (resp.py): with it, EXEC answers BLPOP like
    LPOP would (nil array when every key is empty) instead of refusing the transaction.
    """
    if name in MULTI_FORMS:
        return MULTI_FORMS[name](args, db)
    if name in ("blpop", "brpop", "bzpopmin", "bzpopmax"):
        keys, _ = list(args[1:-1]), _timeout_s(args[-1])
        if name in ("blpop", "brpop"):
            command = cmd(db, "lmpop", keys=keys, left=name == "blpop", count=1)
        else:
            command = cmd(db, "zmpop", keys=keys, max=name == "bzpopmax", count=1)
        return Spec(name, -3, ("write",), build=None, shape=_first_of_mpop), command
    if name in ("blmpop", "bzmpop"):
        _timeout_s(args[1])
        first, second = (b"LEFT", b"RIGHT") if name == "blmpop" else (b"MIN", b"MAX")
        keys, is_first, count = parse_mpop(args, 2, first, second)
        side = {"left": is_first} if name == "blmpop" else {"max": not is_first}
        command = cmd(db, "lmpop" if name == "blmpop" else "zmpop", keys=keys, count=count, **side)
        return Spec(name, -5, ("write",), build=None, shape=nil_array_if_none), command
    if name == "blmove":
        _timeout_s(args[5])
        command = cmd(db, "lmove", key=args[1], new_key=args[2], from_left=_side(args[3]), to_left=_side(args[4]))
    else:  # brpoplpush
        _timeout_s(args[3])
        command = cmd(db, "lmove", key=args[1], new_key=args[2], from_left=False, to_left=True)
    return Spec(name, 0, ("write",)), command


#: name -> handler(conn, args); arities and flags are in resp_table.TABLE.
COMMANDS = {
    "blpop": _list_pop(True),
    "brpop": _list_pop(False),
    "blmove": blmove,
    "brpoplpush": brpoplpush,
    "bzpopmin": _zset_pop(False),
    "bzpopmax": _zset_pop(True),
    "blmpop": _mpop("lmpop", "llen", b"LEFT", b"RIGHT"),
    "bzmpop": _mpop("zmpop", "zcard", b"MIN", b"MAX"),
}
