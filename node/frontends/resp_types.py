"""RESP parsers of the hash and list commands, and what the data-type parsers share.

Registers into resp_args.TABLE (sets and sorted sets: resp_sets_zsets.py);
the handlers that run them live in node/commands/hashes.py and lists.py. Read-only
random commands (HRANDFIELD, SRANDMEMBER, ZRANDMEMBER) get a seed here,
chosen locally, so the read itself is a pure function.
"""

from __future__ import annotations

import random

from raftcache.node.frontends.resp_args import (
    NOT_INTEGER,
    SYNTAX,
    as_ok,
    as_scan,
    clock_ms,
    cmd,
    nil_array_if_none,
    parse_cursor,
    parse_scan_options,
    pop_with_count,
    register,
    to_float,
    to_int,
)
from raftcache.node.commands.hashes import MAX_FIELD_DEADLINE_MS
from raftcache.node.frontends.resp_protocol import RespError, RespMap, RespPairs, RespSet
from raftcache.proto import commands_pb2 as pb

_rng = random.SystemRandom()
W, R = "write", "readonly"


def new_seed() -> int:
    return _rng.getrandbits(63)


def _wrong_args(args):
    return RespError(f"ERR wrong number of arguments for '{args[0].decode(errors='replace').lower()}' command")


def as_map(result, proto, command=None):
    if isinstance(result, list):
        return RespMap(zip(result[0::2], result[1::2]))
    return result


def as_set(result, proto, command=None):
    return RespSet(result) if isinstance(result, list) else result


def element_scan(args, db):
    opts = parse_scan_options(args, 3, allow_novalues=args[0].lower() == b"hscan")
    return cmd(db, "element_scan", key=args[1], cursor=parse_cursor(args[2]), match=opts["match"],
               count=opts["count"], no_values=opts["novalues"])


# ---------------------------------------------------------------- hashes


def _hset(if_absent, arity_name=None):
    def build(args, db):
        if len(args) % 2 == 1 or len(args) < 4:
            raise _wrong_args(args)
        command = cmd(db, "hset", key=args[1], if_absent=if_absent)
        for i in range(2, len(args), 2):
            command.hset.pairs.add(key=args[i], value=args[i + 1])
        return command

    return build


_LONG_MAX = (1 << 63) - 1


def random_count(arg: bytes) -> int:
    """HRANDFIELD/SRANDMEMBER/ZRANDMEMBER count: Redis takes -LONG_MAX..LONG_MAX."""
    n = to_int(arg)
    if n < -_LONG_MAX:
        raise RespError(f"ERR value is out of range, value must between {-_LONG_MAX} and {_LONG_MAX}")
    return n


