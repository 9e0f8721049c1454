"""State-machine handlers for the memcached-specific commands.

Owns the apply-side semantics of what only the memcached front end sends:
`Set` with client flags or a CAS compare (`flags`, `cas_index`), memcached
prepend (`Append.prepend`), `McIncr`, `GetMeta` and `GetAndTouch`. Every
handler is `handler(ctx, op) -> result` with node/commands/strings.py's `Ctx` (txn,
db, now_ms, index, max_value_bytes), as the state machine dispatches;
deterministic (the only clock is `ctx.now_ms`, the only index `ctx.index`);
and returns a `CommandError` instead of raising for a semantic failure.

Must not touch: grpc, sockets, `time`, `random`, lmdb (the keyspace does).

Results (rendered by the front ends):
  mc_set        OK stored; None when an add/replace condition failed;
                Status("EXISTS") / Status("NOT_FOUND") for a failed CAS compare
  mc_prepend    the new length (int), or None when the key is missing
  mc_incr       the new value (int), or None when the key is missing
  get_meta      None, or [value, flags, cas_index, expires_at_ms (0 = never), state]
  get_and_touch None, or [value, flags, cas_index, expires_at_ms], after setting the new deadline
  meta_get      None, or [value, flags, cas_index, expires_at_ms, won, stale, win sent before]
  meta_invalidate  OK, None (no item) or Status("EXISTS") (CAS differs)

Memcached 1.6's item state (meta protocol, log semantics version 4) is
`Record.state`: ITEM_STALE (invalidated by `md I`, or stored over a newer
CAS by `ms I`) and ITEM_WIN_SENT (one client was told it won the recache:
the others get Z until the item is replaced). `meta_get` decides a win at
apply, so exactly one client of the whole cluster wins: a miss with N
(vivify: an empty item is created), a stale item, or with R a remaining TTL
below the threshold, each only while no win was sent. A set replaces the
state (a fresh item); a touch keeps it.

The item's CAS unique is `Record.index`, the log index that last changed its
value: identical on every replica, so a `gets` on one node and a `cas`
through another compare the same number. A touch changes the deadline but
not the index (memcached's touch keeps the CAS unique too).

`HANDLERS` holds the three memcached-only commands plus thin wrappers for
`set` and `append`: a Set carrying `flags` or `cas_index`, or an Append
with `prepend`, is applied here; any other goes to node/commands/strings.py's
handler unchanged. The state machine merges `{**strings.HANDLERS,
**memcache_ops.HANDLERS}` (the wrappers must win).
"""

from __future__ import annotations

from raftcache.node.commands import strings
from raftcache.node.commands import OK, Status
from raftcache.node.errors import CommandError, Reason, wrong_type
from raftcache.node.storage.keyspace import ITEM_STALE, ITEM_WIN_SENT, Record, ValueType
from raftcache.proto import commands_pb2 as pb

EXISTS = Status("EXISTS")
NOT_FOUND = Status("NOT_FOUND")
_U64 = 1 << 64


def _record(value: bytes, deadline: int, index: int, flags: int, vtype: ValueType = ValueType.STRING,
            state: int = 0) -> Record:
    return Record(type=vtype, value=value, expires_at_ms=deadline, index=index, flags=flags, state=state)


def not_numeric() -> CommandError:
    return CommandError("cannot increment or decrement non-numeric value", Reason.NOT_INTEGER)


def _too_large() -> CommandError:
    return CommandError("object too large for cache", Reason.VALUE_TOO_LARGE)


def _deadline(expiry: pb.Expiry, now_ms: int, current_ms: int) -> int:
    """The absolute deadline an Expiry asks for (0 = never; memcached accepts past deadlines).

    The leader stamps `ttl_ms` into `expire_at_ms` before proposing; a
    `ttl_ms` that reaches apply anyway is resolved against the entry's clock,
    which is the same on every replica.
    """
    if expiry.persist:
        return 0
    if expiry.HasField("expire_at_ms"):
        return max(expiry.expire_at_ms, 1) if expiry.expire_at_ms != 0 else 0
    if expiry.HasField("ttl_ms"):
        return max(now_ms + expiry.ttl_ms, 1)
    if expiry.keep_ttl:
        return current_ms
    return 0


