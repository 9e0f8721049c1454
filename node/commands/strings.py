"""Command handlers for strings and generic key commands, with Redis's semantics.

Each handler is `handler(ctx, op) -> result`, `ctx` a `Ctx`: the transaction
(a ReadTxn for local reads, the apply's WriteTxn), the database, the log's
clock `now_ms`, the log `index` stamped on written records (0 for reads), the
entry's `seed` and the limits. Every handler family (hashes, lists, sets,
zsets, memcache_ops, transactions) uses this convention. Handlers
return results or a `CommandError` *value*; they never raise for a semantic
failure and validate before they write (the state machine also rolls back
the writes of a command that ends in an error). `HANDLERS` maps
`Command.WhichOneof("op")` to them.

Must not touch: clocks, randomness, lmdb, grpc, Raft. The only clock is
`ctx.now_ms`; deadlines arrive absolute in the log entry.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

from raftcache.node.storage import containers
from raftcache.node.commands import OK, WATCH_NOOPS_VERSION, WATCH_VERSION, Status
from raftcache.node.errors import CommandError, Reason, not_float, not_integer, overflow, syntax_error, wrong_type
from raftcache.node.config import KeyspaceConfig
from raftcache.node.storage.keyspace import ReadTxn, Record, ValueType, record_bytes
from raftcache.proto import commands_pb2 as pb

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_TYPE_NAMES = {ValueType.STRING: "string", ValueType.HASH: "hash", ValueType.LIST: "list",
               ValueType.SET: "set", ValueType.ZSET: "zset", ValueType.STREAM: "stream"}
_TYPES_BY_NAME = {name: vtype for vtype, name in _TYPE_NAMES.items()}
# Redis's string2ll(): optional '-', no '+', no spaces, no leading zeros, not "-0".
_INTEGER = re.compile(rb"-?[1-9][0-9]{0,19}|0")


@dataclass(slots=True)
class Ctx:
    """Everything a handler may know besides its op."""

    txn: ReadTxn            # a WriteTxn when the command is applied from the log
    db: int
    now_ms: int             # the log entry's clock (the reader's, for local reads)
    index: int              # log index stamped on written records (0 for reads)
    max_value_bytes: int
    seed: int = 0           # the entry's seed: random.Random(seed) for any random choice
    databases: int = 0      # number of databases (0: unknown)
    limits: KeyspaceConfig | None = None   # the whole limits config (docs/interfaces.md's ApplyContext.limits)
    handlers: dict | None = None           # the merged dispatch table (a transaction runs its commands through it)
    events: list | None = None             # what this apply publishes (PUBLISH; StateMachine.on_events)
    room: object | None = None             # apply: the log entry's eviction candidates (node/commands/eviction.Room)
    eviction: int = 0                      # apply: what the command may evict (Command.eviction)
    access: object | None = None           # reads only: the serving node's access table (OBJECT IDLETIME/FREQ)
    settings: dict | None = None           # the replicated CONFIG SET values (node/config), same on every replica
    version: int = 1                       # apply: the entry's log semantics version (WATCH_VERSION changes WATCH)
    script_stats: object | None = None     # what scripts did on this node (commands/scripting.ScriptStats)

    def using(self, db: int, seed: int) -> Ctx:
        """This context for a command of database `db` drawing from `seed` (a queued command of a
        transaction, a script's command): dataclasses.replace's result, at a sixth of its cost."""
        return Ctx(self.txn, db, self.now_ms, self.index, self.max_value_bytes, seed, self.databases, self.limits,
                   self.handlers, self.events, self.room, self.eviction, self.access, self.settings, self.version,
                   self.script_stats)


# ---------------------------------------------------------------- helpers

def _invalid_expire(command: str) -> CommandError:
    return CommandError(f"invalid expire time in '{command}' command", Reason.INVALID_EXPIRE)


def _too_large() -> CommandError:
    return CommandError("string exceeds maximum allowed size (proto-max-bulk-len)", Reason.VALUE_TOO_LARGE)


def _has_deadline(expiry: pb.Expiry) -> bool:
    return expiry.HasField("ttl_ms") or expiry.HasField("expire_at_ms")


def _deadline(expiry: pb.Expiry, now_ms: int, command: str, positive: bool) -> int | CommandError:
    """The absolute deadline an Expiry names; `expire_at_ms` wins when both are set.

    The leader normally converted `ttl_ms` already; a `ttl_ms` still present is
    relative to the entry's clock. `positive`: SET/GETEX refuse a non-positive
    time, the EXPIRE family accepts it (the key is deleted).
    """
    if expiry.HasField("expire_at_ms"):
        value, deadline = expiry.expire_at_ms, expiry.expire_at_ms
    else:
        value, deadline = expiry.ttl_ms, now_ms + expiry.ttl_ms
    if (positive and value <= 0) or not _INT64_MIN <= deadline <= _INT64_MAX:
        return _invalid_expire(command)
    return deadline


def _expired(deadline: int, now_ms: int) -> bool:
    return deadline != 0 and (deadline <= now_ms or deadline < 0)


def _live(txn, db: int, ctx, key: bytes) -> Record | None:
    return txn.get(db, key, ctx.now_ms)


def _string(txn, db: int, ctx, key: bytes) -> Record | None | CommandError:
    record = _live(txn, db, ctx, key)
    if record is not None and record.type != ValueType.STRING:
        return wrong_type()
    return record


def _store(txn, db: int, ctx, key: bytes, value: bytes, deadline: int, vtype: ValueType = ValueType.STRING,
           index: int | None = None, flags: int = 0) -> None:
    """Write a value; a deadline already passed means written then expired: deleted (from log
    version 27, on an absent key, recorded as created and gone: Redis stores it expired, and a
    WATCH of it fails)."""
    if _expired(deadline, ctx.now_ms):
        if not txn.delete(db, key) and ctx.version >= WATCH_NOOPS_VERSION:
            txn.count_write(db, key)
            txn.note_gone_at(db, key, ctx.index)
    else:
        txn.put(db, key, Record(vtype, value, deadline, ctx.index if index is None else index, flags))


def _retime(txn, db: int, ctx, key: bytes, record: Record, deadline: int) -> None:
    """Change only the expiry: value and flags stay. Before log version 6 the CAS index
    stayed too (as memcached's touch); from it EXPIRE, PERSIST and GETEX's expiry are a
    change of the key a WATCH sees, as in Redis."""
    index = record.index if ctx.version < WATCH_VERSION else ctx.index
    _store(txn, db, ctx, key, record.value, deadline, record.type, index, record.flags)


def _keep(record: Record | None) -> tuple:
    """(deadline, type, index, flags) for an in-place edit: TTL and flags stay, index is the writer's."""
    if record is None:
        return 0, ValueType.STRING, None, 0
    return record.expires_at_ms, ValueType.STRING, None, record.flags


def parse_int(value: bytes) -> int | None:
    """An int64 in Redis's strict decimal form, or None."""
    if not _INTEGER.fullmatch(value):
        return None
    n = int(value)
    return n if _INT64_MIN <= n <= _INT64_MAX else None


# ---------------------------------------------------------------- strings

def get(ctx: Ctx, op: pb.Get):
    return string_value(ctx.txn, ctx.db, op.key, ctx.now_ms)


def string_value(txn, db: int, key: bytes, now_ms: int) -> bytes | None | CommandError:
    """GET's answer: the string at `key`, None when absent or expired, or WRONGTYPE."""
    record = txn.get(db, key, now_ms)
    if record is None:
        return None
    if record.type != ValueType.STRING:
        return wrong_type()
    return record.value


def as_string_values(found: list) -> list:
    """`string_value` of keys from their lookups (Keyspace.string_values: bytes, None, or the
    type a key holds instead), in place: the GET fast paths'."""
    for i, value in enumerate(found):
        if value is not None and type(value) is not bytes:
            found[i] = wrong_type()
    return found


def set_(ctx: Ctx, op: pb.Set):
    txn, db = ctx.txn, ctx.db
    expiry = op.expiry
    deadline = 0
    if expiry.persist or (expiry.keep_ttl and _has_deadline(expiry)):
        return syntax_error()
    if _has_deadline(expiry):
        deadline = _deadline(expiry, ctx.now_ms, "set", positive=True)
        if isinstance(deadline, CommandError):
            return deadline
    if not op.get and not op.condition and not expiry.keep_ttl:
        _store(txn, db, ctx, op.key, op.value, deadline)  # a plain SET replaces whatever is there
        return OK
    old = _live(txn, db, ctx, op.key)
    if op.get and old is not None and old.type != ValueType.STRING:
        return wrong_type()
    reply = (old.value if old is not None else None) if op.get else OK
    if op.condition == pb.IF_ABSENT and old is not None:
        return reply if op.get else None
    if op.condition == pb.IF_PRESENT and old is None:
        return None
    if expiry.keep_ttl and old is not None:
        deadline = old.expires_at_ms
    _store(txn, db, ctx, op.key, op.value, deadline)
    return reply


def _no_option_but_expiry(command: pb.Command, op: pb.Set) -> bool:
    return not (op.condition or op.get or op.flags or op.stale_if_older or command.asking or op.HasField("cas_index"))


def is_plain_set(command: pb.Command) -> bool:
    """Whether `command` is `SET key value` with no option (what a RESP client's plain SET
    builds, and a follower forwards of it): a leader may propose it as GroupCommit.propose_plain_set
    does, with nothing to stamp."""
    if command.WhichOneof("op") != "set":
        return False
    op = command.set
    return _no_option_but_expiry(command, op) and not op.HasField("expiry")


def plain_set_deadline(txn, command: pb.Command, now_ms: int, limits: KeyspaceConfig) -> int | None:
    """The deadline (0: none) of `command`, a SET, when `set_` under the state machine's quota
    wrapper would just write it (store_plain_set), nothing able to refuse or undo it: no option
    but a stamped deadline still ahead (EX/PX/EXAT/PXAT), the database known, key and value
    within the limits, and room under maxmemory for the whole record whatever it replaces.
    None for any other SET: the caller applies it as any command (StateMachine._apply_plain_set)."""
    op = command.set
    if not _no_option_but_expiry(command, op):
        return None
    deadline = 0
    if op.HasField("expiry"):
        expiry = op.expiry
        if expiry.keep_ttl or expiry.persist or not expiry.HasField("expire_at_ms"):   # (it wins over ttl_ms)
            return None
        deadline = expiry.expire_at_ms
        if deadline <= now_ms or deadline <= 0:   # refused, or written expired (deleted): as any command
            return None
    return deadline if plain_set_fits(txn, command.db, op.key, op.value, limits) else None


def plain_set_fits(txn, db: int, key: bytes, value: bytes, limits: KeyspaceConfig) -> bool:
    """Whether `SET key value` on `db` is within the limits (the database known, key and value
    sizes) with room under maxmemory for the whole record whatever it replaces: then nothing
    can refuse or undo it (plain_set_deadline's last check, a SetBatch's SETs' only one)."""
    return db < limits.databases and len(key) <= limits.max_key_bytes and len(value) <= limits.max_value_bytes \
        and not txn.would_exceed(record_bytes(key, len(value)))


def store_plain_set(txn, db: int, key: bytes, value: bytes, deadline: int, index: int) -> Status:
    """Write a plain SET (plain_set_deadline or plain_set_fits passed it), as `set_` writes it."""
    txn.put(db, key, Record(ValueType.STRING, value, deadline, index, 0))
    return OK


def get_del(ctx: Ctx, op: pb.GetDel):
    txn, db = ctx.txn, ctx.db
    record = _string(txn, db, ctx, op.key)
    if not isinstance(record, Record):
        return record
    txn.delete(db, op.key)
    return record.value


def get_ex(ctx: Ctx, op: pb.GetEx):
    txn, db = ctx.txn, ctx.db
    expiry = op.expiry
    if expiry.keep_ttl or (expiry.persist and _has_deadline(expiry)):
        return syntax_error()
    deadline = None
    if _has_deadline(expiry):
        deadline = _deadline(expiry, ctx.now_ms, "getex", positive=True)
        if isinstance(deadline, CommandError):
            return deadline
    record = _string(txn, db, ctx, op.key)
    if not isinstance(record, Record):
        return record
    if deadline is not None:
        _retime(txn, db, ctx, op.key, record, deadline)
    elif expiry.persist and record.expires_at_ms:
        _retime(txn, db, ctx, op.key, record, 0)
    return record.value


def incr_by(ctx: Ctx, op: pb.IncrBy):
    txn, db = ctx.txn, ctx.db
    record = _string(txn, db, ctx, op.key)
    if isinstance(record, CommandError):
        return record
    current = 0 if record is None else parse_int(record.value)
    if current is None:
        return not_integer()
    result = current + op.delta
    if not _INT64_MIN <= result <= _INT64_MAX:
        return overflow()
    _store(txn, db, ctx, op.key, str(result).encode(), *_keep(record))
    return result


def incr_by_float(ctx: Ctx, op: pb.IncrByFloat):
    txn, db = ctx.txn, ctx.db
    record = _string(txn, db, ctx, op.key)
    if isinstance(record, CommandError):
        return record
    if math.isnan(op.delta):
        return not_float()
    text = containers.incr_float_text(b"0" if record is None else record.value, op.delta, not_float())
    if isinstance(text, CommandError):
        return text
    _store(txn, db, ctx, op.key, text, *_keep(record))
    return text


def append(ctx: Ctx, op: pb.Append):
    txn, db = ctx.txn, ctx.db
    record = _string(txn, db, ctx, op.key)
    if isinstance(record, CommandError):
        return record
    old = b"" if record is None else record.value
    if len(old) + len(op.value) > ctx.max_value_bytes:
        return _too_large()
    _store(txn, db, ctx, op.key, old + op.value, *_keep(record))
    return len(old) + len(op.value)


def str_len(ctx: Ctx, op: pb.StrLen):
    txn, db = ctx.txn, ctx.db
    record = _string(txn, db, ctx, op.key)
    if isinstance(record, CommandError):
        return record
    return 0 if record is None else len(record.value)


def get_range(ctx: Ctx, op: pb.GetRange):
    txn, db = ctx.txn, ctx.db
    record = _string(txn, db, ctx, op.key)
    if not isinstance(record, Record):
        return b"" if record is None else record
    value, start, end = record.value, op.start, op.end
    n = len(value)
    if start < 0 and end < 0 and start > end:
        return b""
    if start < 0:
        start = max(n + start, 0)
    if end < 0:
        end = max(n + end, 0)
    end = min(end, n - 1)
    if n == 0 or start > end:
        return b""
    return value[start:end + 1]


def set_range(ctx: Ctx, op: pb.SetRange):
    txn, db = ctx.txn, ctx.db
    record = _string(txn, db, ctx, op.key)
    if isinstance(record, CommandError):
        return record
    if op.offset < 0:
        return CommandError("offset is out of range", Reason.INVALID_ARGUMENT)
    old = b"" if record is None else record.value
    if not op.value:
        return len(old)
    if op.offset + len(op.value) > ctx.max_value_bytes:
        return _too_large()
    new = bytearray(old)   # one copy of the string, edited in place
    end = op.offset + len(op.value)
    if end > len(new):
        new.extend(bytes(end - len(new)))
    new[op.offset:end] = op.value
    _store(txn, db, ctx, op.key, new, *_keep(record))
    return len(new)


def mset(ctx: Ctx, op: pb.MSet):
    txn, db = ctx.txn, ctx.db
    for pair in op.pairs:
        _store(txn, db, ctx, pair.key, pair.value, 0)
    return OK


def mset_nx(ctx: Ctx, op: pb.MSetNx):
    txn, db = ctx.txn, ctx.db
    if any(_live(txn, db, ctx, pair.key) is not None for pair in op.pairs):
        return 0
    for pair in op.pairs:
        _store(txn, db, ctx, pair.key, pair.value, 0)
    return 1


def mget(ctx: Ctx, op: pb.MGet):
    txn, db = ctx.txn, ctx.db
    out = []
    for key in op.keys:
        record = _live(txn, db, ctx, key)
        out.append(record.value if record is not None and record.type == ValueType.STRING else None)
    return out


# ---------------------------------------------------------------- keys

def del_(ctx: Ctx, op: pb.Del):
    txn, db = ctx.txn, ctx.db
    deleted = 0
    for key in op.keys:
        live = _live(txn, db, ctx, key) is not None
        # An expired key is removed too (lazily, deterministically) but not counted.
        if txn.delete(db, key) and live:
            deleted += 1
    return deleted


def exists(ctx: Ctx, op: pb.Exists):
    txn, db = ctx.txn, ctx.db
    return sum(1 for key in op.keys if _live(txn, db, ctx, key) is not None)


def expire(ctx: Ctx, op: pb.Expire):
    txn, db = ctx.txn, ctx.db
    expiry = op.expiry
    if not _has_deadline(expiry) or expiry.keep_ttl or expiry.persist:
        return syntax_error()
    deadline = _deadline(expiry, ctx.now_ms, "expire", positive=False)
    if isinstance(deadline, CommandError):
        return deadline
    record = _live(txn, db, ctx, op.key)
    if record is None:
        return 0
    current = record.expires_at_ms            # 0: no expiry, i.e. infinite for GT/LT
    condition = op.condition
    if ((condition == pb.EXPIRE_NX and current)
            or (condition == pb.EXPIRE_XX and not current)
            or (condition == pb.EXPIRE_GT and (not current or deadline <= current))
            or (condition == pb.EXPIRE_LT and current and deadline >= current)
            or (condition == pb.EXPIRE_LT_XX and (not current or deadline >= current))):
        return 0
    if deadline <= 0 or deadline <= ctx.now_ms:
        txn.delete(db, op.key)
    else:
        _retime(txn, db, ctx, op.key, record, deadline)
    return 1


def persist(ctx: Ctx, op: pb.Persist):
    txn, db = ctx.txn, ctx.db
    record = _live(txn, db, ctx, op.key)
    if record is None or not record.expires_at_ms:
        return 0
    _retime(txn, db, ctx, op.key, record, 0)
    return 1


def ttl(ctx: Ctx, op: pb.Ttl):
    txn, db = ctx.txn, ctx.db
    record = _live(txn, db, ctx, op.key)
    if record is None:
        return -2
    if not record.expires_at_ms:
        return -1
    ms = record.expires_at_ms if op.absolute else max(record.expires_at_ms - ctx.now_ms, 0)
    return ms if op.millis else (ms + 500) // 1000


def type_(ctx: Ctx, op: pb.Type):
    txn, db = ctx.txn, ctx.db
    record = _live(txn, db, ctx, op.key)
    return Status("none" if record is None else _TYPE_NAMES[record.type])


def rename(ctx: Ctx, op: pb.Rename):
    txn, db = ctx.txn, ctx.db
    record = _live(txn, db, ctx, op.key)
    if record is None:
        return CommandError("no such key", Reason.NO_SUCH_KEY)
    if op.key == op.new_key:
        return 0 if op.if_absent else OK
    if op.if_absent and _live(txn, db, ctx, op.new_key) is not None:
        return 0
    txn.delete(db, op.key, keep_items=True)  # a large container's elements move with its record
    txn.put(db, op.new_key, record._replace(index=ctx.index))
    return 1 if op.if_absent else OK


def scan(ctx: Ctx, op: pb.Scan):
    txn, db = ctx.txn, ctx.db
    """Redis's reply shape: [cursor as a decimal bulk string, [keys]]."""
    vtype = None
    if op.type:
        vtype = _TYPES_BY_NAME.get(op.type.lower(), -1)
    # An unknown TYPE matches nothing but the cursor still advances (Redis 6/7).
    cursor, keys = txn.scan(db, op.cursor, op.count or 10, ctx.now_ms, op.match,
                                None if vtype == -1 else vtype)
    return [str(cursor).encode(), [] if vtype == -1 else keys]


def db_size(ctx: Ctx, op: pb.DbSize):
    txn, db = ctx.txn, ctx.db
    return txn.db_size(db)


def flush_all(ctx: Ctx, op: pb.FlushAll):
    ctx.txn.flush_all()
    return OK


def flush_db(ctx: Ctx, op: pb.FlushDb):
    txn, db = ctx.txn, ctx.db
    txn.flush_db(db)
    return OK


def delete_expired(ctx: Ctx, op: pb.DeleteExpired):
    txn, db = ctx.txn, ctx.db
    deleted = 0
    for key in op.keys:
        record = txn.get_raw(db, key)
        if record is not None and _expired(record.expires_at_ms, ctx.now_ms):
            deleted += txn.delete(db, key)
    return deleted


def noop(ctx: Ctx, op: pb.Noop):
    return OK


#: Command.WhichOneof("op") -> handler, for the string and generic key commands.
HANDLERS: dict[str, Callable[[Ctx, object], object]] = {
    "noop": noop, "get": get, "set": set_, "get_del": get_del, "get_ex": get_ex, "del": del_,
    "exists": exists, "incr_by": incr_by, "incr_by_float": incr_by_float, "append": append,
    "str_len": str_len, "get_range": get_range, "set_range": set_range, "mset": mset,
    "mset_nx": mset_nx, "mget": mget, "expire": expire, "persist": persist, "ttl": ttl,
    "type": type_, "rename": rename, "scan": scan, "db_size": db_size, "flush_all": flush_all,
    "flush_db": flush_db, "delete_expired": delete_expired,
}
