"""The RESP command table: name -> arity, flags, key positions, and a parser
from RESP arguments to a raftcache `Command` (plus how to shape its result).

Owns argument validation with Redis's exact error texts. It must not run
anything: resp.py executes what this module builds. Data-type commands
(hashes, lists, sets, sorted sets) are parsed in resp_types.py, which
registers into the same TABLE.

A builder is `build(args: list[bytes], db: int) -> Command`, where args[0]
is the command name; it raises RespError for bad arguments. A shaper is
`shape(result, proto: int) -> reply value` (see resp_protocol.encode).
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from collections.abc import Callable

from raftcache.node.commands import OK, Status
from raftcache.node.frontends.resp_protocol import NULL_ARRAY, RespError
from raftcache.proto import commands_pb2 as pb

NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
SYNTAX = "ERR syntax error"
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1
#: A relative TTL becomes absolute on the leader (its clock + ttl, an int64). Redis refuses a
#: TTL whose deadline would overflow; we refuse it here, with a day of margin for the leader's
#: clock being ahead of this node's (no real TTL comes near: the limit is ~292 million years).
_CLOCK_MARGIN_MS = 86_400_000


def _relative_ms_limit() -> int:
    return _I64_MAX - int(time.time() * 1000) - _CLOCK_MARGIN_MS


@dataclasses.dataclass(frozen=True, slots=True)
class Spec:
    """One command: Redis arity (negative = at least), flags, keys, and how to run it."""

    name: str
    arity: int
    flags: tuple[str, ...]
    first_key: int = 1
    last_key: int = 1
    step: int = 1
    build: Callable | None = None       # None: a connection/server command resp.py runs itself
    shape: Callable | None = None       # None: the result is the reply
    group: str = "generic"


TABLE: dict[bytes, Spec] = {}


def register(name: str, arity: int, flags: str, build=None, shape=None, keys=(1, 1, 1), group="generic") -> None:
    TABLE[name.encode()] = Spec(name, arity, tuple(flags.split()), keys[0], keys[1], keys[2], build, shape, group)


# ---------------------------------------------------------------- argument helpers


def to_int(arg: bytes) -> int:
    """Redis's string2ll: a strict 64-bit decimal or the not-an-integer error."""
    if arg and len(arg) <= 20 and (arg.isdigit() or (arg[:1] == b"-" and arg[1:].isdigit())):
        if not ((arg[:1] == b"0" and len(arg) > 1) or arg[:2] == b"-0"):
            n = int(arg)
            if _I64_MIN <= n <= _I64_MAX:
                return n
    raise RespError(NOT_INTEGER)


# What strtod() reads, whole: decimal, hex (0x1p-2) and inf/infinity; NaN is refused after.
# Python's float() is not used alone: it also takes "1_0", "nan" and surrounding spaces.
_STRTOD = re.compile(rb"[+-]?(?:(?P<dec>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)|inf(?:inity)?"
                     rb"|0[xX](?P<hex>(?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?))",
                     re.IGNORECASE)
_C_SPACE = b" \t\n\v\f\r"


def parse_double(arg: bytes, *, erange_ok: bool = False) -> float | None:
    """Redis's getDoubleFromObject: the whole argument as strtod() reads it, no leading
    space, not NaN; out of a double's range (strtod's ERANGE to ±inf or to 0) is refused
    unless `erange_ok` (then it is ±inf or 0, as strtod returns it). None when invalid."""
    m = _STRTOD.fullmatch(arg)
    if m is None:
        return None
    if m["hex"] is not None:
        sign = -1.0 if arg[:1] == b"-" else 1.0
        try:
            f = sign * float.fromhex(m["hex"].decode())
        except OverflowError:
            f = sign * math.inf
        mantissa = m["hex"].split(b"p")[0].split(b"P")[0]
    else:
        f = float(arg)
        mantissa = (m["dec"] or b"").split(b"e")[0].split(b"E")[0]
    if not erange_ok:
        if math.isinf(f) and m["dec"] is None and m["hex"] is None:
            pass  # "inf" written out: not a range error
        elif math.isinf(f) or (f == 0.0 and mantissa.strip(b"0.")):
            return None
    return f


def to_float(arg: bytes, error: str = NOT_FLOAT, *, erange_ok: bool = False) -> float:
    f = parse_double(arg, erange_ok=erange_ok)
    if f is None:
        raise RespError(error)
    return f


