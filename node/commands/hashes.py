"""Hash commands (HSET, HGET, … HRANDFIELD), Redis 7.4's field expiration (HEXPIRE,
HPEXPIRE, HEXPIREAT, HPEXPIREAT, HTTL, HPTTL, HEXPIRETIME, HPEXPIRETIME, HPERSIST and
the leader's DeleteExpiredFields), and the element scan of every container.

Handlers follow docs/interfaces.md: `handler(ctx, op) -> result` (ctx: node/strings.Ctx),
results are values (a CommandError is returned, never raised), and nothing
here reads a clock or an unseeded random source: apply stays deterministic.
A hash is a HASH record: small, its value is containers.encode_items of
field, value, field, value… in insertion order; large, one item record per
field (node/storage/itemmap.py, which also owns the layout of field deadlines).

Field deadlines are absolute (the leader stamps a relative TTL: commands.stamp).
Every read sees a hash at its own clock with the fields past their deadline
hidden; every write first deletes those fields at the entry's clock (the same
on every replica) and notes `hexpired`; a hash left without fields is deleted.
HSET/HSETNX/HMSET set a value and drop its deadline, HINCRBY/HINCRBYFLOAT keep it.

Must not import lmdb, grpc or time.
"""

from __future__ import annotations

import math
import random

from raftcache.node import commands
from raftcache.node.storage import containers as c
from raftcache.node.storage import itemmap, itemzset
from raftcache.node.errors import CommandError, Reason, overflow
from raftcache.proto import commands_pb2 as pb

HASH = "HASH"
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1


#: Redis 7.4's per-field replies (HEXPIRE family, HTTL family, HPERSIST).
NO_FIELD, CONDITION_NOT_MET, NO_DEADLINE, SET, DELETED = -2, 0, -1, 1, 2


def _get(txn, db, key, ctx):
    """(record, ItemMap) or (CommandError, None); record None means absent."""
    return itemmap.load(txn, db, key, ctx, HASH, pairs=True)


def note(ctx, event: str, key: bytes) -> None:
    """A hash keyspace event (class h) this write emits beyond its command's own."""
    notes = getattr(ctx.txn, "notes", None)
    if notes is not None:
        notes.append((ctx.db, "h", event, key))


def _get_write(ctx, key):
    """_get for a write: the fields past their deadline are deleted first (`hexpired`)."""
    record, h = _get(ctx.txn, ctx.db, key, ctx)
    if h is None or record is None:
        return record, h
    if h.purge_expired():
        h.save(ctx)
        note(ctx, "hexpired", key)
    return h.record, h


def hset(ctx, op):
    record, h = _get_write(ctx, op.key)
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
    record, h = _get_write(ctx, op.key)
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
    record, h = _get_write(ctx, op.key)
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
    h.set_keep_ttl(op.field, b"%d" % result)
    h.save(ctx)
    return result


def hincrbyfloat(ctx, op):
    if math.isnan(op.delta) or math.isinf(op.delta):
        return CommandError("value is NaN or Infinity", Reason.NOT_FLOAT)  # checked first, as Redis
    record, h = _get_write(ctx, op.key)
    if h is None:
        return record
    if op.field not in h and (err := c.elements_too_large([op.field])):
        return err
    # The same arithmetic and text as INCRBYFLOAT (containers.incr_float_text).
    text = c.incr_float_text(h.get(op.field, b"0"), op.delta,
                             CommandError("hash value is not a float", Reason.NOT_FLOAT))
    if isinstance(text, CommandError):
        return text
    h.set_keep_ttl(op.field, text)
    h.save(ctx)
    return text


def hrandfield(ctx, op):
    txn, db = ctx.txn, ctx.db
    record, h = _get(txn, db, op.key, ctx)
    if h is None:
        return record
    rng = random.Random(op.seed or c.seed_of(ctx))
    count = op.count if op.HasField("count") else None
    one_pass = commands.one_pass_picks(ctx)
    refused = c.repeats_refused(count, one_pass)
    if refused is not None:
        return refused
    picked = h.random_elements(rng, count, one_pass)
    if count is None or not op.with_values:
        return picked
    values: dict[bytes, object] = {}   # a negative count repeats fields: each read once
    flat = []
    for f in picked:
        value = values.get(f)
        if value is None:
            value = values[f] = h.get(f)
        flat.append(f)
        flat.append(value)
    return flat


def element_scan(ctx, op):
    """HSCAN / SSCAN / ZSCAN: reply [cursor (bytes), flat items]."""
    txn, db = ctx.txn, ctx.db
    record = txn.get(db, op.key, ctx.now_ms)
    if record is None:
        return [b"0", []]
    kind = record.type.name
    if kind in ("HASH", "SET"):
        elements = itemmap.ItemMap(txn, db, op.key, kind, record, pairs=kind == "HASH", now_ms=ctx.now_ms)
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


