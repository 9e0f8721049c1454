"""The string and key commands of the RESP table (SET, GET, INCR, EXPIRE, SCAN,
RENAME, COPY, …), and the table entries of the commands resp.py and
resp_blocking.py run themselves (connection, server, transactions, blocking
pops). Each builder turns RESP arguments into a raftcache `Command` with
Redis's error texts (resp_args.py has the shared parsing); nothing here runs
a command.
"""

from __future__ import annotations

from raftcache.node.frontends.resp_protocol import RespError
from raftcache.proto import commands_pb2 as pb
from raftcache.node.frontends.resp_args import (
    I64_MAX,
    I64_MIN,
    relative_ms_limit,
    SYNTAX,
    as_bulk_float,
    as_scan,
    as_status,
    cmd,
    ok_to_int,
    parse_cursor,
    parse_scan_options,
    register,
    to_float,
    to_int,
)


def _expiry_ms(arg: bytes, unit_ms: int, command: str, relative: bool = False) -> int:
    n = to_int(arg)
    if n <= 0 or n > I64_MAX // unit_ms or (relative and n * unit_ms > relative_ms_limit()):
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
    command = pb.Command(db=db)
    op = command.set   # written in place: no Set of its own copied in (half of a plain SET's build)
    op.key, op.value = args[1], args[2]
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
            if delta == I64_MIN:
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
        n = to_int(args[2])
        ms = n * unit_ms
        if ((unit_ms == 1000 and not -(I64_MAX // 1000) <= n <= I64_MAX // 1000)
                or (not absolute and ms > relative_ms_limit())):
            raise RespError(f"ERR invalid expire time in '{args[0].decode(errors='replace').lower()}' command")
        command = cmd(db, "expire", key=args[1])
        if absolute:
            command.expire.expiry.expire_at_ms = ms
        else:
            command.expire.expiry.ttl_ms = ms
        if len(args) == 3:
            return command
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

#: Commands that take more arguments here than in Redis (raftcache's extensions): name -> arity.
EXTENDED_ARITY = {"monitor": -1}   # MONITOR LOG

# Connection, server and transaction commands: run by resp.py itself.
for _name, _arity, _flags in [
    ("ping", -1, "fast stale"), ("echo", 2, "fast stale"), ("hello", -1, "noauth fast stale"),
    ("auth", -2, "noauth fast stale"), ("select", 2, "fast stale"), ("quit", -1, "noauth fast stale"),
    ("reset", 1, "noauth fast stale"), ("client", -2, "stale"), ("command", -1, "stale"),
    ("info", -1, "stale"), ("config", -2, "admin stale"), ("time", 1, "fast stale"),
    ("wait", 3, "stale"), ("multi", 1, "fast stale"), ("exec", 1, "stale"), ("discard", 1, "fast stale"),
    ("watch", -2, "fast stale"), ("unwatch", 1, "fast stale"), ("lastsave", 1, "fast stale"),
    ("readonly", 1, "fast stale"), ("readwrite", 1, "fast stale"), ("memory", -2, "readonly"),
    ("role", 1, "noscript loading stale fast"), ("lolwut", -1, "readonly fast"),
    ("acl", -2, "noscript stale"), ("cluster", -2, "stale"), ("asking", 1, "fast"),
    # resp_diag.py's; MONITOR takes raftcache's optional LOG (Redis's arity is 1)
    ("slowlog", -2, "admin random loading stale"), ("latency", -2, "admin noscript loading stale"),
    ("monitor", EXTENDED_ARITY["monitor"], "admin noscript loading stale"), ("debug", -2, "admin noscript loading stale"),
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