def to_score_bound(arg: bytes) -> float:
    """A ZRANGEBYSCORE/ZCOUNT bound without its "(": Redis's zslParseRange calls strtod()
    bare, so leading space is skipped, an empty bound is 0 and range errors are ±inf/0."""
    text = arg.lstrip(_C_SPACE)
    if not text:
        return 0.0
    f = parse_double(text, erange_ok=True)
    if f is None:
        raise RespError("ERR min or max is not a float")
    return f


def non_negative(arg: bytes, error: str) -> int:
    """A non-negative integer, or `error` for anything else (Redis gives one text for both)."""
    try:
        n = to_int(arg)
    except RespError:
        n = -1
    if n < 0:
        raise RespError(error)
    return n


def positive_count(arg: bytes) -> int:
    """Redis's getPositiveLongFromObjectOrReply with a message: one text for any bad count."""
    return non_negative(arg, "ERR value is out of range, must be positive")


def pop_with_count(name: str, too_many, **fields):
    """A builder for `POP-like key [count]`: `name` with `fields`, the optional count
    checked by positive_count; more arguments raise too_many(args) (LPOP: wrong number
    of arguments, ZPOPMIN: syntax error, as Redis)."""
    def build(args, db):
        if len(args) > 3:
            raise too_many(args)
        command = cmd(db, name, key=args[1], **fields)
        if len(args) == 3:
            getattr(command, name).count = positive_count(args[2])
        return command

    return build


def upper(arg: bytes) -> bytes:
    return arg.upper()


def cmd(db: int, name: str, **fields) -> pb.Command:
    command = pb.Command(db=db)
    getattr(command, name).SetInParent()
    op = getattr(command, name)
    for k, v in fields.items():
        if isinstance(v, list):
            getattr(op, k).extend(v)
        else:
            setattr(op, k, v)
    return command


# ---------------------------------------------------------------- shapers


def as_ok(result, proto, command=None):
    return OK if isinstance(result, int) else result


def ok_to_int(result, proto, command=None):
    return 1 if isinstance(result, Status) or result is True else (0 if result is None else result)


def as_bulk_float(result, proto, command=None):
    if isinstance(result, float):
        from raftcache.node.frontends.resp_protocol import format_double

        return format_double(result)
    return result


def as_status(result, proto, command=None):
    if isinstance(result, (bytes, str)) and not isinstance(result, Status):
        return Status(result.decode() if isinstance(result, bytes) else result)
    return result


def as_scan(result, proto, command=None):
    if isinstance(result, (list, tuple)) and len(result) == 2:
        cursor, items = result
        if isinstance(cursor, int):
            cursor = b"%d" % cursor
        return [cursor, list(items)]
    return result


def nil_array_if_none(result, proto, command=None):
    return NULL_ARRAY if result is None else result


# ---------------------------------------------------------------- strings and keys


def _expiry_ms(arg: bytes, unit_ms: int, command: str, relative: bool = False) -> int:
    n = to_int(arg)
    if n <= 0 or n > _I64_MAX // unit_ms or (relative and n * unit_ms > _relative_ms_limit()):
        raise RespError(f"ERR invalid expire time in '{command}' command")
    return n * unit_ms


def _parse_expiry(args, i: int, expiry: pb.Expiry, command: str, allow_persist=False, allow_keepttl=False) -> int:
    """Parse one EX/PX/EXAT/PXAT/KEEPTTL/PERSIST option at args[i]; returns the next index or -1."""
    opt = args[i].upper()
    if opt in (b"EX", b"PX", b"EXAT", b"PXAT"):
        if i + 1 >= len(args):
            raise RespError(SYNTAX)
        ms = _expiry_ms(args[i + 1], 1000 if opt in (b"EX", b"EXAT") else 1, command, relative=opt in (b"EX", b"PX"))
        if opt in (b"EX", b"PX"):
            expiry.ttl_ms = ms
        else:
            expiry.expire_at_ms = ms
        return i + 2
    if opt == b"KEEPTTL" and allow_keepttl:
        expiry.keep_ttl = True
        return i + 1
    if opt == b"PERSIST" and allow_persist:
        expiry.persist = True
        return i + 1
    return -1


def build_set(args, db):
    op = pb.Set(key=args[1], value=args[2])
    i, seen_expiry, n = 3, False, len(args)
    while i < n:
        opt = args[i].upper()
        if opt == b"NX" and op.condition != pb.IF_PRESENT:
            op.condition = pb.IF_ABSENT
            i += 1
        elif opt == b"XX" and op.condition != pb.IF_ABSENT:
            op.condition = pb.IF_PRESENT
            i += 1
        elif opt == b"GET":
            op.get = True
            i += 1
        elif not seen_expiry and opt in (b"EX", b"PX", b"EXAT", b"PXAT", b"KEEPTTL"):
            seen_expiry = True
            i = _parse_expiry(args, i, op.expiry, "set", allow_keepttl=True)
        else:
            raise RespError(SYNTAX)
    command = pb.Command(db=db)
    command.set.CopyFrom(op)
    return command


