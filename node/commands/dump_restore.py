"""DUMP and RESTORE: a key's value in Redis's serialization (node/storage/rdb.py).

`dump` (a read) serializes the live value of any type but a stream (a hash with
field TTLs as Redis 7.4 does). `restore` (a write, log version 6; Redis 7.4's
payloads from version 27) decodes the payload again at apply (the front end
decoded it already to refuse a bad one before proposing; the decoder is pure,
so every replica gets the same value) and builds the key through the container
views, so a large value is itemized as if it had been written element by
element, and a field's TTL is set as HPEXPIREAT sets it. IDLETIME and FREQ are
accepted and not kept: the access clock here is each node's own (OBJECT
IDLETIME), not replicated state.

Must not import lmdb, grpc or time.
"""

from __future__ import annotations

from raftcache.node import commands
from raftcache.node.commands import OK
from raftcache.node.errors import CommandError, Reason
from raftcache.node.storage import itemlist, itemmap, itemzset, rdb
from raftcache.node.storage.keyspace import Record, ValueType

BAD_FORMAT = "Bad data format"


def _value_of(txn, db: int, key: bytes, ctx, record: Record, field_ttls: bool):
    kind = record.type
    if kind == ValueType.STRING:
        return "string", record.value
    if kind == ValueType.HASH:
        view = itemmap.ItemMap(txn, db, key, "HASH", record, pairs=True, now_ms=ctx.now_ms)
        if not view.has_deadlines():
            return "hash", view.items()
        if field_ttls:   # Redis 7.4's RDB_TYPE_HASH_METADATA (rdb.encode)
            return "hash", view.items_with_deadlines()
        return "hash with field expirations", None
    if kind == ValueType.SET:
        return "set", itemmap.ItemMap(txn, db, key, "SET", record, pairs=False).keys()
    if kind == ValueType.LIST:
        return "list", itemlist.ItemList(txn, db, key, record).all()
    if kind == ValueType.ZSET:
        return "zset", [(m, s) for s, m in itemzset.ItemZSet(txn, db, key, record).entries()]
    return kind.name.lower(), None


def dump(ctx, op, field_ttls: bool = True):
    """DUMP's payload (None for a missing key). From log version 27 a hash with field TTLs is
    Redis 7.4's (unless `field_ttls` is False: a slot move ships those as stored records), and
    one whose every field is past its deadline (not deleted yet) is missing; before, refused and
    an empty hash."""
    record = ctx.txn.get(ctx.db, op.key, ctx.now_ms)
    if record is None:
        return None
    redis74 = commands.rules_version(ctx) >= commands.RESTORE_74_VERSION
    kind, data = _value_of(ctx.txn, ctx.db, op.key, ctx, record, field_ttls and redis74)
    if data is None:
        return CommandError(f"DUMP of a {kind} is not supported by raftcache", Reason.INVALID_ARGUMENT)
    if redis74 and kind != "string" and not data:
        return None
    return rdb.encode(kind, data)


def check(payload: bytes, max_value_bytes: int, redis74: bool = True, bounded: bool = True):
    """The decoded value of a RESTORE payload, or the CommandError RESTORE answers
    (the front end's check before proposing; apply runs it again, with `redis74` and
    `bounded` as the entry's version allows: Redis 7.4's payloads from log version 27, the
    payload's compressed strings bounded together, rdb.MAX_EXPANDED_BYTES, from 28)."""
    try:
        kind, data = rdb.decode(payload, min(max_value_bytes, rdb.MAX_STRING_BYTES), redis74, bounded)
    except rdb.RdbError as e:
        text = str(e)
        if text == "string too large":
            return CommandError("string exceeds maximum allowed size (proto-max-bulk-len)", Reason.VALUE_TOO_LARGE)
        if text == rdb.EXPANDS_TOO_FAR:
            return CommandError(text, Reason.VALUE_TOO_LARGE)
        if text in (rdb.BAD_CHECKSUM, rdb.STREAMS_UNSUPPORTED):
            return CommandError(text, Reason.INVALID_ARGUMENT)
        return CommandError(BAD_FORMAT, Reason.INVALID_ARGUMENT)
    sizes = [data] if kind == "string" else [x for e in data for x in (e if isinstance(e, tuple) else (e,))
                                            if isinstance(x, bytes)]
    if any(len(s) > max_value_bytes for s in sizes):
        return CommandError("string exceeds maximum allowed size (proto-max-bulk-len)", Reason.VALUE_TOO_LARGE)
    return kind, data


