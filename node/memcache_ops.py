"""State-machine handlers for the memcached-specific commands.

Owns the apply-side semantics of what only the memcached front end sends:
`Set` with client flags or a CAS compare (`flags`, `cas_index`), memcached
prepend (`Append.prepend`), `McIncr`, `GetMeta` and `GetAndTouch`. Every
handler follows docs/interfaces.md: `handler(txn, db, op, ctx) -> result`,
deterministic (the only clock is `ctx.now_ms`, the only index `ctx.index`),
and returns a `CommandError` instead of raising for a semantic failure.

Must not touch: grpc, sockets, `time`, `random`, lmdb (the keyspace does).

Results (rendered by the front ends):
  mc_set        OK stored; None when an add/replace condition failed;
                Status("EXISTS") / Status("NOT_FOUND") for a failed CAS compare
  mc_prepend    the new length (int), or None when the key is missing
  mc_incr       the new value (int), or None when the key is missing
  get_meta      None, or [value, flags, cas_index, expires_at_ms (0 = never)]
  get_and_touch like get_meta, after setting the new deadline

The item's CAS unique is `Record.index`, the log index that last changed its
value: identical on every replica, so a `gets` on one node and a `cas`
through another compare the same number. A touch changes the deadline but
not the index (memcached's touch keeps the CAS unique too).

The strings module's `set` and `append` handlers delegate here when the
command carries memcached fields (`wants_mc_set`, `Append.prepend`):
`HANDLERS` only holds the oneof members no other module owns, and
`DELEGATES` names the two functions the string handlers call.
"""

from __future__ import annotations

from raftcache.node.commands import OK, Status
from raftcache.node.errors import CommandError, Reason, out_of_memory, wrong_type
from raftcache.node.keyspace import Record, ValueType
from raftcache.proto import commands_pb2 as pb

EXISTS = Status("EXISTS")
NOT_FOUND = Status("NOT_FOUND")
_U64 = 1 << 64


def not_numeric() -> CommandError:
    return CommandError("cannot increment or decrement non-numeric value", Reason.NOT_INTEGER)


def _deadline(expiry: pb.Expiry, now_ms: int, current_ms: int) -> int:
    """The absolute deadline an Expiry asks for (0 = never).

    The leader stamps `ttl_ms` into `expire_at_ms` before proposing; a
    `ttl_ms` that reaches apply anyway is resolved against the entry's clock,
    which is the same on every replica.
    """
    if expiry.HasField("expire_at_ms"):
        return max(expiry.expire_at_ms, 1) if expiry.expire_at_ms != 0 else 0
    if expiry.HasField("ttl_ms"):
        return now_ms + expiry.ttl_ms if expiry.ttl_ms > 0 else max(now_ms, 1)
    if expiry.keep_ttl:
        return current_ms
    return 0


def _put(txn, db: int, key: bytes, value: bytes, flags: int, deadline: int, index: int, ctx, old: Record | None):
    """Store a string item, or remove the key when its deadline has passed already."""
    if deadline and deadline <= ctx.now_ms:
        # memcached: an item stored with a past deadline is gone at once.
        txn.delete(db, key)
        return None
    extra = len(key) + len(value) - (len(key) + len(old.value) if old is not None else 0)
    if extra > 0 and txn.would_exceed(extra):
        return out_of_memory()
    txn.put(db, key, Record(type=ValueType.STRING, value=value, expires_at_ms=deadline, index=index, flags=flags))
    return None


def wants_mc_set(op: pb.Set) -> bool:
    """True when a Set carries memcached fields and must be applied by mc_set."""
    return op.flags != 0 or op.HasField("cas_index")


def mc_set(txn, db: int, op: pb.Set, ctx):
    """set/add/replace/cas with client flags; `cas_index` compares with the item's index."""
    if len(op.value) > ctx.limits.max_value_bytes:
        return CommandError("object too large for cache", Reason.VALUE_TOO_LARGE)
    old = txn.get(db, op.key, ctx.now_ms)
    if op.HasField("cas_index"):
        if old is None:
            return NOT_FOUND
        if old.index != op.cas_index:
            return EXISTS
    if op.condition == pb.IF_ABSENT and old is not None:
        return None
    if op.condition == pb.IF_PRESENT and old is None:
        return None
    current = old.expires_at_ms if old is not None else 0
    deadline = _deadline(op.expiry, ctx.now_ms, current) if op.HasField("expiry") else 0
    error = _put(txn, db, op.key, op.value, op.flags, deadline, ctx.index, ctx, old)
    return error if error is not None else OK


def mc_prepend(txn, db: int, op: pb.Append, ctx):
    """memcached append/prepend: only to an existing item; keeps its flags and deadline."""
    old = txn.get(db, op.key, ctx.now_ms)
    if old is None:
        return None
    if old.type != ValueType.STRING:
        return wrong_type()
    value = op.value + old.value if op.prepend else old.value + op.value
    if len(value) > ctx.limits.max_value_bytes:
        return CommandError("object too large for cache", Reason.VALUE_TOO_LARGE)
    error = _put(txn, db, op.key, value, old.flags, old.expires_at_ms, ctx.index, ctx, old)
    return error if error is not None else len(value)


def parse_u64(data: bytes) -> int | None:
    """A memcached counter: decimal digits, optionally space-padded, below 2**64."""
    digits = data.strip(b" ")
    if not digits or len(digits) > 20 or not digits.isdigit():
        return None
    n = int(digits)
    return n if n < _U64 else None


def mc_incr(txn, db: int, op: pb.McIncr, ctx):
    """incr wraps at 2**64, decr stops at 0; keeps the item's flags and deadline."""
    old = txn.get(db, op.key, ctx.now_ms)
    if old is None:
        return None
    if old.type != ValueType.STRING:
        return not_numeric()
    current = parse_u64(old.value)
    if current is None:
        return not_numeric()
    new = max(current - op.delta, 0) if op.decrement else (current + op.delta) % _U64
    error = _put(txn, db, op.key, str(new).encode(), old.flags, old.expires_at_ms, ctx.index, ctx, old)
    return error if error is not None else new


def get_meta(txn, db: int, op: pb.GetMeta, ctx):
    rec = txn.get(db, op.key, ctx.now_ms)
    if rec is None:
        return None
    if rec.type != ValueType.STRING:
        return wrong_type()
    return [rec.value, rec.flags, rec.index, rec.expires_at_ms]


def get_and_touch(txn, db: int, op: pb.GetAndTouch, ctx):
    """gat/gats/touch: set a new deadline (an empty Expiry means never); reply like get_meta."""
    rec = txn.get(db, op.key, ctx.now_ms)
    if rec is None:
        return None
    if rec.type != ValueType.STRING:
        return wrong_type()
    deadline = 0 if op.expiry.persist else _deadline(op.expiry, ctx.now_ms, 0)
    if deadline and deadline <= ctx.now_ms:
        txn.delete(db, op.key)
    elif deadline != rec.expires_at_ms:
        txn.put(db, op.key, Record(type=rec.type, value=rec.value, expires_at_ms=deadline, index=rec.index, flags=rec.flags))
    return [rec.value, rec.flags, rec.index, deadline]


HANDLERS = {
    "mc_incr": mc_incr,
    "get_meta": get_meta,
    "get_and_touch": get_and_touch,
}

#: What the string handlers call for memcached-flavoured Set / Append.
DELEGATES = {
    "set": mc_set,          # when wants_mc_set(op)
    "append": mc_prepend,   # when op.prepend
}