# ---------------------------------------------------------------- field expiration (Redis 7.4)

#: The latest field deadline Redis 7.4 accepts (HFE_MAX_ABS_TIME_MSEC: 2**46 - 1 ms, its 48-bit
#: deadlines with 2 bits reserved).
MAX_FIELD_DEADLINE_MS = (1 << 46) - 1


def _refused(condition, current: int, deadline: int) -> bool:
    """HEXPIRE's NX/XX/GT/LT over a field's current deadline (0: none, an infinite TTL)."""
    return ((condition == pb.EXPIRE_NX and current != 0)
            or (condition == pb.EXPIRE_XX and current == 0)
            or (condition == pb.EXPIRE_GT and (current == 0 or deadline <= current))
            or (condition == pb.EXPIRE_LT and current != 0 and deadline >= current))


def hexpire(ctx, op):
    """HEXPIRE/HPEXPIRE/HEXPIREAT/HPEXPIREAT: per field -2 (no such field), 0 (condition
    not met), 1 (deadline set) or 2 (deadline not in the future: the field is deleted)."""
    expiry = op.expiry
    deadline = expiry.expire_at_ms if expiry.HasField("expire_at_ms") else ctx.now_ms + expiry.ttl_ms
    if not 0 <= deadline <= MAX_FIELD_DEADLINE_MS:
        return CommandError("invalid expire time in 'hexpire' command", Reason.INVALID_EXPIRE)
    record, h = _get_write(ctx, op.key)
    if h is None:
        return record
    if record is None:
        return [NO_FIELD] * len(op.fields)
    out = []
    for field in op.fields:
        current = h.deadline(field)
        if current is None:
            out.append(NO_FIELD)
        elif _refused(op.condition, current, deadline):
            out.append(CONDITION_NOT_MET)
        elif deadline <= ctx.now_ms:
            h.pop(field)
            out.append(DELETED)
        else:
            h.set_deadline(field, deadline)
            out.append(SET)
    if DELETED in out or SET in out:
        h.save(ctx)
        note(ctx, "hdel" if DELETED in out else "hexpire", op.key)
    return out


def hpersist(ctx, op):
    """HPERSIST: per field -2 (no such field), -1 (no deadline) or 1 (deadline removed)."""
    record, h = _get_write(ctx, op.key)
    if h is None:
        return record
    if record is None:
        return [NO_FIELD] * len(op.fields)
    out = []
    for field in op.fields:
        current = h.deadline(field)
        if current is None:
            out.append(NO_FIELD)
        elif current == 0:
            out.append(NO_DEADLINE)
        else:
            h.set_deadline(field, 0)
            out.append(SET)
    if SET in out:
        h.save(ctx)
        note(ctx, "hpersist", op.key)
    return out


def httl(ctx, op):
    """HTTL/HPTTL/HEXPIRETIME/HPEXPIRETIME: per field -2, -1, or the time left (seconds
    rounded up, as Redis) or the deadline."""
    record, h = _get(ctx.txn, ctx.db, op.key, ctx)
    if h is None:
        return record
    if record is None:
        return [NO_FIELD] * len(op.fields)
    out = []
    for field in op.fields:
        deadline = h.deadline(field)
        if deadline is None:
            out.append(NO_FIELD)
        elif deadline == 0:
            out.append(NO_DEADLINE)
        elif op.absolute:
            out.append(deadline if op.millis else deadline // 1000)
        else:
            left = deadline - ctx.now_ms
            out.append(left if op.millis else (left + 999) // 1000)
    return out


def delete_expired_fields(ctx, op):
    """The leader's active field expiry: delete the fields of these hashes whose deadline
    is <= the entry's clock (`hexpired`, and `del` when the last one goes). A large hash's
    deadline bound is rewritten even when none had expired (the field that had the
    earliest deadline was deleted or persisted since), so the leader does not propose it again."""
    deleted = 0
    for key in op.keys:
        record, h = _get(ctx.txn, ctx.db, key, ctx)
        if h is None or record is None:
            continue
        gone = h.purge_expired()   # an itemized hash's bound is made exact (save rewrites it)
        h.save(ctx)
        if gone:
            deleted += len(gone)
            note(ctx, "hexpired", key)
    return deleted


HANDLERS = {
    "hexpire": hexpire,
    "hpersist": hpersist,
    "httl": httl,
    "delete_expired_fields": delete_expired_fields,
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
