"""Sorted set commands (ZADD … ZUNIONSTORE, ZMPOP).

A sorted set is a ZSET record: small, its value is containers.encode_items
of member, score (8-byte little-endian double)… in (score, member) order, the
order Redis ranks by; large, two item records per member (node/storage/itemzset.py).
Scores come back as Python floats; the RESP front end renders them (double
in RESP3, bulk string in RESP2).

Must not import lmdb, grpc, time; random only seeded (ZRANDMEMBER's seed).
"""

from __future__ import annotations

import itertools
import math
import random
import sys

from raftcache.node import commands
from raftcache.node.storage import containers as c
from raftcache.node.storage import itemmap, itemzset
from raftcache.node.errors import CommandError, Reason, wrong_type
from raftcache.proto import commands_pb2 as pb

ZSET = "ZSET"


def _get(txn, db, key, ctx):
    """(record, ItemZSet) or (CommandError, None); record None means absent."""
    return itemzset.load(txn, db, key, ctx)


def _new(txn, db, key, scores: dict, ctx) -> None:
    """Write `scores` ({member: score}) as the sorted set at key (replaced before by the caller)."""
    z = itemzset.ItemZSet(txn, db, key, None)
    for member, score in scores.items():
        z.set(member, score)
    z.save(ctx)


def zadd(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, z = _get(txn, db, op.key, ctx)
    if z is None:
        return record
    err = c.too_large(ctx, (sm.member for sm in op.members)) or c.elements_too_large(sm.member for sm in op.members)
    if err:
        return err
    added = changed = 0
    result = None
    nx, xx = op.condition == 1, op.condition == 2
    for sm in op.members:
        current = z.score(sm.member)
        if current is None:
            if xx:
                continue
            new = sm.score
            if math.isnan(new):
                return CommandError("resulting score is not a number (NaN)", Reason.NOT_FLOAT)
            z.set(sm.member, new)
            added += 1
            result = new
            continue
        if nx:
            continue
        new = current + sm.score if op.incr else sm.score
        if math.isnan(new):
            return CommandError("resulting score is not a number (NaN)", Reason.NOT_FLOAT)
        if (op.gt and new <= current) or (op.lt and new >= current):
            continue
        result = new
        if new != current:
            z.set(sm.member, new)
            changed += 1
    z.save(ctx)
    if op.incr:
        return result
    return added + changed if op.ch else added


def zrem(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, z = _get(txn, db, op.key, ctx)
    if z is None:
        return record
    removed = sum(1 for m in op.members if z.remove(m))
    z.save(ctx)
    return removed


def zscore(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, z = _get(txn, db, op.key, ctx)
    if z is None:
        return record
    if not op.multi and len(op.members) != 1:  # gRPC can send any number: one, as ZSCORE
        return CommandError("wrong number of arguments for 'zscore' command", Reason.SYNTAX)
    found = [z.score(m) for m in op.members]
    return found if op.multi else found[0]


def zcard(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, z = _get(txn, db, op.key, ctx)
    return record if z is None else len(z)


def _score_ok(score: float, rng) -> bool:
    lo, hi = rng.min_score, rng.max_score
    if score < lo.value or (lo.exclusive and score == lo.value):
        return False
    if score > hi.value or (hi.exclusive and score == hi.value):
        return False
    return True


def _lex_above_min(member: bytes, b) -> bool:
    if b.infinite:
        return b.infinite < 0
    return member > b.value if b.exclusive else member >= b.value


def _lex_below_max(member: bytes, b) -> bool:
    if b.infinite:
        return b.infinite > 0
    return member < b.value if b.exclusive else member <= b.value


def select(z, rng) -> list[tuple[float, bytes]]:
    """The entries of sorted set `z` (an ItemZSet) a ZRange selects, in reply order, LIMIT applied."""
    if rng.by == 0:  # BY_RANK
        n = len(z)
        r = c.norm_range(rng.start, rng.stop, n)
        if r is None:
            return []
        if rng.rev:  # reversed ranks start..stop are ranks n-1-stop..n-1-start
            return z.by_rank(n - 1 - r[1], n - 1 - r[0])[::-1]
        return z.by_rank(r[0], r[1])
    if rng.by == 1:  # BY_SCORE
        picked = (e for e in z.by_score(rng.min_score.value, rng.max_score.value, rng.rev) if _score_ok(e[0], rng))
    else:  # BY_LEX (meaningful when all scores are equal, as in Redis)
        entries = z.entries()
        if rng.rev:
            entries.reverse()
        picked = (e for e in entries if _lex_above_min(e[1], rng.min_lex) and _lex_below_max(e[1], rng.max_lex))
    if rng.offset or rng.HasField("count"):
        if rng.offset < 0:
            return []
        end = None if not rng.HasField("count") or rng.count < 0 else rng.offset + rng.count
        # islice takes at most sys.maxsize: offset + count may pass it (2**63 - 2 + 26 from gRPC)
        return list(itertools.islice(picked, min(rng.offset, sys.maxsize),
                                     None if end is None else min(end, sys.maxsize)))
    return list(picked)


def _flat(selected, with_scores: bool) -> list:
    if not with_scores:
        return [m for _, m in selected]
    out = []
    for s, m in selected:
        out.append(m)
        out.append(s)
    return out


def zrange(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, z = _get(txn, db, op.key, ctx)
    if z is None:
        return record
    if (op.count_only and op.by == pb.BY_SCORE and not op.offset and not op.HasField("count")
            and z.itemized and commands.rules_version(ctx) >= commands.ZCOUNT_VERSION):
        # ZCOUNT: the order records counted, not read (a script's budget counts them as run
        # items from log version 28; an older entry reads them one by one, as it did)
        lo, hi = op.min_score, op.max_score
        return z.count_by_score(lo.value, hi.value, lo.exclusive, hi.exclusive)
    selected = select(z, op)
    if op.count_only:
        return len(selected)
    return _flat(selected, op.with_scores)


def zremrange(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, z = _get(txn, db, op.key, ctx)
    if z is None or record is None:
        return record if z is None else 0
    doomed = [m for _, m in select(z, op.range)]
    for m in doomed:
        z.remove(m)
    z.save(ctx)
    return len(doomed)


def zrangestore(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, z = _get(txn, db, op.range.key, ctx)
    if z is None:
        return record
    selected = select(z, op.range)
    if txn.get(db, op.key, ctx.now_ms) is not None:
        txn.delete(db, op.key)
    _new(txn, db, op.key, {m: s for s, m in selected}, ctx)
    return len(selected)


def zrank(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, z = _get(txn, db, op.key, ctx)
    if z is None:
        return record
    found = z.rank(op.member)
    if found is None:
        return None
    rank, score = found
    if op.rev:
        rank = len(z) - 1 - rank
    return [rank, score] if op.with_score else rank


def zpop(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, z = _get(txn, db, op.key, ctx)
    if z is None:
        return record
    taken = _pop(z, op.count if op.HasField("count") else 1, op.max)
    z.save(ctx)
    return _flat(taken, True)


def _pop(z, n: int, highest: bool) -> list[tuple[float, bytes]]:
    """Remove up to n members from the low (or high) end; in pop order."""
    size = len(z)
    n = min(n, size)
    if n <= 0:
        return []
    taken = z.by_rank(size - n, size - 1)[::-1] if highest else z.by_rank(0, n - 1)
    for _, m in taken:
        z.remove(m)
    return taken


def zmpop(ctx, op):
    """ZMPOP: up to op.count members from the first non-empty sorted set,
    [key, [[member, score], ...]]; keys checked in order as in lists.lmpop."""
    if op.count < 1:
        return CommandError("count should be greater than 0", Reason.INVALID_ARGUMENT)
    key, record, z = c.first_non_empty(ctx, op.keys, _get)
    if key is None:
        return record
    taken = _pop(z, op.count, op.max)
    z.save(ctx)
    return [key, [[m, s] for s, m in taken]]


def zrandmember(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, z = _get(txn, db, op.key, ctx)
    if z is None:
        return record
    count = op.count if op.HasField("count") else None
    one_pass = commands.one_pass_picks(ctx)
    refused = c.repeats_refused(count, one_pass)
    if refused is not None:
        return refused
    picked = z.random_members(random.Random(op.seed or c.seed_of(ctx)), count, one_pass)
    if count is None or not op.with_scores:
        return picked
    scores: dict[bytes, float] = {}   # a negative count repeats members: each read once
    for m in picked:
        if m not in scores:
            scores[m] = z.score(m)
    return _flat([(scores[m], m) for m in picked], True)


def _as_scores(txn, db, key, ctx):
    """A sorted set or a set (score 1) as {member: score}; a CommandError for other types."""
    record = txn.get(db, key, ctx.now_ms)
    if record is None:
        return {}
    kind = record.type.name
    if kind == "ZSET":
        return {m: s for s, m in itemzset.ItemZSet(txn, db, key, record).entries()}
    if kind == "SET":
        return dict.fromkeys(itemmap.ItemMap(txn, db, key, kind, record, pairs=False).keys(), 1.0)
    return wrong_type()


def _agg(kind: int, a: float, b: float) -> float:
    if kind == 1:
        return min(a, b)
    if kind == 2:
        return max(a, b)
    r = a + b
    return 0.0 if math.isnan(r) else r


def compute(ctx, op):
    """ZUNION/ZINTER/ZDIFF over op.keys: {member: score} or a CommandError."""
    txn, db = ctx.txn, ctx.db
    maps = []
    for i, key in enumerate(op.keys):
        m = _as_scores(txn, db, key, ctx)
        if isinstance(m, CommandError):
            return m
        w = op.weights[i] if i < len(op.weights) else 1.0
        if w != 1.0:
            m = {k: (0.0 if math.isnan(v * w) else v * w) for k, v in m.items()}
        maps.append(m)
    if not maps:
        return {}
    if op.op == 0:  # union
        out: dict = {}
        for m in maps:
            for k, v in m.items():
                out[k] = _agg(op.aggregate, out[k], v) if k in out else v
        return out
    if op.op == 1:  # inter
        out = dict(maps[0])
        for m in maps[1:]:
            out = {k: _agg(op.aggregate, v, m[k]) for k, v in out.items() if k in m}
        return out
    first = maps[0]
    return {k: v for k, v in first.items() if not any(k in m for m in maps[1:])}


def zset_op(ctx, op):
    result = compute(ctx, op)
    if isinstance(result, CommandError):
        return result
    if op.card:
        return min(len(result), op.limit) if op.limit else len(result)
    return _flat(sorted((s, m) for m, s in result.items()), op.with_scores)


def zset_op_store(ctx, op):
    txn, db = ctx.txn, ctx.db
    result = compute(ctx, op.source)
    if isinstance(result, CommandError):
        return result
    if txn.get(db, op.key, ctx.now_ms) is not None:
        txn.delete(db, op.key)
    _new(txn, db, op.key, result, ctx)
    return len(result)


HANDLERS = {
    "zadd": zadd,
    "zrem": zrem,
    "zscore": zscore,
    "zcard": zcard,
    "zrange": zrange,
    "zremrange": zremrange,
    "zrangestore": zrangestore,
    "zrank": zrank,
    "zpop": zpop,
    "zmpop": zmpop,
    "zrandmember": zrandmember,
    "zset_op": zset_op,
    "zset_op_store": zset_op_store,
}