def _put(ctx, key: bytes, value: bytes, flags: int, deadline: int, index: int, state: int = 0) -> None:
    """Store a string item, or remove the key when its deadline has passed already."""
    if deadline and deadline <= ctx.now_ms:
        ctx.txn.delete(ctx.db, key)     # memcached: an item stored with a past deadline is gone at once
    else:
        ctx.txn.put(ctx.db, key, _record(value, deadline, index, flags, state=state))


def wants_mc_set(op: pb.Set) -> bool:
    """True when a Set carries memcached fields and must be applied by mc_set."""
    return op.flags != 0 or op.HasField("cas_index") or op.stale_if_older


def mc_set(ctx, op: pb.Set):
    """set/add/replace/cas with client flags; `cas_index` compares with the item's index."""
    if len(op.value) > ctx.max_value_bytes:
        return _too_large()
    old = ctx.txn.get(ctx.db, op.key, ctx.now_ms)
    if op.HasField("cas_index"):
        if old is None:
            return NOT_FOUND
        if old.index != op.cas_index:
            if not (op.stale_if_older and op.cas_index < old.index and old.type == ValueType.STRING):
                return EXISTS
            # ms I: an older CAS still stores, marked stale, keeping the TTL and a win already sent
            _put(ctx, op.key, op.value, op.flags, old.expires_at_ms, ctx.index, ITEM_STALE | old.state & ITEM_WIN_SENT)
            return OK
    if op.condition == pb.IF_ABSENT and old is not None:
        return None
    if op.condition == pb.IF_PRESENT and old is None:
        return None
    current = old.expires_at_ms if old is not None else 0
    _put(ctx, op.key, op.value, op.flags, _deadline(op.expiry, ctx.now_ms, current), ctx.index)
    return OK


def mc_prepend(ctx, op: pb.Append):
    """memcached prepend: only to an existing item; keeps its flags and deadline. Reply: new length or None."""
    old = ctx.txn.get(ctx.db, op.key, ctx.now_ms)
    if old is None:
        return None
    if old.type != ValueType.STRING:
        return wrong_type()
    value = op.value + old.value
    if len(value) > ctx.max_value_bytes:
        return _too_large()
    _put(ctx, op.key, value, old.flags, old.expires_at_ms, ctx.index)
    return len(value)


def parse_u64(data: bytes) -> int | None:
    """A memcached counter: decimal digits, optionally space-padded, below 2**64."""
    digits = data.strip(b" ")
    if not digits or len(digits) > 20 or not digits.isdigit():
        return None
    n = int(digits)
    return n if n < _U64 else None


def mc_incr(ctx, op: pb.McIncr):
    """incr wraps at 2**64, decr stops at 0; keeps the item's flags and deadline."""
    old = ctx.txn.get(ctx.db, op.key, ctx.now_ms)
    if old is None:
        return None
    current = parse_u64(old.value) if old.type == ValueType.STRING else None
    if current is None:
        return not_numeric()
    new = max(current - op.delta, 0) if op.decrement else (current + op.delta) % _U64
    _put(ctx, op.key, b"%d" % new, old.flags, old.expires_at_ms, ctx.index)
    return new


def get_meta(ctx, op: pb.GetMeta):
    """Reply: None, or [value, flags, cas_index, expires_at_ms, state]."""
    rec = ctx.txn.get(ctx.db, op.key, ctx.now_ms)
    if rec is None:
        return None
    if rec.type != ValueType.STRING:
        return wrong_type()
    return [rec.value, rec.flags, rec.index, rec.expires_at_ms, rec.state]


