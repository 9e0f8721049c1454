"""The keys a command touches and how (read, write, both, neither), for ACL key patterns.

Redis gives each key argument flags (its key specs): a key a command reads
needs a pattern that allows reading (`~` or `%R~`), a key it writes one that
allows writing (`~` or `%W~`), a key whose value it does not see nor change
(EXISTS, TYPE, TTL…) any pattern that matches it. `access_keys(command)`
gives those (key, access) pairs for every `Command`, nested ones included, so
the Redis, memcached and gRPC ports check a user's keys alike.
"""

from __future__ import annotations

from raftcache.node.commands import READ_COMMANDS, command_keys
from raftcache.node.commands.acl import READ, WRITE
from raftcache.proto import commands_pb2 as pb

RW = READ | WRITE
#: Read commands that see a key's existence, type, size or expiry, not its value.
_METADATA = frozenset({"exists", "ttl", "type", "key_version", "object_encoding", "str_len", "hlen", "llen",
                       "scard", "zcard"})
#: Writes that do not read the value they replace or extend (Redis: OW/RW without ACCESS).
_WRITE_ONLY = frozenset({"del", "mset", "mset_nx", "append", "set_range", "push", "sadd", "srem", "hset", "hdel",
                         "zadd", "zrem", "expire", "persist", "setbit", "lset", "ltrim", "delete_expired"})


def access_keys(command: pb.Command) -> list[tuple[bytes, int]]:
    """[(key, access)] for every key `command` names (access: READ, WRITE, both, or 0)."""
    name = command.WhichOneof("op")
    if name is None:
        return []
    op = getattr(command, name)
    special = _SPECIAL.get(name)
    if special is not None:
        return special(op)
    if name in READ_COMMANDS:
        access = 0 if name in _METADATA else READ
    elif name in _WRITE_ONLY:
        access = WRITE
    else:
        access = RW
    return [(key, access) for key in command_keys(command)]


def _set(op: pb.Set) -> list:
    # SET without GET (and without a memcached cas check) never sees the old value.
    return [(op.key, RW if op.get or op.HasField("cas_index") else WRITE)]


def _source_and_destination(source: int, destination: int):
    return lambda op: [(op.key, source), (op.new_key, destination)]


def _store(op) -> list:
    """SUNIONSTORE / ZUNIONSTORE / … : sources read, destination written."""
    keys = op.keys if hasattr(op, "keys") else op.source.keys
    return [(op.key, WRITE), *((k, READ) for k in keys)]


def _transaction(op: pb.Transaction) -> list:
    out = [(w.key, 0) for w in op.watches]
    for nested in op.commands:
        out.extend(access_keys(nested))
    return out


_SPECIAL = {
    "set": _set,
    "rename": _source_and_destination(RW, WRITE),
    "copy": _source_and_destination(READ, WRITE),
    "lmove": _source_and_destination(RW, WRITE),
    "smove": _source_and_destination(RW, WRITE),
    "set_op_store": _store,
    "zset_op_store": _store,
    "bitop": lambda op: [(op.key, WRITE), *((k, READ) for k in op.keys)],
    "zrangestore": lambda op: [(op.key, WRITE), (op.range.key, READ)],
    "zremrange": lambda op: [(op.key, RW)],
    "sort_store": lambda op: [(op.key, READ), (op.store, WRITE)],
    "restore": lambda op: [(op.key, WRITE)],
    "set_op": lambda op: [(k, READ) for k in op.keys],
    "zset_op": lambda op: [(k, READ) for k in op.keys],
    "transaction": _transaction,
}
