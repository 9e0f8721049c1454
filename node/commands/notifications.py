"""Keyspace notifications (`notify-keyspace-events`): which event a write emits, for which keys.

Every node applies every write, so every node emits the same events for it,
in log order: a subscriber on a follower sees `__keyevent@0__:set` for a write
made through the leader. The state machine asks `events_for` after a write
command changed something; a key gets its command's event when the write
touched it (WriteTxn.touched), and `del` after it when the write left it
gone (a list popped empty); a key evicted to make room gets `evicted`
(class `e`, node/commands/eviction.py). A write whose event depends on what
it found (HEXPIRE's `hexpire` or `hdel`, HPERSIST's `hpersist`, `hexpired`
for hash fields whose deadline passed) notes it in WriteTxn.notes instead;
those come first, and `del` after them for a hash they left gone. From log version 20 each
command a script runs notes the events it would emit alone, `new` and the `del` of what it
emptied included (class already checked: DECIDED; node/scripting/engine.py), dropped with the
script if it fails (node/commands/quota.py), and a MULTI/EXEC marks where each queued command
begins (STEP) and decides its noted events after it (`decide`), so they come in its place.
Classes and event names are Redis's
(https://redis.io/docs/latest/develop/use/keyspace-notifications/); `new`
(class `n`) comes from WriteTxn.created, before the write's events; not
emitted: `m` (key misses: reads are not applied). The
setting's letters are parsed by node/config/values.py (notify_flags).

Must not import lmdb, grpc or pysyncobj: it runs at apply.
"""

from __future__ import annotations

from collections.abc import Callable

from raftcache.commandkeys import op_keys
from raftcache.node.config.values import notify_flags
from raftcache.proto import commands_pb2 as pb

def messages(db: int, event: str, key: bytes, flags: frozenset[str]) -> list[tuple]:
    """The pub/sub messages of one event: the keyspace channel's, then the keyevent one's (Redis's order)."""
    out = []
    if "K" in flags:
        out.append(("message", b"__keyspace@%d__:%s" % (db, key), event.encode(), False))
    if "E" in flags:
        out.append(("message", b"__keyevent@%d__:%s" % (db, event.encode()), key, False))
    return out


def flags_of(settings: dict | None) -> frozenset[str]:
    """The classes the cluster's `notify-keyspace-events` setting enables."""
    return notify_flags((settings or {}).get("notify-keyspace-events", ""))


def key_exists(txn, now_ms: int) -> Callable[[int, bytes], bool]:
    """`exists(db, key)` as the event helpers below ask it: the key lives in `txn` at `now_ms`."""
    return lambda db, key: txn.get(db, key, now_ms) is not None


def enabled(flags: frozenset[str]) -> bool:
    """Anything is published at all: a channel kind (K, E) and a class."""
    return bool(flags & {"K", "E"}) and bool(flags - {"K", "E"})


# ---------------------------------------------------------------- the events

Event = str | Callable[[object, bytes], str]


def _side(left_event: str, right_event: str, field: str = "left") -> Callable[[object, bytes], str]:
    return lambda op, key: left_event if getattr(op, field) else right_event


def _lmove(op: pb.LMove, key: bytes) -> str:
    if key == op.key and key != op.new_key:
        return "lpop" if op.from_left else "rpop"
    return "lpush" if op.to_left else "rpush"


def _smove(op: pb.SMove, key: bytes) -> str:
    return "srem" if key == op.key and key != op.new_key else "sadd"


def _rename(op: pb.Rename, key: bytes) -> str:
    return "rename_from" if key == op.key else "rename_to"


def _set_store(op: pb.SetOpStore, key: bytes) -> str:
    return {pb.SET_UNION: "sunionstore", pb.SET_INTER: "sinterstore", pb.SET_DIFF: "sdiffstore"}[op.op]


def _zset_store(op: pb.ZSetOpStore, key: bytes) -> str:
    return {pb.SET_UNION: "zunionstore", pb.SET_INTER: "zinterstore", pb.SET_DIFF: "zdiffstore"}[op.source.op]


def _zremrange(op: pb.ZRemRange, key: bytes) -> str:
    return {pb.BY_RANK: "zremrangebyrank", pb.BY_SCORE: "zremrangebyscore",
            pb.BY_LEX: "zremrangebylex"}[op.range.by]


def _expire_or_persist(op, key: bytes) -> str:
    expiry = op.expiry
    return "persist" if expiry.persist else "expire"


