"""List commands (LPUSH … LMOVE, RPOPLPUSH, LMPOP).

A list is a LIST record: small, its value is containers.encode_items of its
elements, head first; large, one item record per element at consecutive
positions (node/storage/itemlist.py), so pushes, pops, LINDEX, LSET and LTRIM touch
only the elements they name.

Must not import lmdb, grpc, time or random.
"""

from __future__ import annotations

from raftcache.node.storage import containers as c
from raftcache.node.storage import itemlist
from raftcache.node import commands
from raftcache.node.commands import OK
from raftcache.node.errors import CommandError, Reason

LIST = "LIST"


def _get(txn, db, key, ctx):
    """(record, ItemList) or (CommandError, None); record None means absent."""
    return itemlist.load(txn, db, key, ctx)


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
    items.push(op.values, op.left)
    items.save(ctx)
    return len(items)


def pop(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, items = _get(txn, db, op.key, ctx)
    if items is None:
        return record
    has_count = op.HasField("count")
    if record is None:
        return None
    taken = items.pop(op.count if has_count else 1, op.left)
    items.save(ctx)
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
    taken = items.pop(op.count, op.left)
    items.save(ctx)
    return [key, taken]


def lrange(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, items = _get(txn, db, op.key, ctx)
    if items is None:
        return record
    r = c.norm_range(op.start, op.stop, len(items))
    return [] if r is None else items.range(r[0], r[1])


def llen(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, items = _get(txn, db, op.key, ctx)
    return record if items is None else len(items)


def lindex(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, items = _get(txn, db, op.key, ctx)
    if items is None:
        return record
    return items.get(op.index)


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
    items.set(i, op.value)
    items.save(ctx)
    return OK


def lrem(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, items = _get(txn, db, op.key, ctx)
    if items is None or record is None:
        return record if items is None else 0
    limit = abs(op.count) or len(items)
    drop = set()
    for i, value in items.iterate(reverse=op.count < 0):
        if len(drop) >= limit:
            break
        if value == op.value:
            drop.add(i)
    if drop:
        if ctx.version >= commands.LIST_EDIT_VERSION:
            items.remove_at(sorted(drop))
        else:   # an older entry: as its release did (the same records on every replica)
            items.replace_all([x for i, x in enumerate(items.all()) if i not in drop])
        items.save(ctx)
    return len(drop)


def ltrim(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, items = _get(txn, db, op.key, ctx)
    if items is None:
        return record
    if record is None:
        return OK
    r = c.norm_range(op.start, op.stop, len(items))
    if r is None:
        items.trim(1, 0)
    else:
        items.trim(r[0], r[1])
    if ctx.version >= commands.WATCH_NOOPS_VERSION:
        items.touch()   # a change even when it removed nothing (Redis signals the key: WATCH fails)
    items.save(ctx)
    return OK


def linsert(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, items = _get(txn, db, op.key, ctx)
    if items is None or record is None:
        return record if items is None else 0
    scan = items.iterate()
    i = next((i for i, value in scan if value == op.pivot), None)
    scan.close()   # its cursor is done before the list is written
    if i is None:
        return -1
    err = c.too_large(ctx, (op.value,))
    if err:
        return err
    at = i if op.before else i + 1
    if ctx.version >= commands.LIST_EDIT_VERSION:
        items.insert(at, op.value)
    else:   # an older entry: the whole list written again, as its release did (the same records)
        values = items.all()
        values.insert(at, op.value)
        items.replace_all(values)
    items.save(ctx)
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
    skip = abs(rank) - 1
    found = []
    for checked, (i, value) in enumerate(items.iterate(reverse=rank < 0)):
        if op.maxlen and checked >= op.maxlen:
            break
        if value == op.element:
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
    if op.key == op.new_key:
        dst = src  # one view: the element leaves one end and joins the other
    (value,) = src.pop(1, op.from_left)
    dst.push([value], op.to_left)
    src.save(ctx)
    if dst is not src:
        dst.save(ctx)
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
