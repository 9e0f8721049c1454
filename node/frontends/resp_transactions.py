"""MULTI / EXEC / DISCARD / WATCH / UNWATCH on the Redis port.

Owns the commands that open, end and guard a transaction; the queue itself is
the connection's (Connection._prepare and _queue: a command refused at queue
time marks the transaction for EXECABORT, as Redis's). EXEC sends the queued
data commands as one `Transaction` command, one log entry applied atomically
on every replica, with the versions of the WATCHed keys (any change since
WATCH, the connection's own included, fails it; from log semantics version 6,
as Redis, also a transaction of local commands only checks them), and
splices the replies of the commands the connection runs itself (PING,
SELECT…) into their places. WATCH reads each key's version at
`linearizable`; in cluster mode a transaction's keys must share one slot.
docs/redis-compat.md has the exact behaviour. Must not touch the keyspace.
"""

from __future__ import annotations

from raftcache.node import commands
from raftcache.node.errors import CommandError, RaftcacheError
from raftcache.node.frontends import acl_catalog, resp_cluster
from raftcache.node.frontends.resp_protocol import NULL_ARRAY, RespError, encode
from raftcache.node.service.service import LINEARIZABLE
from raftcache.proto import commands_pb2 as pb


async def multi(conn, args) -> bytes:
    if conn.multi is not None:
        return b"-ERR MULTI calls can not be nested\r\n"
    conn.multi, conn.multi_db, conn.multi_error = [], conn.session.db, False
    return b"+OK\r\n"


async def discard(conn, args) -> bytes:
    if conn.multi is None:
        return b"-ERR DISCARD without MULTI\r\n"
    conn.multi = None
    conn.watches.clear()
    return b"+OK\r\n"


async def watch(conn, args) -> bytes:
    if conn.multi is not None:
        return b"-ERR WATCH inside MULTI is not allowed\r\n"
    keys = [k for k in args[1:] if (conn.session.db, k) not in conn.watches]
    if keys:
        command = pb.Command(db=conn.session.db)
        command.key_version.keys.extend(keys)
        versions, seen_at = await conn.call(command, LINEARIZABLE)
        if isinstance(versions, CommandError):
            return encode(versions, conn.proto)
        for key, version in zip(keys, versions):
            conn.watches[(conn.session.db, key)] = (version, seen_at)
        # The reads that follow (redis-py's WATCH; GET; MULTI …) see at least what WATCH
        # saw, on a follower too: a value older than the watched version would commit stale.
        conn.session.last_write_index = max(conn.session.last_write_index, seen_at)
    return b"+OK\r\n"


async def unwatch(conn, args) -> bytes:
    conn.watches.clear()
    return b"+OK\r\n"


async def exec_(conn, args) -> bytes:
    if conn.multi is None:
        return b"-ERR EXEC without MULTI\r\n"
    queued, conn.multi = conn.multi, None
    watches, conn.watches = conn.watches, {}
    if conn.multi_error:
        return b"-EXECABORT Transaction discarded because of previous errors.\r\n"
    if conn.server.cluster is not None:
        # One transaction, one slot (Redis Cluster): every queued command's keys together.
        keys = [key for spec, qargs, cmd in queued
                for key in acl_catalog.slot_keys(spec, qargs, conn.session.db, cmd if isinstance(cmd, pb.Command) else None)
                if not isinstance(cmd, RespError)]
        refused = resp_cluster.refusal(conn.server.cluster, keys)
        if refused is not None:
            return refused
    transaction = pb.Command(db=conn.session.db)
    tx = transaction.transaction
    tx.SetInParent()
    as_redis = conn.service.log_version >= commands.WATCH_VERSION
    for (db, key), (index, seen_at) in watches.items():
        watched = tx.watches.add(db=db, key=key, index=index)
        if as_redis:
            watched.seen_at = seen_at
    data = [(spec, cmd) for spec, _, cmd in queued if isinstance(cmd, pb.Command)]
    for _, cmd in data:
        tx.commands.append(cmd)
    results: list = []
    index = 0
    if data or (watches and as_redis):  # a transaction of local commands still checks its watches
        try:
            results, index = await conn.call(transaction)
        except RaftcacheError as e:
            return encode(e, conn.proto)
        if isinstance(results, CommandError):
            return encode(results, conn.proto)
        if results is None:
            return encode(NULL_ARRAY, conn.proto)
    # Splice local commands (PING, SELECT, …) into their places, in order.
    parts = [b"*%d\r\n" % len(queued)]
    it = iter(results)
    conn.in_exec = True
    diagnostics = conn.service.diagnostics
    try:
        for spec, qargs, cmd in queued:
            diagnostics.monitor(acl_catalog.resp_name(spec, qargs)[0], qargs, conn.session.db, conn.addr)  # as Redis 7
            if cmd is None:
                parts.append(await conn.run_local(spec, qargs))
            elif isinstance(cmd, RespError):
                parts.append(encode(cmd, conn.proto))   # (its CR/LF replaced: one line)
            else:
                result = next(it)
                if cmd.HasField("publish"):
                    result = conn.session.publish_reply(cmd, result)
                parts.append(conn.render(spec, cmd, (result, index)))
            conn.server.count_call(spec.name, 0, parts[-1], timed=False)   # as Redis: each under its name
    finally:
        conn.in_exec = False
    return b"".join(parts)