#: A payload of a few bytes that fails as each refusal does (see stand_in).
_STAND_INS = {rdb.BAD_CHECKSUM: b"", rdb.STREAMS_UNSUPPORTED: rdb.sealed(b"\x0f"), BAD_FORMAT: rdb.sealed(b"\xff")}


def stand_in(error: CommandError) -> bytes | None:
    """A tiny payload that apply refuses with `error`, or None. A bad payload onto an
    existing key answers BUSYKEY in Redis (it checks the key first): the front end
    proposes this instead of the payload, so the log never carries the bad bytes."""
    return _STAND_INS.get(error.message)


def busy_key() -> CommandError:
    return CommandError("Target key name already exists.", Reason.BUSY_KEY)


def check_options(op) -> CommandError | None:
    if op.ttl_ms < 0:
        return CommandError("Invalid TTL value, must be >= 0", Reason.INVALID_EXPIRE)
    if op.idle_s < 0:
        return CommandError("Invalid IDLETIME value, must be >= 0", Reason.INVALID_ARGUMENT)
    if not 0 <= op.freq <= 255:
        return CommandError("Invalid FREQ value, must be >= 0 and <= 255", Reason.INVALID_ARGUMENT)
    return None


def restore(ctx, op):
    txn, db = ctx.txn, ctx.db
    # Redis's order of checks: the key, the TTL, the checksum, the value.
    if not op.replace and txn.get(db, op.key, ctx.now_ms) is not None:
        return busy_key()
    error = check_options(op)
    if error is not None:
        return error
    value = check(op.payload, ctx.max_value_bytes, ctx.version >= commands.RESTORE_74_VERSION,
                  ctx.version >= commands.RESTORE_BOUND_VERSION)
    if isinstance(value, CommandError):
        return value
    deadline = 0 if op.ttl_ms == 0 else op.ttl_ms if op.absttl else ctx.now_ms + op.ttl_ms
    txn.delete(db, op.key)
    if deadline and deadline <= ctx.now_ms:
        return OK  # already expired: Redis answers OK and stores nothing
    kind, data = value
    if kind == "string":
        txn.put(db, op.key, Record(ValueType.STRING, data, deadline, ctx.index))
        return OK
    if kind == "hash":
        _, view = itemmap.load(txn, db, op.key, ctx, "HASH", pairs=True)
        for field, field_value, *rest in data:   # (field, value[, its deadline]: rdb.decode)
            field_deadline = rest[0] if rest else 0
            if field_deadline and field_deadline <= ctx.now_ms:
                continue   # a field already past its deadline is not stored
            view[field] = field_value
            if field_deadline:
                view.set_deadline(field, field_deadline)
        if not len(view):   # every field had expired: nothing is stored (OK, as an expired TTL)
            return OK
    elif kind == "set":
        _, view = itemmap.load(txn, db, op.key, ctx, "SET", pairs=False)
        for member in data:
            view[member] = None
    elif kind == "list":
        _, view = itemlist.load(txn, db, op.key, ctx)
        view.push(data, left=False)
    else:
        _, view = itemzset.load(txn, db, op.key, ctx)
        for member, score in data:
            view.set(member, score)
    view.save(ctx)
    if deadline:
        record = txn.get_raw(db, op.key)
        txn.put(db, op.key, record._replace(expires_at_ms=deadline))
    return OK


HANDLERS = {"dump": dump, "restore": restore}
