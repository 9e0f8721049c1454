"""List commands (LPUSH … LMOVE, RPOPLPUSH, LMPOP).

A list is one LIST record whose value is containers.encode_items of its
elements, head first. Every write rewrites the record: fine for the list
sizes a cache holds; a chunked encoding is the upgrade path (docs/redis-compat.md).

Must not import lmdb, grpc, time or random.
"""

from __future__ import annotations

from raftcache.node import containers as c
from raftcache.node.errors import CommandError, Reason

LIST = "LIST"


def _get(txn, db, key, ctx):
    record = c.load(txn, db, key, ctx, LIST)
    if isinstance(record, CommandError):
        return record, None
    return record, (c.decode_items(record.value) if record is not None else [])


def _put(txn, db, key, items, ctx, record):
    c.store(txn, db, key, LIST, c.encode_items(items) if items else None, ctx, record)


def push(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, items = _get(txn, db, op.key, ctx)
    if items is None:
        return record
    if op.if_exists and record is None:
        return 0
    err = c.too_large(ctx, op.values)
    if err:
        return err
    if op.left:
        items = list(reversed(op.values)) + items
    else:
        items.extend(op.values)
    _put(txn, db, op.key, items, ctx, record)
    return len(items)


def pop(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, items = _get(txn, db, op.key, ctx)
    if items is None:
        return record
    has_count = op.HasField("count")
    if record is None:
        return None
    n = op.count if has_count else 1
    if op.left:
        taken, items = items[:n], items[n:]
    else:
        taken = items[len(items) - n :][::-1] if n else []
        items = items[: len(items) - n] if n else items
    if taken:
        _put(txn, db, op.key, items, ctx, record)
    if has_count:
        return taken
    return taken[0] if taken else None


def lmpop(ctx, op):
    """LMPOP: up to op.count elements from the first non-empty list, [key, [elements]].

    Keys are checked in order as Redis does: a key of another type before the
    first non-empty list is WRONGTYPE; keys after it are not looked at.
    """
    if op.count < 1:
        return CommandError("count should be greater than 0", Reason.INVALID_ARGUMENT)
    key, record, items = c.first_non_empty(ctx, op.keys, _get)
    if key is None:
        return record
    n = op.count
    if op.left:
        taken, items = items[:n], items[n:]
    else:
        taken, items = items[::-1][:n], items[: max(len(items) - n, 0)]
    _put(ctx.txn, ctx.db, key, items, ctx, record)
    return [key, taken]


def lrange(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, items = _get(txn, db, op.key, ctx)
    if items is None:
        return record
    r = c.norm_range(op.start, op.stop, len(items))
    return [] if r is None else items[r[0] : r[1] + 1]


def llen(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, items = _get(txn, db, op.key, ctx)
    return record if items is None else len(items)


def lindex(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, items = _get(txn, db, op.key, ctx)
    if items is None:
        return record
    i = op.index + len(items) if op.index < 0 else op.index
    return items[i] if 0 <= i < len(items) else None


def lset(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, items = _get(txn, db, op.key, ctx)
    if items is None:
        return record
    if record is None:
        return CommandError("no such key", Reason.NO_SUCH_KEY)
    i = op.index + len(items) if op.index < 0 else op.index
    if not 0 <= i < len(items):
        return CommandError("index out of range", Reason.INVALID_ARGUMENT)
    err = c.too_large(ctx, (op.value,))
    if err:
        return err
    items[i] = op.value
    _put(txn, db, op.key, items, ctx, record)
    from raftcache.node.commands import OK

    return OK


def lrem(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, items = _get(txn, db, op.key, ctx)
    if items is None or record is None:
        return record if items is None else 0
    limit = abs(op.count) or len(items)
    removed = 0
    order = range(len(items)) if op.count >= 0 else range(len(items) - 1, -1, -1)
    drop = set()
    for i in order:
        if removed >= limit:
            break
        if items[i] == op.value:
            drop.add(i)
            removed += 1
    if removed:
        items = [x for i, x in enumerate(items) if i not in drop]
        _put(txn, db, op.key, items, ctx, record)
    return removed


def ltrim(ctx, op):
    txn, db = ctx.txn, ctx.db
    from raftcache.node.commands import OK

    record, items = _get(txn, db, op.key, ctx)
    if items is None:
        return record
    if record is None:
        return OK
    r = c.norm_range(op.start, op.stop, len(items))
    new = [] if r is None else items[r[0] : r[1] + 1]
    if new != items:
        _put(txn, db, op.key, new, ctx, record)
    return OK


def linsert(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, items = _get(txn, db, op.key, ctx)
    if items is None or record is None:
        return record if items is None else 0
    try:
        i = items.index(op.pivot)
    except ValueError:
        return -1
    err = c.too_large(ctx, (op.value,))
    if err:
        return err
    items.insert(i if op.before else i + 1, op.value)
    _put(txn, db, op.key, items, ctx, record)
    return len(items)


def lpos(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, items = _get(txn, db, op.key, ctx)
    if items is None:
        return record
    has_count = op.HasField("count")
    rank = op.rank or 1
    want = op.count if has_count else 1
    if want == 0:
        want = len(items)
    n = len(items)
    order = range(n) if rank > 0 else range(n - 1, -1, -1)
    skip = abs(rank) - 1
    found = []
    for checked, i in enumerate(order):
        if op.maxlen and checked >= op.maxlen:
            break
        if items[i] == op.element:
            if skip:
                skip -= 1
                continue
            found.append(i)
            if len(found) >= want:
                break
    if has_count:
        return found
    return found[0] if found else None


def lmove(ctx, op):
    txn, db = ctx.txn, ctx.db
    src_record, src = _get(txn, db, op.key, ctx)
    if src is None:
        return src_record
    if src_record is None:
        return None
    dst_record, dst = _get(txn, db, op.new_key, ctx)
    if dst is None:
        return dst_record
    value = src.pop(0) if op.from_left else src.pop()
    if op.key == op.new_key:
        dst = src
        dst_record = src_record
    if op.to_left:
        dst.insert(0, value)
    else:
        dst.append(value)
    if op.key != op.new_key:
        _put(txn, db, op.key, src, ctx, src_record)
    _put(txn, db, op.new_key, dst, ctx, dst_record)
    return value


HANDLERS = {
    "push": push,
    "pop": pop,
    "lmpop": lmpop,
    "lrange": lrange,
    "llen": llen,
    "lindex": lindex,
    "lset": lset,
    "lrem": lrem,
    "ltrim": ltrim,
    "linsert": linsert,
    "lpos": lpos,
    "lmove": lmove,
}
