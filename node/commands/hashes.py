"""Hash commands (HSET, HGET, … HRANDFIELD) and the element scan of every container.

Handlers follow docs/interfaces.md: `handler(ctx, op) -> result` (ctx: node/strings.Ctx),
results are values (a CommandError is returned, never raised), and nothing
here reads a clock or an unseeded random source: apply stays deterministic.
A hash is a HASH record: small, its value is containers.encode_items of
field, value, field, value… in insertion order; large, one item record per
field (node/storage/itemmap.py).

Must not import lmdb, grpc or time.
"""

from __future__ import annotations

import math
import random

from raftcache.node.storage import containers as c
from raftcache.node.storage import itemmap, itemzset
from raftcache.node.errors import CommandError, Reason, overflow

HASH = "HASH"
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1


def _get(txn, db, key, ctx):
    """(record, ItemMap) or (CommandError, None); record None means absent."""
    return itemmap.load(txn, db, key, ctx, HASH, pairs=True)


def hset(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, h = _get(txn, db, op.key, ctx)
    if h is None:
        return record
    err = c.too_large(ctx, (p.value for p in op.pairs)) or c.elements_too_large(p.key for p in op.pairs)
    if err:
        return err
    added = 0
    for p in op.pairs:
        if p.key in h:
            if op.if_absent:
                continue
        else:
            added += 1
        h[p.key] = p.value
    if added or not op.if_absent:
        h.save(ctx)
    return added


def hget(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, h = _get(txn, db, op.key, ctx)
    if h is None:
        return record
    return h.get(op.field)


def hmget(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, h = _get(txn, db, op.key, ctx)
    if h is None:
        return record
    return [h.get(f) for f in op.fields]


def hdel(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, h = _get(txn, db, op.key, ctx)
    if h is None or record is None:
        return record if h is None else 0
    removed = 0
    for f in op.fields:
        if h.pop(f, None) is not None:
            removed += 1
    h.save(ctx)
    return removed


def hlen(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, h = _get(txn, db, op.key, ctx)
    return record if h is None else len(h)


def hexists(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, h = _get(txn, db, op.key, ctx)
    return record if h is None else int(op.field in h)


def hgetall(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, h = _get(txn, db, op.key, ctx)
    if h is None:
        return record
    if op.keys and not op.values:
        return list(h.keys())
    if op.values and not op.keys:
        return list(h.values())
    flat = []
    for k, v in h.items():
        flat.append(k)
        flat.append(v)
    return flat


def hstrlen(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, h = _get(txn, db, op.key, ctx)
    return record if h is None else len(h.get(op.field, b""))


def hincrby(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, h = _get(txn, db, op.key, ctx)
    if h is None:
        return record
    if op.field not in h and (err := c.elements_too_large([op.field])):
        return err
    current = h.get(op.field, b"0")
    n = c.parse_int(current)
    if n is None:
        return CommandError("hash value is not an integer", Reason.NOT_INTEGER)
    result = n + op.delta
    if not _I64_MIN <= result <= _I64_MAX:
        return overflow()
    h[op.field] = b"%d" % result
    h.save(ctx)
    return result


def hincrbyfloat(ctx, op):
    txn, db = ctx.txn, ctx.db
    if math.isnan(op.delta) or math.isinf(op.delta):
        return CommandError("value is NaN or Infinity", Reason.NOT_FLOAT)  # checked first, as Redis
    record, h = _get(txn, db, op.key, ctx)
    if h is None:
        return record
    if op.field not in h and (err := c.elements_too_large([op.field])):
        return err
    # The same arithmetic and text as INCRBYFLOAT (containers.incr_float_text).
    text = c.incr_float_text(h.get(op.field, b"0"), op.delta,
                             CommandError("hash value is not a float", Reason.NOT_FLOAT))
    if isinstance(text, CommandError):
        return text
    h[op.field] = text
    h.save(ctx)
    return text


def hrandfield(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, h = _get(txn, db, op.key, ctx)
    if h is None:
        return record
    rng = random.Random(op.seed or c.seed_of(ctx))
    count = op.count if op.HasField("count") else None
    refused = c.repeats_refused(count)
    if refused is not None:
        return refused
    picked = h.random_elements(rng, count)
    if count is None or not op.with_values:
        return picked
    flat = []
    for f in picked:
        flat.append(f)
        flat.append(h.get(f))
    return flat


def element_scan(ctx, op):
    """HSCAN / SSCAN / ZSCAN: reply [cursor (bytes), flat items]."""
    txn, db = ctx.txn, ctx.db
    record = txn.get(db, op.key, ctx.now_ms)
    if record is None:
        return [b"0", []]
    kind = record.type.name
    if kind in ("HASH", "SET"):
        elements = itemmap.ItemMap(txn, db, op.key, kind, record, pairs=kind == "HASH")
        nxt, chunk = elements.scan(op.cursor, op.count, op.match)
        flat = []
        for f, v in chunk:
            flat.append(f)
            if kind == "HASH" and not op.no_values:
                flat.append(v)
    elif kind == "ZSET":
        nxt, chunk = itemzset.ItemZSet(txn, db, op.key, record).scan(op.cursor, op.count, op.match)
        flat = []
        for member, score in chunk:
            flat.append(member)
            flat.append(c.format_float(score))
    else:
        from raftcache.node.errors import wrong_type

        return wrong_type()
    return [b"%d" % nxt, flat]


HANDLERS = {
    "hset": hset,
    "hget": hget,
    "hmget": hmget,
    "hdel": hdel,
    "hlen": hlen,
    "hexists": hexists,
    "hgetall": hgetall,
    "hstrlen": hstrlen,
    "hincrby": hincrby,
    "hincrbyfloat": hincrbyfloat,
    "hrandfield": hrandfield,
    "element_scan": element_scan,
}