def build_setex(unit_ms):
    def build(args, db):
        command = pb.Command(db=db)
        op = command.set
        op.key, op.value = args[1], args[3]
        op.expiry.ttl_ms = _expiry_ms(args[2], unit_ms, args[0].decode(errors="replace").lower(), relative=True)
        return command

    return build


def build_getex(args, db):
    command = cmd(db, "get_ex", key=args[1])
    i = 2
    if i < len(args):
        nxt = _parse_expiry(args, i, command.get_ex.expiry, "getex", allow_persist=True)
        if nxt < 0 or nxt != len(args):
            raise RespError(SYNTAX)
    return command


def build_incr(sign, with_arg):
    def build(args, db):
        delta = to_int(args[2]) if with_arg else 1
        if sign < 0:
            if delta == _I64_MIN:
                raise RespError("ERR decrement would overflow")
            delta = -delta
        return cmd(db, "incr_by", key=args[1], delta=delta)

    return build


def build_pairs(name):
    def build(args, db):
        if len(args) % 2 == 0:
            raise RespError(f"ERR wrong number of arguments for '{args[0].decode(errors='replace').lower()}' command")
        command = pb.Command(db=db)
        op = getattr(command, name)
        for i in range(1, len(args), 2):
            op.pairs.add(key=args[i], value=args[i + 1])
        return command

    return build


_EXPIRE_CONDITIONS = {b"NX": pb.EXPIRE_NX, b"XX": pb.EXPIRE_XX, b"GT": pb.EXPIRE_GT, b"LT": pb.EXPIRE_LT}


