"""MULTI/EXEC as one log entry, WATCH versions, and the whole-key commands the
RESP front end adds (RANDOMKEY, COPY, MOVE, SWAPDB).

`transaction` applies its commands in order inside the one write
transaction apply opened, so an EXEC is atomic on every replica: nothing
else interleaves, and a crash commits all or none of it (applied_index is in
the same LMDB transaction). WATCH is optimistic: the front end reads each
watched key's version (the log index that last wrote it, 0 when absent)
with `key_version`, and the applied index it read at (`seen_at`); EXEC carries
them and the transaction runs only if no watched key changed since, by Redis's
rules (`_watch_changed`; reply nil otherwise). The check runs at apply, so it
holds in the log's order whichever node the client is connected to.

Sub-commands get the entry's clock (a relative TTL inside MULTI is made
absolute with ctx.now_ms, which the leader stamped) and a seed derived from
the entry's seed and their position, so apply stays deterministic.

Must not import lmdb, grpc or time.
"""

from __future__ import annotations

import random

from raftcache.node import commands
from raftcache.node.commands import WATCH_VERSION, notifications
from raftcache.node.storage import containers as c
from raftcache.node.config import MAX_KEY_BYTES_LIMIT
from raftcache.node.errors import CommandError, Reason, failed
from raftcache.node.storage.keyspace import FIELD_TTLS, container_ref, is_itemized
from raftcache.node.commands.quota import run_with_quota
from raftcache.node.pulse import beat

def _run_one(txn, handler, ctx, op):
    """One queued command: rolled back alone when it fails or breaks maxmemory
    (the state machine's quota rule); the others keep their effects, as in Redis."""
    if not hasattr(txn, "savepoint"):  # a read transaction (tests) or a keyspace without savepoints
        return handler(ctx, op)
    return run_with_quota(txn, handler, ctx, op)


def transaction(ctx, op):
    txn = ctx.txn
    for w in op.watches:
        if w.db >= c.databases(ctx):  # a gRPC client's number: it does not fit a keyspace key
            return CommandError("DB index is out of range", Reason.INVALID_ARGUMENT)
        if _watch_changed(txn, w, ctx):
            return None  # a watched key changed: EXEC aborts
    table = ctx.handlers
    results = []
    # each command's noted keyspace events in its place, decided after it, none for one that
    # failed (log version 20: notifications.STEP, notifications.decide; before, all came first)
    notes = txn.notes if ctx.version >= commands.SCRIPT_NOTIFY_VERSION else None
    flags = notifications.flags_of(ctx.settings) if notes is not None else None
    exists = notifications.key_exists(txn, ctx.now_ms)
    for position, sub in enumerate(op.commands):
        if position:
            beat()   # a long transaction: the leader's heartbeats go on (node/pulse.py)
        # from log version 20 each queued command draws from its own seed (two scripts, or two
        # SPOPs, of one transaction drew the same numbers); before, all from the entry's
        seed = c.mixed_seed(ctx.seed, position + 1) if ctx.version >= commands.TXN_SEEDS_VERSION and ctx.seed \
            else ctx.seed
        if notes is None:
            results.append(_queued(txn, ctx, table, sub, seed))
            continue
        notes.append(notifications.STEP)
        start = len(notes)
        result = _queued(txn, ctx, table, sub, seed)
        if failed(result):
            del notes[start:]
        else:
            notifications.decide(notes, start, flags, exists)
        results.append(result)
    return results


def _queued(txn, ctx, table: dict, sub, seed: int) -> object:
    """One queued command of the transaction, run as it would run alone (its reply or error)."""
    name = sub.WhichOneof("op")
    handler = table.get(name)
    if handler is None or name == "transaction":
        return CommandError(f"command {name!r} is not allowed in a transaction", Reason.SYNTAX)
    error = commands.check_limits(
        sub,
        databases=c.databases(ctx),
        max_key_bytes=MAX_KEY_BYTES_LIMIT,
        max_value_bytes=ctx.max_value_bytes,
    )
    if error is not None:
        return error
    error = commands.stamp(sub, ctx.now_ms)
    if error is not None:
        return error
    sub_ctx = ctx.using(sub.db, seed)
    return _run_one(txn, handler, sub_ctx, getattr(sub, name))


def _watch_changed(txn, w, ctx) -> bool:
    """Whether the watched key changed since WATCH read it (Redis's rules, docs/design.md).

    A key that existed then is unchanged only while the same record lives: every
    write (EXPIRE and PERSIST included, log version 6) stamps a new index, and a
    deletion or an expiry removes it. A key absent then (or already expired: Redis
    does not count the deletion of a stale key as a change) is unchanged only if it
    did not exist at any point since `seen_at`; older entries compare the index alone."""
    record = txn.get(w.db, w.key, ctx.now_ms)
    if w.index or not w.HasField("seen_at") or ctx.version < WATCH_VERSION:
        return (record.index if record is not None else 0) != w.index
    if record is not None:
        return True
    raw = txn.get_raw(w.db, w.key)
    if raw is not None and raw.index > w.seen_at:  # written since, expired since
        return True
    floor = txn.watch_floor()
    return floor is None or w.seen_at < floor or txn.vanished_at(w.db, w.key) > w.seen_at


