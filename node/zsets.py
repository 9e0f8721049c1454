"""Sorted set commands (ZADD … ZUNIONSTORE, ZMPOP).

A sorted set is one ZSET record whose value is containers.encode_items of
member, score (8-byte little-endian double)… in (score, member) order, the
order Redis ranks by. Scores come back as Python floats; the RESP front end
renders them (double in RESP3, bulk string in RESP2).

Must not import lmdb, grpc, time; random only seeded (ZRANDMEMBER's seed).
"""

from __future__ import annotations

import bisect
import math
import random
import struct

from raftcache.node import containers as c
from raftcache.node.errors import CommandError, Reason, wrong_type

ZSET = "ZSET"
_D = struct.Struct("<d")


def decode(value: bytes) -> list[tuple[float, bytes]]:
    items = c.decode_items(value)
    return [(_D.unpack(items[i + 1])[0], items[i]) for i in range(0, len(items), 2)]


def encode(entries) -> bytes | None:
    if not entries:
        return None
    flat = []
    for score, member in entries:
        flat.append(member)
        flat.append(_D.pack(score))
    return c.encode_items(flat)


def _get(txn, db, key, ctx):
    """(record, sorted entries) or (CommandError, None)."""
    record = c.load(txn, db, key, ctx, ZSET)
    if isinstance(record, CommandError):
        return record, None
    return record, (decode(record.value) if record is not None else [])


def _put(txn, db, key, scores: dict, ctx, record):
    entries = sorted((s, m) for m, s in scores.items())
    c.store(txn, db, key, ZSET, encode(entries), ctx, record)


def zadd(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, entries = _get(txn, db, op.key, ctx)
    if entries is None:
        return record
    err = c.too_large(ctx, (sm.member for sm in op.members))
    if err:
        return err
    scores = {m: s for s, m in entries}
    added = changed = 0
    result = None
    nx, xx = op.condition == 1, op.condition == 2
    for sm in op.members:
        current = scores.get(sm.member)
        if current is None:
            if xx:
                continue
            new = sm.score
            if math.isnan(new):
                return CommandError("resulting score is not a number (NaN)", Reason.NOT_FLOAT)
            scores[sm.member] = new
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
            scores[sm.member] = new
            changed += 1
    if added or changed:
        _put(txn, db, op.key, scores, ctx, record)
    if op.incr:
        return result
    return added + changed if op.ch else added


def zrem(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, entries = _get(txn, db, op.key, ctx)
    if entries is None:
        return record
    scores = {m: s for s, m in entries}
    removed = sum(1 for m in op.members if scores.pop(m, None) is not None)
    if removed:
        _put(txn, db, op.key, scores, ctx, record)
    return removed


def zscore(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, entries = _get(txn, db, op.key, ctx)
    if entries is None:
        return record
    scores = {m: s for s, m in entries}
    found = [scores.get(m) for m in op.members]
    return found if op.multi else found[0]


def zcard(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, entries = _get(txn, db, op.key, ctx)
    return record if entries is None else len(entries)


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


def select(entries, rng) -> list[tuple[float, bytes]]:
    """The entries a ZRange selects, in reply order, LIMIT applied."""
    if rng.by == 0:  # BY_RANK
        ordered = entries[::-1] if rng.rev else entries
        r = c.norm_range(rng.start, rng.stop, len(ordered))
        return [] if r is None else ordered[r[0] : r[1] + 1]
    if rng.by == 1:  # BY_SCORE
        lo = bisect.bisect_left(entries, (rng.min_score.value, b""))
        picked = []
        for e in entries[lo:]:
            if e[0] > rng.max_score.value:
                break
            if _score_ok(e[0], rng):
                picked.append(e)
    else:  # BY_LEX (meaningful when all scores are equal, as in Redis)
        picked = [e for e in entries if _lex_above_min(e[1], rng.min_lex) and _lex_below_max(e[1], rng.max_lex)]
    if rng.rev:
        picked.reverse()
    if rng.offset or rng.HasField("count"):
        if rng.offset < 0:
            return []
        end = None if not rng.HasField("count") or rng.count < 0 else rng.offset + rng.count
        picked = picked[rng.offset : end]
    return picked


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
    record, entries = _get(txn, db, op.key, ctx)
    if entries is None:
        return record
    selected = select(entries, op)
    if op.count_only:
        return len(selected)
    return _flat(selected, op.with_scores)


def zremrange(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, entries = _get(txn, db, op.key, ctx)
    if entries is None or record is None:
        return record if entries is None else 0
    doomed = {m for _, m in select(entries, op.range)}
    if doomed:
        remaining = [e for e in entries if e[1] not in doomed]
        c.store(txn, db, op.key, ZSET, encode(remaining), ctx, record)
    return len(doomed)


def zrangestore(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, entries = _get(txn, db, op.range.key, ctx)
    if entries is None:
        return record
    selected = sorted(select(entries, op.range))
    if txn.get(db, op.key, ctx.now_ms) is not None:
        txn.delete(db, op.key)
    c.store(txn, db, op.key, ZSET, encode(selected), ctx, None)
    return len(selected)


def zrank(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, entries = _get(txn, db, op.key, ctx)
    if entries is None:
        return record
    for i, (s, m) in enumerate(entries):
        if m == op.member:
            rank = len(entries) - 1 - i if op.rev else i
            return [rank, s] if op.with_score else rank
    return None


def zpop(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, entries = _get(txn, db, op.key, ctx)
    if entries is None:
        return record
    n = op.count if op.HasField("count") else 1
    if op.max:
        taken = entries[::-1][:n]
        rest = entries[: len(entries) - len(taken)]
    else:
        taken, rest = entries[:n], entries[n:]
    if taken:
        c.store(txn, db, op.key, ZSET, encode(rest), ctx, record)
    return _flat(taken, True)


def zmpop(ctx, op):
    """ZMPOP: up to op.count members from the first non-empty sorted set,
    [key, [[member, score], ...]]; keys checked in order as in lists.lmpop."""
    if op.count < 1:
        return CommandError("count should be greater than 0", Reason.INVALID_ARGUMENT)
    key, record, entries = c.first_non_empty(ctx, op.keys, _get)
    if key is None:
        return record
    n = op.count
    if op.max:
        taken, rest = entries[::-1][:n], entries[: max(len(entries) - n, 0)]
    else:
        taken, rest = entries[:n], entries[n:]
    c.store(ctx.txn, ctx.db, key, ZSET, encode(rest), ctx, record)
    return [key, [[m, s] for s, m in taken]]


def zrandmember(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, entries = _get(txn, db, op.key, ctx)
    if entries is None:
        return record
    count = op.count if op.HasField("count") else None
    refused = c.repeats_refused(count)
    if refused is not None:
        return refused
    scores = {m: s for s, m in entries}
    picked = c.random_pick(random.Random(op.seed or c.seed_of(ctx)), [m for _, m in entries], count)
    if count is None or not op.with_scores:
        return picked
    return _flat([(scores[m], m) for m in picked], True)


def _as_scores(txn, db, key, ctx):
    """A sorted set or a set (score 1) as {member: score}; a CommandError for other types."""
    record = txn.get(db, key, ctx.now_ms)
    if record is None:
        return {}
    kind = record.type.name
    if kind == "ZSET":
        return {m: s for s, m in decode(record.value)}
    if kind == "SET":
        return dict.fromkeys(c.decode_items(record.value), 1.0)
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
    _put(txn, db, op.key, result, ctx, None)
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
