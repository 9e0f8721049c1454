"""Set commands (SADD … SINTERCARD and the *STORE forms).

A set is a SET record: small, its value is containers.encode_items of its
members in insertion order; large, one item record per member
(node/storage/itemmap.py). SPOP is a write: its choice comes from the
log entry (containers.seed_of), so every replica removes the same members.
SRANDMEMBER is a read: the front end puts a seed in the command.

Must not import lmdb, grpc or time.
"""

from __future__ import annotations

import random

from raftcache.node import commands
from raftcache.node.storage import containers as c
from raftcache.node.storage import itemmap
from raftcache.node.errors import CommandError, Reason

SET = "SET"


def _get(txn, db, key, ctx):
    """(record, ItemMap) or (CommandError, None); record None means absent."""
    return itemmap.load(txn, db, key, ctx, SET, pairs=False)


def sadd(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, s = _get(txn, db, op.key, ctx)
    if s is None:
        return record
    err = c.too_large(ctx, op.members) or c.elements_too_large(op.members)
    if err:
        return err
    added = 0
    for m in op.members:
        if m not in s:
            s[m] = None
            added += 1
    s.save(ctx)
    return added


def srem(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, s = _get(txn, db, op.key, ctx)
    if s is None:
        return record
    removed = 0
    for m in op.members:
        if m in s:
            del s[m]
            removed += 1
    s.save(ctx)
    return removed


def smembers(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, s = _get(txn, db, op.key, ctx)
    return record if s is None else list(s)


def sismember(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, s = _get(txn, db, op.key, ctx)
    if s is None:
        return record
    if not op.multi and len(op.members) != 1:  # gRPC can send any number: one, as SISMEMBER
        return CommandError("wrong number of arguments for 'sismember' command", Reason.SYNTAX)
    found = [int(m in s) for m in op.members]
    return found if op.multi else found[0]


def scard(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, s = _get(txn, db, op.key, ctx)
    return record if s is None else len(s)


def spop(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, s = _get(txn, db, op.key, ctx)
    if s is None:
        return record
    has_count = op.HasField("count")
    if has_count and op.count < 0:
        # a negative count would pick |count| members with repeats (SRANDMEMBER's rule):
        # -2**63 never ends, and a repeated member cannot be removed twice
        return CommandError("value is out of range, must be positive", Reason.INVALID_ARGUMENT)
    if not s:
        return [] if has_count else None
    rng = random.Random(c.seed_of(ctx))
    picked = s.random_elements(rng, op.count) if has_count else [s.random_elements(rng, None)]
    for m in picked:
        del s[m]
    s.save(ctx)
    return picked if has_count else picked[0]


def srandmember(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, s = _get(txn, db, op.key, ctx)
    if s is None:
        return record
    count = op.count if op.HasField("count") else None
    one_pass = commands.one_pass_picks(ctx)
    return c.repeats_refused(count, one_pass) or s.random_elements(random.Random(op.seed or c.seed_of(ctx)), count,
                                                                   one_pass)


def smove(ctx, op):
    txn, db = ctx.txn, ctx.db
    src_record, src = _get(txn, db, op.key, ctx)
    if src is None:
        return src_record
    if src_record is None:
        return 0  # a missing source answers 0 before the destination's type is looked at (Redis)
    dst_record, dst = _get(txn, db, op.new_key, ctx)
    if dst is None:
        return dst_record
    if op.member not in src:
        return 0
    if op.key == op.new_key:
        return 1
    del src[op.member]
    src.save(ctx)
    if op.member not in dst:  # an unchanged destination keeps its version (WATCH), as in Redis
        dst[op.member] = None
        dst.save(ctx)
    return 1


def compute(txn, db, kind: int, keys, ctx):
    """The members of SUNION/SINTER/SDIFF over keys (a dict), or a CommandError."""
    sets = []
    for key in keys:
        record, s = _get(txn, db, key, ctx)
        if s is None:
            return record
        sets.append(s)
    if kind == 0:  # SET_UNION
        out: dict = {}
        for s in sets:
            out.update(dict.fromkeys(s.keys()))
        return out
    if kind == 1:  # SET_INTER
        if not sets or any(not s for s in sets):
            return {}
        smallest = min(sets, key=len)
        return {m: None for m in smallest if all(m in s for s in sets)}
    if not sets:  # SET_DIFF of no keys (gRPC; the RESP front end needs one): nothing
        return {}
    first, rest = sets[0], sets[1:]
    return {m: None for m in first if not any(m in s for s in rest)}


def set_op(ctx, op):
    txn, db = ctx.txn, ctx.db
    result = compute(txn, db, op.op, op.keys, ctx)
    if isinstance(result, CommandError):
        return result
    if op.card:
        n = len(result)
        return min(n, op.limit) if op.limit else n
    return list(result)


def set_op_store(ctx, op):
    txn, db = ctx.txn, ctx.db
    result = compute(txn, db, op.op, op.keys, ctx)
    if isinstance(result, CommandError):
        return result
    old = txn.get(db, op.key, ctx.now_ms)
    if old is not None:
        txn.delete(db, op.key)  # the destination is replaced whatever its type, expiry dropped
    stored = itemmap.ItemMap(txn, db, op.key, SET, None, pairs=False)
    for m in result:
        stored[m] = None
    stored.save(ctx)
    return len(result)


HANDLERS = {
    "sadd": sadd,
    "srem": srem,
    "smembers": smembers,
    "sismember": sismember,
    "scard": scard,
    "spop": spop,
    "srandmember": srandmember,
    "smove": smove,
    "set_op": set_op,
    "set_op_store": set_op_store,
}