def random_count_with(args, flag: bytes) -> tuple[int, bool]:
    """(count, flag given) for `KEY count [WITHVALUES|WITHSCORES]`, checked in Redis's order."""
    count = random_count(args[2])
    if len(args) > 4 or (len(args) == 4 and args[3].upper() != flag):
        raise RespError(SYNTAX)
    if len(args) == 4 and not -(_LONG_MAX // 2) <= count <= _LONG_MAX // 2:
        raise RespError("ERR value is out of range")  # the reply would have 2*|count| items
    return count, len(args) == 4


def _hrandfield(args, db):
    command = cmd(db, "hrandfield", key=args[1], seed=new_seed())
    if len(args) >= 3:
        command.hrandfield.count, command.hrandfield.with_values = random_count_with(args, b"WITHVALUES")
    return command


def _hrandfield_shape(result, proto, command=None):
    return RespPairs(result) if isinstance(result, list) and command.hrandfield.with_values else result


register("hset", -4, f"{W} denyoom fast", _hset(False), group="hash")
register("hmset", -4, f"{W} denyoom fast", _hset(False), as_ok, group="hash")
register("hsetnx", 4, f"{W} denyoom fast", _hset(True), group="hash")
register("hget", 3, f"{R} fast", lambda a, db: cmd(db, "hget", key=a[1], field=a[2]), group="hash")
register("hmget", -3, f"{R} fast", lambda a, db: cmd(db, "hmget", key=a[1], fields=list(a[2:])), group="hash")
register("hdel", -3, f"{W} fast", lambda a, db: cmd(db, "hdel", key=a[1], fields=list(a[2:])), group="hash")
register("hlen", 2, f"{R} fast", lambda a, db: cmd(db, "hlen", key=a[1]), group="hash")
register("hexists", 3, f"{R} fast", lambda a, db: cmd(db, "hexists", key=a[1], field=a[2]), group="hash")
register("hgetall", 2, R, lambda a, db: cmd(db, "hgetall", key=a[1]), as_map, group="hash")
register("hkeys", 2, R, lambda a, db: cmd(db, "hgetall", key=a[1], keys=True), group="hash")
register("hvals", 2, R, lambda a, db: cmd(db, "hgetall", key=a[1], values=True), group="hash")
register("hincrby", 4, f"{W} denyoom fast",
         lambda a, db: cmd(db, "hincrby", key=a[1], field=a[2], delta=to_int(a[3])), group="hash")
register("hincrbyfloat", 4, f"{W} denyoom fast",
         lambda a, db: cmd(db, "hincrbyfloat", key=a[1], field=a[2], delta=to_float(a[3], erange_ok=True)),
         group="hash")
register("hstrlen", 3, f"{R} fast", lambda a, db: cmd(db, "hstrlen", key=a[1], field=a[2]), group="hash")
register("hrandfield", -2, R, _hrandfield, _hrandfield_shape, group="hash")
register("hscan", -3, R, element_scan, as_scan, group="hash")

# ---------------------------------------------------------------- hash field expiration (Redis 7.4)
# Arguments are checked in Redis 7.4's order with its texts (t_hash.c), except that a key
# of another type is reported at apply, after them (Redis checks the type first).

_FIELD_CONDITIONS = {b"NX": pb.EXPIRE_NX, b"XX": pb.EXPIRE_XX, b"GT": pb.EXPIRE_GT, b"LT": pb.EXPIRE_LT}


def _fields(args, at: int, count_error: str) -> list[bytes]:
    """The fields of `FIELDS numfields field...` starting at args[at]."""
    if args[at].upper() != b"FIELDS":
        raise RespError("ERR Mandatory argument FIELDS is missing or not at the right position")
    try:
        n = to_int(args[at + 1])
    except RespError:
        n = 0
    if n <= 0:
        raise RespError(count_error)
    if n != len(args) - at - 2:
        raise RespError("ERR The `numfields` parameter must match the number of arguments")
    return list(args[at + 2:])


def _hexpire(unit_ms: int, absolute: bool):
    def build(args, db):
        name = args[0].decode(errors="replace").lower()
        try:
            n = to_int(args[2])
        except RespError:
            raise RespError(NOT_INTEGER) from None
        if n < 0:
            raise RespError("ERR invalid expire time, must be >= 0")
        invalid = RespError(f"ERR invalid expire time in '{name}' command")
        if n > MAX_FIELD_DEADLINE_MS // unit_ms:
            raise invalid
        ms = n * unit_ms
        if not absolute and ms + clock_ms() > MAX_FIELD_DEADLINE_MS:
            raise invalid
        at, condition = 3, pb.EXPIRE_ALWAYS
        if args[3].upper() in _FIELD_CONDITIONS:
            at, condition = 4, _FIELD_CONDITIONS[args[3].upper()]
        fields = _fields(args, at, "ERR Parameter `numFields` should be greater than 0")
        command = cmd(db, "hexpire", key=args[1], fields=fields, condition=condition)
        if absolute:
            command.hexpire.expiry.expire_at_ms = ms
        else:
            command.hexpire.expiry.ttl_ms = ms
        return command

    return build


def _fields_command(op: str, **options):
    def build(args, db):
        return cmd(db, op, key=args[1], fields=_fields(args, 2, "ERR Number of fields must be a positive integer"),
                   **options)

    return build


#: The commands of log semantics version 9 (hash field expiration): a script applied under
#: an older version does not know them, as the binaries of that version do not.
SINCE_HFE = frozenset({"hexpire", "hpexpire", "hexpireat", "hpexpireat", "hpersist", "httl", "hpttl",
                       "hexpiretime", "hpexpiretime"})
register("hexpire", -6, f"{W} denyoom fast", _hexpire(1000, False), group="hash")
register("hpexpire", -6, f"{W} denyoom fast", _hexpire(1, False), group="hash")
register("hexpireat", -6, f"{W} denyoom fast", _hexpire(1000, True), group="hash")
register("hpexpireat", -6, f"{W} denyoom fast", _hexpire(1, True), group="hash")
register("hpersist", -5, f"{W} fast", _fields_command("hpersist"), group="hash")
register("httl", -5, f"{R} fast", _fields_command("httl"), group="hash")
register("hpttl", -5, f"{R} fast", _fields_command("httl", millis=True), group="hash")
register("hexpiretime", -5, f"{R} fast", _fields_command("httl", absolute=True), group="hash")
register("hpexpiretime", -5, f"{R} fast", _fields_command("httl", millis=True, absolute=True), group="hash")

# ---------------------------------------------------------------- lists


def _push(left, if_exists):
    return lambda a, db: cmd(db, "push", key=a[1], values=list(a[2:]), left=left, if_exists=if_exists)


def _pop(left):
    return pop_with_count("pop", _wrong_args, left=left)


def _pop_shape(result, proto, command=None):
    # A missing key: nil bulk without a count, nil array with one (Redis's LPOP/RPOP).
    return nil_array_if_none(result, proto) if command.pop.HasField("count") else result


def parse_mpop(args, i: int, first: bytes, second: bytes) -> tuple[list[bytes], bool, int]:
    """LMPOP/ZMPOP (and their blocking forms) from `numkeys` at args[i]:
    (keys, side is `first` (LEFT/MIN), count), with Redis's checks in its order."""
    try:
        n = to_int(args[i])
    except RespError:
        n = 0
    if n < 1:
        raise RespError("ERR numkeys should be greater than 0")
    where = i + 1 + n
    if where >= len(args) or args[where].upper() not in (first, second):
        raise RespError(SYNTAX)
    count, j = None, where + 1
    while j < len(args):
        if count is not None or args[j].upper() != b"COUNT" or j + 1 >= len(args):
            raise RespError(SYNTAX)
        try:
            count = to_int(args[j + 1])
        except RespError:
            count = 0
        if count < 1:
            raise RespError("ERR count should be greater than 0")
        j += 2
    return list(args[i + 1 : where]), args[where].upper() == first, count or 1


def _lmpop(args, db):
    keys, left, count = parse_mpop(args, 1, b"LEFT", b"RIGHT")
    return cmd(db, "lmpop", keys=keys, left=left, count=count)


def _linsert(args, db):
    where = args[2].upper()
    if where not in (b"BEFORE", b"AFTER"):
        raise RespError(SYNTAX)
    return cmd(db, "linsert", key=args[1], before=where == b"BEFORE", pivot=args[3], value=args[4])


def _lpos(args, db):
    command = cmd(db, "lpos", key=args[1], element=args[2], rank=1)
    op = command.lpos
    i = 3
    while i < len(args):
        opt = args[i].upper()
        if i + 1 >= len(args):
            raise RespError(SYNTAX)
        n = to_int(args[i + 1])
        if opt == b"RANK":
            if n == 0:
                raise RespError("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second "
                                "... or use negative to start from the end of the list")
            if n == -(1 << 63):
                raise RespError("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
            op.rank = n
        elif opt == b"COUNT":
            if n < 0:
                raise RespError("ERR COUNT can't be negative")
            op.count = n
        elif opt == b"MAXLEN":
            if n < 0:
                raise RespError("ERR MAXLEN can't be negative")
            op.maxlen = n
        else:
            raise RespError(SYNTAX)
        i += 2
    return command


def _side(arg):
    side = arg.upper()
    if side not in (b"LEFT", b"RIGHT"):
        raise RespError(SYNTAX)
    return side == b"LEFT"


register("lpush", -3, f"{W} denyoom fast", _push(True, False), group="list")
register("rpush", -3, f"{W} denyoom fast", _push(False, False), group="list")
register("lpushx", -3, f"{W} denyoom fast", _push(True, True), group="list")
register("rpushx", -3, f"{W} denyoom fast", _push(False, True), group="list")
register("lpop", -2, f"{W} fast", _pop(True), _pop_shape, group="list")
register("rpop", -2, f"{W} fast", _pop(False), _pop_shape, group="list")
register("lmpop", -4, f"{W}", _lmpop, nil_array_if_none, keys=(0, 0, 0), group="list")
register("lrange", 4, R, lambda a, db: cmd(db, "lrange", key=a[1], start=to_int(a[2]), stop=to_int(a[3])), group="list")
register("llen", 2, f"{R} fast", lambda a, db: cmd(db, "llen", key=a[1]), group="list")
register("lindex", 3, R, lambda a, db: cmd(db, "lindex", key=a[1], index=to_int(a[2])), group="list")
register("lset", 4, f"{W} denyoom", lambda a, db: cmd(db, "lset", key=a[1], index=to_int(a[2]), value=a[3]), group="list")
register("lrem", 4, W, lambda a, db: cmd(db, "lrem", key=a[1], count=to_int(a[2]), value=a[3]), group="list")
register("ltrim", 4, W, lambda a, db: cmd(db, "ltrim", key=a[1], start=to_int(a[2]), stop=to_int(a[3])), group="list")
register("linsert", 5, f"{W} denyoom", _linsert, group="list")
register("lpos", -3, R, _lpos, group="list")
register("lmove", 5, f"{W} denyoom",
         lambda a, db: cmd(db, "lmove", key=a[1], new_key=a[2], from_left=_side(a[3]), to_left=_side(a[4])),
         keys=(1, 2, 1), group="list")
register("rpoplpush", 3, f"{W} denyoom",
         lambda a, db: cmd(db, "lmove", key=a[1], new_key=a[2], from_left=False, to_left=True),
         keys=(1, 2, 1), group="list")