#: op name -> (class, event: a name, or a function of (op, key)). Writes not listed emit nothing.
EVENTS: dict[str, tuple[str, Event]] = {
    "set": ("$", "set"), "mset": ("$", "set"), "mset_nx": ("$", "set"), "append": ("$", "append"),
    "set_range": ("$", "setrange"), "incr_by": ("$", "incrby"), "incr_by_float": ("$", "incrbyfloat"),
    "mc_incr": ("$", _side("decrby", "incrby", "decrement")), "setbit": ("$", "setbit"),
    "bitfield": ("$", "setbit"), "bitop": ("$", "set"),
    "get_del": ("g", "del"), "del": ("g", "del"), "expire": ("g", "expire"), "persist": ("g", "persist"),
    "get_ex": ("g", _expire_or_persist), "get_and_touch": ("g", "expire"), "rename": ("g", _rename),
    "copy": ("g", "copy_to"), "move": ("g", "move_from"),
    "restore": ("g", "restore"), "sort_store": ("l", "sortstore"),
    "delete_expired": ("x", "expired"),
    "push": ("l", _side("lpush", "rpush")), "pop": ("l", _side("lpop", "rpop")), "lset": ("l", "lset"),
    "lrem": ("l", "lrem"), "ltrim": ("l", "ltrim"), "linsert": ("l", "linsert"), "lmove": ("l", _lmove),
    "lmpop": ("l", _side("lpop", "rpop")),
    "sadd": ("s", "sadd"), "srem": ("s", "srem"), "spop": ("s", "spop"), "smove": ("s", _smove),
    "set_op_store": ("s", _set_store),
    "hset": ("h", "hset"), "hdel": ("h", "hdel"), "hincrby": ("h", "hincrby"),
    "hincrbyfloat": ("h", "hincrbyfloat"),
    "zadd": ("z", lambda op, key: "zincr" if op.incr else "zadd"), "zrem": ("z", "zrem"),
    "zremrange": ("z", _zremrange), "zrangestore": ("z", "zrangestore"),
    "zpop": ("z", _side("zpopmax", "zpopmin", "max")), "zmpop": ("z", _side("zpopmax", "zpopmin", "max")),
    "zset_op_store": ("z", _zset_store),
    "pfadd": ("$", "pfadd"), "pfmerge": ("$", "pfadd"), "geosearch_store": ("z", "geosearchstore"),
    "xadd": ("t", "xadd"), "xdel": ("t", "xdel"), "xtrim": ("t", "xtrim"), "xsetid": ("t", "xsetid"),
    "xgroup": ("t", lambda op, key: "xgroup-" + pb.XGroupKind.Name(op.kind).split("_", 1)[1].lower()),
}


#: Writes whose events are only the ones their handlers note (WriteTxn.notes), and MULTI/EXEC.
NOTING = frozenset({"transaction", "hexpire", "hpersist", "delete_expired_fields"})
#: ... and, from log version 20 (commands.SCRIPT_NOTIFY_VERSION), scripts: each command a script
#: runs notes its events (node/scripting/engine.py).
NOTING_SINCE_20 = NOTING | {"eval"}
#: The class of a noted event whose class was checked already (a script's command's events,
#: `new` included, in order): taken as it is, never followed by a `del` of noted_deletions.
DECIDED = ""
#: In the notes of a MULTI/EXEC from log version 20: the next queued command starts here (what it
#: notes comes just before its own events; before, every noted event came first).
STEP = (-1, "step", "", b"")


def noted_events(notes: list | None, flags: frozenset[str]) -> list[tuple[int, str, bytes]]:
    """(db, event, key) of the events handlers noted, of the classes enabled."""
    return [(db, event, key) for db, klass, event, key in notes or () if klass == DECIDED or klass in flags]


def decide(notes: list, start: int, flags: frozenset[str], exists: Callable[[int, bytes], bool]) -> None:
    """From log version 20, for a command of a script or of a MULTI/EXEC: the events noted from
    `start` on (its handler's) become DECIDED events of the classes on, with a `del` for each key
    they left gone decided now, not after the whole entry."""
    raw = notes[start:]
    del notes[start:]
    found = noted_events(raw, flags)
    found += noted_deletions(raw, found, exists, flags)
    notes += [(db, DECIDED, event, key) for db, event, key in found]


def by_step(notes: list, count: int) -> list[list] | None:
    """A MULTI/EXEC's notes split at its STEP marks: what came before the first command, then
    each of its `count` commands' own; None when the entry has no marks (before version 20)."""
    if STEP not in notes:
        return None
    groups: list[list] = [[]]
    for note in notes:
        if note is STEP:
            groups.append([])
        else:
            groups[-1].append(note)
    return groups + [[] for _ in range(count + 1 - len(groups))]


def noted_deletions(notes: list | None, found: list[tuple[int, str, bytes]], exists: Callable[[int, bytes], bool],
                    flags: frozenset[str]) -> list[tuple[int, str, bytes]]:
    """`del` for each key a noted event left gone (the last field of a hash expired), unless
    `found` has it already (when `g` is on)."""
    if "g" not in flags:
        return []
    out: list[tuple[int, str, bytes]] = []
    for db, klass, _, key in notes or ():
        if klass == DECIDED or klass == STEP[1]:
            continue   # a script's command's events say their `del` themselves
        event = (db, "del", key)
        if event not in found and event not in out and not exists(db, key):
            out.append(event)
    return out


def _targets(name: str, op, db: int) -> list[tuple[int, bytes, str | None]]:
    """(db, key, event or None for the command's own) of every key a command may change."""
    if name == "copy":   # only the destination changes
        return [(db if op.destination_db < 0 else op.destination_db, op.new_key, None)]
    if name == "move":
        return [(db, op.key, None), (op.destination_db, op.key, "move_to")]
    return [(db, key, None) for key in op_keys(name, op)]


def events_for(name: str, op, db: int, touched: set[tuple[int, bytes]], exists: Callable[[int, bytes], bool],
               flags: frozenset[str]) -> list[tuple[int, str, bytes]]:
    """(db, event, key) for a write `name` that changed something: its event for every key it
    touched, and `del` after it for a key it left gone (a list popped empty; when `g` is on)."""
    spec = EVENTS.get(name)
    if spec is None:
        return []
    klass, event = spec
    out: list[tuple[int, str, bytes]] = []
    seen: set[tuple[int, bytes]] = set()
    for target in _targets(name, op, db):
        key_db, key, own = target
        if (key_db, key) in seen or (key_db, key) not in touched:
            continue
        seen.add((key_db, key))
        if klass in flags:
            named = own or (event if isinstance(event, str) else event(op, key))
            out.append((key_db, named, key))
        if "g" in flags and klass not in ("g", "x") and not exists(key_db, key):
            out.append((key_db, "del", key))
    return out