def build_expire(unit_ms, absolute):
    def build(args, db):
        name = args[0].decode(errors="replace").lower()
        n = to_int(args[2])
        if (unit_ms == 1000 and not -(_I64_MAX // 1000) <= n <= _I64_MAX // 1000):
            raise RespError(f"ERR invalid expire time in '{name}' command")
        ms = n * unit_ms
        if not absolute and ms > _relative_ms_limit():
            raise RespError(f"ERR invalid expire time in '{name}' command")
        command = cmd(db, "expire", key=args[1])
        if absolute:
            command.expire.expiry.expire_at_ms = ms
        else:
            command.expire.expiry.ttl_ms = ms
        flags = set()
        for arg in args[3:]:
            flag = arg.upper()
            if flag not in _EXPIRE_CONDITIONS:
                raise RespError(f"ERR Unsupported option {arg.decode(errors='replace')}")
            flags.add(flag)
        if b"NX" in flags and flags & {b"XX", b"GT", b"LT"}:
            raise RespError("ERR NX and XX, GT or LT options at the same time are not compatible")
        if b"GT" in flags and b"LT" in flags:
            raise RespError("ERR GT and LT options at the same time are not compatible")
        if b"XX" in flags and b"LT" in flags:
            command.expire.condition = pb.EXPIRE_LT_XX  # LT alone also sets a key without expiry
            return command
        if b"XX" in flags and b"GT" in flags:
            flags.discard(b"XX")  # GT never sets a key without expiry: XX adds nothing
        if flags:
            command.expire.condition = _EXPIRE_CONDITIONS[flags.pop()]
        return command

    return build


def parse_scan_options(args, i, allow_type=False, allow_novalues=False) -> dict:
    opts = {"match": b"", "count": 0, "type": "", "novalues": False}
    while i < len(args):
        opt = args[i].upper()
        if opt == b"MATCH" and i + 1 < len(args):
            opts["match"] = args[i + 1]
            i += 2
        elif opt == b"COUNT" and i + 1 < len(args):
            n = to_int(args[i + 1])
            if n < 1:
                raise RespError(SYNTAX)
            opts["count"] = min(n, 1 << 31)
            i += 2
        elif opt == b"TYPE" and allow_type and i + 1 < len(args):
            opts["type"] = args[i + 1].decode(errors="replace").lower()
            i += 2
        elif opt == b"NOVALUES" and allow_novalues:
            opts["novalues"] = True
            i += 1
        else:
            raise RespError(SYNTAX)
    return opts


def parse_cursor(arg: bytes) -> int:
    if not arg.isdigit() or len(arg) > 20 or int(arg) >= 1 << 64:
        raise RespError("ERR invalid cursor")
    return int(arg)


def build_scan(args, db):
    opts = parse_scan_options(args, 2, allow_type=True)
    return cmd(db, "scan", cursor=parse_cursor(args[1]), match=opts["match"], count=opts["count"], type=opts["type"])


def build_rename(if_absent):
    def build(args, db):
        return cmd(db, "rename", key=args[1], new_key=args[2], if_absent=if_absent)

    return build


def build_getrange(args, db):
    return cmd(db, "get_range", key=args[1], start=to_int(args[2]), end=to_int(args[3]))


def build_setrange(args, db):
    offset = to_int(args[2])
    if offset < 0:
        raise RespError("ERR offset is out of range")
    return cmd(db, "set_range", key=args[1], offset=offset, value=args[3])


def build_flush(name):
    def build(args, db):
        for arg in args[1:]:
            if arg.upper() not in (b"ASYNC", b"SYNC"):
                raise RespError(SYNTAX)
        return cmd(db, name)

    return build


def _db_index(n: int) -> int:
    """A database number for a Command field (uint32 / sint32): a larger one made
    protobuf raise ValueError and dropped the connection (found by tests/fuzz)."""
    if not 0 <= n < 1 << 31:
        raise RespError("ERR DB index is out of range")
    return n


def build_copy(args, db):
    command = cmd(db, "copy", key=args[1], new_key=args[2], destination_db=-1)
    i = 3
    while i < len(args):
        opt = args[i].upper()
        if opt == b"REPLACE":
            command.copy.replace = True
            i += 1
        elif opt == b"DB" and i + 1 < len(args):
            command.copy.destination_db = _db_index(to_int(args[i + 1]))
            i += 2
        else:
            raise RespError(SYNTAX)
    return command


def build_move(args, db):
    return cmd(db, "move", key=args[1], destination_db=_db_index(to_int(args[2])))


def build_swapdb(args, db):
    try:
        a = to_int(args[1])
    except RespError:
        raise RespError("ERR invalid first DB index") from None
    try:
        b = to_int(args[2])
    except RespError:
        raise RespError("ERR invalid second DB index") from None
    return cmd(_db_index(a), "swap_db", other_db=_db_index(b))


def _key(name):
    return lambda args, db: cmd(db, name, key=args[1])


def _keys(name):
    return lambda args, db: cmd(db, name, keys=list(args[1:]))


W, R = "write", "readonly"
register("get", 2, f"{R} fast", lambda a, db: cmd(db, "get", key=a[1]), group="string")
register("set", -3, f"{W} denyoom", build_set, group="string")
register("setnx", 3, f"{W} denyoom fast", lambda a, db: cmd(db, "set", key=a[1], value=a[2], condition=pb.IF_ABSENT), ok_to_int, group="string")
register("setex", 4, f"{W} denyoom", build_setex(1000), group="string")
register("psetex", 4, f"{W} denyoom", build_setex(1), group="string")
register("getdel", 2, f"{W} fast", _key("get_del"), group="string")
register("getex", -2, f"{W} fast", build_getex, group="string")
register("getset", 3, f"{W} denyoom fast", lambda a, db: cmd(db, "set", key=a[1], value=a[2], get=True), group="string")
register("del", -2, W, _keys("del"), keys=(1, -1, 1))
register("unlink", -2, f"{W} fast", _keys("del"), keys=(1, -1, 1))
register("exists", -2, f"{R} fast", _keys("exists"), keys=(1, -1, 1))
register("touch", -2, f"{R} fast", _keys("exists"), keys=(1, -1, 1))  # no LRU clock here: EXISTS
register("incr", 2, f"{W} denyoom fast", build_incr(1, False), group="string")
register("decr", 2, f"{W} denyoom fast", build_incr(-1, False), group="string")
register("incrby", 3, f"{W} denyoom fast", build_incr(1, True), group="string")
register("decrby", 3, f"{W} denyoom fast", build_incr(-1, True), group="string")
register("incrbyfloat", 3, f"{W} denyoom fast",
         lambda a, db: cmd(db, "incr_by_float", key=a[1], delta=to_float(a[2], erange_ok=True)), as_bulk_float,
         group="string")
register("append", 3, f"{W} denyoom fast", lambda a, db: cmd(db, "append", key=a[1], value=a[2]), group="string")
register("strlen", 2, f"{R} fast", _key("str_len"), group="string")
register("getrange", 4, R, build_getrange, group="string")
register("substr", 4, R, build_getrange, group="string")
register("setrange", 4, f"{W} denyoom", build_setrange, group="string")
register("mset", -3, f"{W} denyoom", build_pairs("mset"), keys=(1, -1, 2), group="string")
register("msetnx", -3, f"{W} denyoom", build_pairs("mset_nx"), keys=(1, -1, 2), group="string")
register("mget", -2, f"{R} fast", _keys("mget"), keys=(1, -1, 1), group="string")
register("expire", -3, f"{W} fast", build_expire(1000, False))
register("pexpire", -3, f"{W} fast", build_expire(1, False))
register("expireat", -3, f"{W} fast", build_expire(1000, True))
register("pexpireat", -3, f"{W} fast", build_expire(1, True))
register("persist", 2, f"{W} fast", _key("persist"))
register("ttl", 2, f"{R} fast", lambda a, db: cmd(db, "ttl", key=a[1]))
register("pttl", 2, f"{R} fast", lambda a, db: cmd(db, "ttl", key=a[1], millis=True))
register("expiretime", 2, f"{R} fast", lambda a, db: cmd(db, "ttl", key=a[1], absolute=True))
register("pexpiretime", 2, f"{R} fast", lambda a, db: cmd(db, "ttl", key=a[1], millis=True, absolute=True))
register("type", 2, f"{R} fast", _key("type"), as_status)
register("rename", 3, W, build_rename(False), keys=(1, 2, 1))
register("renamenx", 3, f"{W} fast", build_rename(True), ok_to_int, keys=(1, 2, 1))
register("scan", -2, R, build_scan, as_scan, keys=(0, 0, 0))
register("dbsize", 1, f"{R} fast", lambda a, db: cmd(db, "db_size"), keys=(0, 0, 0), group="server")
register("flushall", -1, W, build_flush("flush_all"), keys=(0, 0, 0), group="server")
register("flushdb", -1, W, build_flush("flush_db"), keys=(0, 0, 0), group="server")
register("randomkey", 1, R, None, keys=(0, 0, 0))
register("keys", 2, R, None, keys=(0, 0, 0))
register("copy", -3, f"{W} denyoom", build_copy, keys=(1, 2, 1))
register("move", 3, f"{W} fast", build_move)
register("swapdb", 3, f"{W} fast", build_swapdb, keys=(0, 0, 0), group="server")
register("object", -2, R, None, keys=(2, 2, 1))

# Connection, server and transaction commands: run by resp.py itself.
for _name, _arity, _flags in [
    ("ping", -1, "fast stale"), ("echo", 2, "fast stale"), ("hello", -1, "noauth fast stale"),
    ("auth", -2, "noauth fast stale"), ("select", 2, "fast stale"), ("quit", -1, "noauth fast stale"),
    ("reset", 1, "noauth fast stale"), ("client", -2, "stale"), ("command", -1, "stale"),
    ("info", -1, "stale"), ("config", -2, "admin stale"), ("time", 1, "fast stale"),
    ("wait", 3, "stale"), ("multi", 1, "fast stale"), ("exec", 1, "stale"), ("discard", 1, "fast stale"),
    ("watch", -2, "fast stale"), ("unwatch", 1, "fast stale"), ("lastsave", 1, "fast stale"),
    ("readonly", 1, "fast stale"), ("readwrite", 1, "fast stale"), ("memory", -2, "readonly"),
    ("function", -2, "noscript"),
]:
    register(_name, _arity, _flags, None, keys=(1, -1, 1) if _name == "watch" else (0, 0, 0),
             group="transactions" if _name in ("multi", "exec", "discard", "watch", "unwatch") else "connection")

# Blocking pops: run by resp_blocking.py (through resp_admin.HANDLERS).
for _name, _arity, _keys, _group in [
    ("blpop", -3, (1, -2, 1), "list"), ("brpop", -3, (1, -2, 1), "list"), ("blmove", 6, (1, 2, 1), "list"),
    ("brpoplpush", 4, (1, 2, 1), "list"), ("bzpopmin", -3, (1, -2, 1), "sorted-set"),
    ("bzpopmax", -3, (1, -2, 1), "sorted-set"), ("blmpop", -5, (0, 0, 0), "list"),
    ("bzmpop", -5, (0, 0, 0), "sorted-set"),
]:
    register(_name, _arity, "write blocking", None, keys=_keys, group=_group)

# The data types register themselves into TABLE.
from raftcache.node.frontends import resp_types  # noqa: E402,F401
from raftcache.node.frontends import resp_sets_zsets  # noqa: E402,F401
from raftcache.node.frontends import resp_bits  # noqa: E402,F401