def get_and_touch(ctx, op: pb.GetAndTouch):
    """gat/gats/touch: set a new deadline (persist or an empty Expiry: never); reply like get_meta."""
    rec = ctx.txn.get(ctx.db, op.key, ctx.now_ms)
    if rec is None:
        return None
    if rec.type != ValueType.STRING:
        return wrong_type()
    deadline = _deadline(op.expiry, ctx.now_ms, 0)
    if deadline and deadline <= ctx.now_ms:
        ctx.txn.delete(ctx.db, op.key)
    elif deadline != rec.expires_at_ms:
        # The index (CAS unique) and the item state stay: memcached's touch changes neither.
        ctx.txn.put(ctx.db, op.key, rec._replace(expires_at_ms=deadline))
    return [rec.value, rec.flags, rec.index, deadline]


def meta_get(ctx, op: pb.MetaGet):
    """mg with N / R / T: [value, flags, cas, deadline, won, stale, win sent before], or None on a
    miss without N. A win marks the item ITEM_WIN_SENT (its CAS unique unchanged)."""
    rec = ctx.txn.get(ctx.db, op.key, ctx.now_ms)
    if rec is None:
        if not op.HasField("vivify_ttl_ms"):
            return None
        ttl = op.vivify_ttl_ms
        deadline = 0 if ttl == 0 else max(ctx.now_ms + ttl, 1)
        _put(ctx, op.key, b"", 0, deadline, ctx.index, ITEM_WIN_SENT)
        return [b"", 0, ctx.index, deadline, 1, 0, 0]
    if rec.type != ValueType.STRING:
        return wrong_type()
    sent_before = rec.state & ITEM_WIN_SENT
    won = not sent_before and (
        rec.state & ITEM_STALE
        or (op.HasField("recache_below_ms") and rec.expires_at_ms != 0
            and rec.expires_at_ms - ctx.now_ms < op.recache_below_ms))
    deadline = _deadline(op.expiry, ctx.now_ms, rec.expires_at_ms) if op.HasField("expiry") else rec.expires_at_ms
    state = rec.state | ITEM_WIN_SENT if won else rec.state
    if deadline and deadline <= ctx.now_ms:
        ctx.txn.delete(ctx.db, op.key)
    elif state != rec.state or deadline != rec.expires_at_ms:
        ctx.txn.put(ctx.db, op.key, rec._replace(expires_at_ms=deadline, state=state))
    return [rec.value, rec.flags, rec.index, deadline, int(won), int(bool(rec.state & ITEM_STALE)),
            int(bool(sent_before))]


def meta_invalidate(ctx, op: pb.MetaInvalidate):
    """md I: mark the item stale with a new CAS unique (its index), clearing a win sent; T sets its deadline."""
    rec = ctx.txn.get(ctx.db, op.key, ctx.now_ms)
    if rec is None:
        return None
    if rec.type != ValueType.STRING:
        return wrong_type()
    if op.HasField("cas_index") and op.cas_index != rec.index:
        return EXISTS
    deadline = _deadline(op.expiry, ctx.now_ms, rec.expires_at_ms) if op.HasField("expiry") else rec.expires_at_ms
    _put(ctx, op.key, rec.value, rec.flags, deadline, ctx.index, ITEM_STALE)
    return OK


_STRING_SET = strings.HANDLERS["set"]
_STRING_APPEND = strings.HANDLERS["append"]


def set_(ctx, op: pb.Set):
    return mc_set(ctx, op) if wants_mc_set(op) else _STRING_SET(ctx, op)


def append(ctx, op: pb.Append):
    return mc_prepend(ctx, op) if op.prepend else _STRING_APPEND(ctx, op)


HANDLERS = {
    "mc_incr": mc_incr,
    "get_meta": get_meta,
    "get_and_touch": get_and_touch,
    "meta_get": meta_get,
    "meta_invalidate": meta_invalidate,
    "set": set_,          # wrapper: memcached fields here, the rest to strings
    "append": append,     # wrapper: prepend here, the rest to strings
}