def key_version(ctx, op):
    txn, db = ctx.txn, ctx.db
    out = []
    for key in op.keys:
        record = txn.get(db, key, ctx.now_ms)
        out.append(record.index if record is not None else 0)
    return out


def _all_keys(txn, db: int, now_ms: int) -> list[bytes]:
    keys: list[bytes] = []
    cursor = 0
    while True:
        cursor, chunk = txn.scan(db, cursor, 1000, now_ms)
        keys.extend(chunk)
        if cursor == 0:
            return keys


def random_key(ctx, op):
    """RANDOMKEY: a key picked (seeded) among the first 1000 of a scan from a seeded start."""
    txn, db = ctx.txn, ctx.db
    cursor, keys = txn.scan(db, 0, 1000, ctx.now_ms)
    while not keys and cursor:
        cursor, keys = txn.scan(db, cursor, 1000, ctx.now_ms)
    if not keys:
        return None
    return random.Random(op.seed or c.seed_of(ctx)).choice(keys)


#: OBJECT ENCODING's names for a container's two layouts (node/storage/itemview.py): (inline, itemized).
_ENCODINGS = {"HASH": (b"listpack", b"hashtable"), "LIST": (b"listpack", b"quicklist"),
              "SET": (b"listpack", b"hashtable"), "ZSET": (b"listpack", b"skiplist"),
              "STREAM": (b"stream", b"stream")}


def object_encoding(ctx, op):
    """OBJECT ENCODING in Redis 7.4's names for the layout raftcache stores: a string is
    int / embstr (up to 44 bytes) / raw; a small container listpack (a set of integers
    intset, a hash with field TTLs listpackex from log version 27), an itemized one
    hashtable / quicklist / skiplist. Nil when the key is absent."""
    record = ctx.txn.get(ctx.db, op.key, ctx.now_ms)
    if record is None:
        return None
    kind = record.type.name
    if kind == "STRING":
        if c.parse_int(record.value) is not None:
            return b"int"
        return b"embstr" if len(record.value) <= 44 else b"raw"
    if is_itemized(record):
        return _ENCODINGS[kind][1]
    if kind == "SET" and all(c.parse_int(m) is not None for m in c.decode_items(record.value)):
        return b"intset"
    if record.flags & FIELD_TTLS and commands.rules_version(ctx) >= commands.LISTPACKEX_VERSION:
        return b"listpackex"
    return _ENCODINGS[kind][0]


def copy(ctx, op):
    txn, db = ctx.txn, ctx.db
    record = txn.get(db, op.key, ctx.now_ms)
    dst_db = db if op.destination_db < 0 else op.destination_db
    if dst_db >= c.databases(ctx):
        return CommandError("DB index is out of range", Reason.INVALID_ARGUMENT)
    if dst_db == db and op.new_key == op.key:
        return CommandError("source and destination objects are the same", Reason.INVALID_ARGUMENT)
    if record is None:
        return 0
    if txn.get(dst_db, op.new_key, ctx.now_ms) is not None:
        if not op.replace:
            return 0
        txn.delete(dst_db, op.new_key)
    txn.put(dst_db, op.new_key, txn.duplicate(record)._replace(index=ctx.index))
    return 1


def move(ctx, op):
    txn, db = ctx.txn, ctx.db
    if op.destination_db >= c.databases(ctx):
        return CommandError("DB index is out of range", Reason.INVALID_ARGUMENT)
    if op.destination_db == db:
        return CommandError("source and destination objects are the same", Reason.INVALID_ARGUMENT)
    record = txn.get(db, op.key, ctx.now_ms)
    if record is None or txn.get(op.destination_db, op.key, ctx.now_ms) is not None:
        return 0
    txn.delete(db, op.key, keep_items=True)  # a large container's elements move with its record
    txn.put(op.destination_db, op.key, record._replace(index=ctx.index))
    return 1


def swap_db(ctx, op):
    txn, db = ctx.txn, ctx.db
    other = op.other_db
    if other >= c.databases(ctx):
        return CommandError("DB index is out of range", Reason.INVALID_ARGUMENT)
    if other == db:
        return commands.OK
    now = ctx.now_ms
    a = [(k, txn.get(db, k, now)) for k in _all_keys(txn, db, now)]
    b = [(k, txn.get(other, k, now)) for k in _all_keys(txn, other, now)]
    moved = {container_ref(r)[0] for _, r in a + b if r is not None and is_itemized(r)}
    if ctx.version < WATCH_VERSION:
        txn.flush_db(db, keep_items=moved)  # the live records are put back below, with their elements
        txn.flush_db(other, keep_items=moved)
    else:  # key by key, so that a WATCH sees each key that moves (and only those)
        for source, records in ((db, a), (other, b)):
            for k, r in records:
                if r is not None:
                    txn.delete(source, k, keep_items=True)
            txn.flush_db(source, keep_items=moved, watched=False)  # the expired records
    for target, records in ((other, a), (db, b)):
        for k, r in records:
            if r is not None:
                txn.put(target, k, r if ctx.version < WATCH_VERSION else r._replace(index=ctx.index))
    return commands.OK


HANDLERS = {
    "transaction": transaction,
    "key_version": key_version,
    "random_key": random_key,
    "object_encoding": object_encoding,
    "copy": copy,
    "move": move,
    "swap_db": swap_db,
}
