"""The RESP command table and the argument parsing every RESP command module shares.

`TABLE` maps a command name to its `Spec` (arity, flags, key positions, a
builder from RESP arguments to a raftcache `Command`, and a shaper of its
result); modules register into it with `register`. resp_table.py imports
every module that registers, and is where the complete table is read from.
Argument validation uses Redis's exact error texts; nothing here runs a
command.

A builder is `build(args: list[bytes], db: int) -> Command`, where args[0]
is the command name; it raises RespError for bad arguments. A shaper is
`shape(result, proto: int) -> reply value` (see resp_protocol.encode).
"""

from __future__ import annotations

import dataclasses
import math
import re
import threading
import time
from collections.abc import Callable

from raftcache.node.commands import OK, Status
from raftcache.node.frontends.resp_protocol import NULL_ARRAY, RespError
from raftcache.proto import commands_pb2 as pb

NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
SYNTAX = "ERR syntax error"


def subcommand_syntax_error(container: str, sub: bytes) -> RespError:
    """Redis's addReplySubcommandSyntaxError: a container subcommand that checks its own arguments."""
    return RespError(f"ERR unknown subcommand or wrong number of arguments for "
                     f"'{sub.decode(errors='replace')[:128]}'. Try {container.upper()} HELP.")


I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1
#: A relative TTL becomes absolute on the leader (its clock + ttl, an int64). Redis refuses a
#: TTL whose deadline would overflow; we refuse it here, with a day of margin for the leader's
#: clock being ahead of this node's (no real TTL comes near: the limit is ~292 million years).
_CLOCK_MARGIN_MS = 86_400_000


def clock_ms() -> int:
    """This thread's clock for building commands: the wall clock, or set_clock's."""
    now_ms = getattr(_FIXED_CLOCK, "now_ms", None)
    return int(time.time() * 1000) if now_ms is None else now_ms


def relative_ms_limit() -> int:
    return I64_MAX - clock_ms() - _CLOCK_MARGIN_MS


_FIXED_CLOCK = threading.local()


def set_clock(now_ms: int | None) -> None:
    """Build commands on this thread with `now_ms` as the clock (a script's redis.call at apply:
    the entry's clock, so every replica refuses the same TTLs); None: the wall clock again."""
    _FIXED_CLOCK.now_ms = now_ms


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
            if I64_MIN <= n <= I64_MAX:
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
    """The Command whose op `name` holds `fields` (set even when it holds none: the op is chosen).
    A field given None is a builder's bug: refused, not left unset."""
    if None in fields.values():
        raise TypeError(f"{name}: a field of the command was given None")
    return pb.Command(db=db, **{name: fields})   # (upb builds it from the dict: a third of setting each field)


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
